//! What the commands feed the pipeline: image files (given one by one or as directories)
//! and raw tensors.
//!
//! A directory contributes its JPEG, PNG and BMP files (by extension, one level deep,
//! sorted by name); other files in it are not images and are left out. A file that is
//! listed but cannot be decoded is not an error of the run: the pipeline skips it and the
//! report counts it.

use std::path::{Path, PathBuf};

use fibha_model::Tensor;

use crate::pipeline::{FillError, Source};
use crate::prefetch::ParallelSource;
use crate::preprocess;

/// Extensions taken from a directory.
pub const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "bmp"];

/// Why the image arguments could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot list the directory: {source}", path.display())]
pub struct ListError {
    /// The directory.
    pub path: PathBuf,
    /// The operating system's error.
    pub source: std::io::Error,
}

/// Whether `path` has an image extension.
pub fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The image files of `args`: files as given, directories expanded to their image files.
pub fn expand(args: &[PathBuf]) -> Result<Vec<PathBuf>, ListError> {
    let mut images = Vec::new();
    for arg in args {
        if arg.is_dir() {
            images.extend(images_in(arg)?);
        } else {
            images.push(arg.clone());
        }
    }
    Ok(images)
}

/// The image files directly inside `dir`, sorted.
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>, ListError> {
    let fail = |source| ListError {
        path: dir.to_path_buf(),
        source,
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(fail)? {
        let path = entry.map_err(fail)?.path();
        if !path.is_dir() && is_image_name(&path) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// Image files, decoded and resized into the model's input; `count` items cycle through
/// the files (a benchmark of N inferences over a few photos).
pub struct ImageSource {
    paths: Vec<PathBuf>,
    input: Tensor,
    count: usize,
}

impl ImageSource {
    /// One item per file.
    pub fn new(paths: Vec<PathBuf>, input: &Tensor) -> ImageSource {
        let count = paths.len();
        Self::cycling(paths, input, count)
    }

    /// `count` items cycling through `paths`.
    pub fn cycling(paths: Vec<PathBuf>, input: &Tensor, count: usize) -> ImageSource {
        ImageSource {
            count: if paths.is_empty() { 0 } else { count },
            paths,
            input: input.clone(),
        }
    }

    /// The file of item `item`.
    pub fn path(&self, item: usize) -> &Path {
        &self.paths[item % self.paths.len()]
    }
}

impl Source for ImageSource {
    fn len(&self) -> usize {
        self.count
    }

    fn fill(&mut self, item: usize, input: &mut [u8]) -> Result<(), FillError> {
        self.fill_shared(item, input)
    }

    fn parallel(&self) -> Option<&dyn ParallelSource> {
        Some(self)
    }
}

impl ParallelSource for ImageSource {
    fn fill_shared(&self, item: usize, input: &mut [u8]) -> Result<(), FillError> {
        let path = &self.paths[item % self.paths.len()];
        preprocess::load_image_into(path, &self.input, input)?;
        Ok(())
    }
}

/// Raw tensors already in the model's input format; `count` items cycle through them.
pub struct TensorSource {
    tensors: Vec<Vec<u8>>,
    count: usize,
}

impl TensorSource {
    /// `count` items cycling through `tensors` (each the model input's byte length).
    pub fn new(tensors: Vec<Vec<u8>>, count: usize) -> TensorSource {
        TensorSource {
            count: if tensors.is_empty() { 0 } else { count },
            tensors,
        }
    }
}

impl Source for TensorSource {
    fn len(&self) -> usize {
        self.count
    }

    fn fill(&mut self, item: usize, input: &mut [u8]) -> Result<(), FillError> {
        let tensor = &self.tensors[item % self.tensors.len()];
        if tensor.len() != input.len() {
            return Err(format!(
                "a tensor of {} bytes for an input of {} bytes",
                tensor.len(),
                input.len()
            )
            .into());
        }
        input.copy_from_slice(tensor);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_gives_its_images_sorted_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.JPG", "a.png", "notes.txt", "c.bmp", ".hidden"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.png")).unwrap();
        let names: Vec<String> = expand(&[dir.path().to_path_buf()])
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.png", "b.JPG", "c.bmp"]);
    }

    #[test]
    fn tensors_cycle_and_a_wrong_size_is_a_skip() {
        let mut s = TensorSource::new(vec![vec![1, 2], vec![3, 4]], 3);
        let mut buf = [0u8; 2];
        s.fill(2, &mut buf).unwrap();
        assert_eq!((s.len(), buf), (3, [1, 2]));
        let mut wrong = [0u8; 3];
        assert!(s.fill(0, &mut wrong).is_err());
    }
}
