//! Top-1 / top-5 accuracy over a folder of labelled images.
//!
//! Labels, in this order:
//! 1. a `labels.csv` in the folder: one `file,class` line per image (`file` relative to the
//!    folder, `class` the model's output index, e.g. 286 for ImageNet's "Egyptian cat" in a
//!    1001-class model); a first line `file,class` and lines starting with `#` are ignored;
//! 2. otherwise the file name: `<class>_<anything>.<ext>` (`286_cat.bmp`).
//!
//! Images without a label are skipped and listed. The same tally serves both backends: it
//! only sees the model's output bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fibha_model::Tensor;
use serde::Serialize;

use crate::classify::top_k;
use crate::inputs;

/// The labels file's name.
pub const LABELS_CSV: &str = "labels.csv";

/// Why a labelled folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AccuracyError {
    /// The folder or its labels file could not be read.
    #[error("{}: {detail}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A line of `labels.csv` is not `file,class`.
    #[error("{}:{line}: {detail}", path.display())]
    Csv {
        /// The labels file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        detail: String,
    },
    /// A label outside the model's classes.
    #[error("{}: class {class} is not an output of the model ({classes} classes)", path.display())]
    Class {
        /// The image (or labels file).
        path: PathBuf,
        /// The label.
        class: usize,
        /// The model's class count.
        classes: usize,
    },
    /// Nothing to measure.
    #[error("{}: no labelled images (name them <class>_*.jpg, or list them in {LABELS_CSV})", dir.display())]
    Empty {
        /// The folder.
        dir: PathBuf,
    },
}

/// A folder's images with their labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledSet {
    /// Labelled images, sorted.
    pub images: Vec<PathBuf>,
    /// Their classes, in the same order.
    pub labels: Vec<usize>,
    /// Images without a label, with the reason.
    pub unlabelled: Vec<(PathBuf, String)>,
    /// Where the labels came from.
    pub source: &'static str,
}

impl LabelledSet {
    /// Reads `dir` for a model with `classes` outputs.
    pub fn open(dir: &Path, classes: usize) -> Result<LabelledSet, AccuracyError> {
        let images = inputs::images_in(dir).map_err(|e| AccuracyError::Read {
            path: dir.to_path_buf(),
            detail: e.source.to_string(),
        })?;
        let csv = dir.join(LABELS_CSV);
        let (table, source) = if csv.is_file() {
            (Some(read_csv(&csv)?), "labels.csv")
        } else {
            (None, "file name prefix")
        };
        let mut set = LabelledSet {
            images: Vec::new(),
            labels: Vec::new(),
            unlabelled: Vec::new(),
            source,
        };
        for image in images {
            let name = image
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let label = match &table {
                Some(t) => t.get(&name).copied(),
                None => prefix_class(&name),
            };
            match label {
                Some(class) if class < classes => {
                    set.images.push(image);
                    set.labels.push(class);
                }
                Some(class) => {
                    return Err(AccuracyError::Class {
                        path: image,
                        class,
                        classes,
                    });
                }
                None => set.unlabelled.push((
                    image,
                    match &table {
                        Some(_) => format!("not listed in {LABELS_CSV}"),
                        None => "no <class>_ prefix in its name".into(),
                    },
                )),
            }
        }
        if set.images.is_empty() {
            return Err(AccuracyError::Empty {
                dir: dir.to_path_buf(),
            });
        }
        Ok(set)
    }
}

/// The class of a `<class>_rest` file name.
fn prefix_class(name: &str) -> Option<usize> {
    let (digits, _) = name.split_once('_')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn read_csv(path: &Path) -> Result<BTreeMap<String, usize>, AccuracyError> {
    let text = std::fs::read_to_string(path).map_err(|e| AccuracyError::Read {
        path: path.to_path_buf(),
        detail: format!("cannot read: {e}"),
    })?;
    let mut table = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || (i == 0 && line == "file,class") {
            continue;
        }
        let bad = |detail: String| AccuracyError::Csv {
            path: path.to_path_buf(),
            line: i + 1,
            detail,
        };
        let (file, class) = line
            .rsplit_once(',')
            .ok_or_else(|| bad(format!("{line:?} is not `file,class`")))?;
        let class = class
            .trim()
            .parse()
            .map_err(|_| bad(format!("class {:?} is not a number", class.trim())))?;
        if table.insert(file.trim().to_owned(), class).is_some() {
            return Err(bad(format!("{} is listed twice", file.trim())));
        }
    }
    Ok(table)
}

/// Running top-1 / top-5 counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Images classified.
    pub images: u64,
    /// Whose best class was the label.
    pub top1: u64,
    /// Whose five best classes held the label.
    pub top5: u64,
}

impl Tally {
    /// Counts one output against its label.
    pub fn add(&mut self, output: &Tensor, bytes: &[u8], label: usize) {
        let best = top_k(output, bytes, &[], 5);
        self.images += 1;
        self.top1 += u64::from(best.first().is_some_and(|p| p.index == label));
        self.top5 += u64::from(best.iter().any(|p| p.index == label));
    }

    /// Top-1 accuracy in [0, 1] (0 for no images).
    pub fn top1_rate(&self) -> f64 {
        rate(self.top1, self.images)
    }

    /// Top-5 accuracy in [0, 1].
    pub fn top5_rate(&self) -> f64 {
        rate(self.top5, self.images)
    }
}

fn rate(hits: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        hits as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_name_prefixes_or_the_csv() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["286_cat.bmp", "89_parrot.jpg", "photo.png", "12x_bad.png"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let set = LabelledSet::open(dir.path(), 1001).unwrap();
        assert_eq!(set.labels, [286, 89]);
        assert_eq!(set.unlabelled.len(), 2);
        std::fs::write(
            dir.path().join(LABELS_CSV),
            "file,class\n# comment\nphoto.png, 653\n286_cat.bmp,285\n",
        )
        .unwrap();
        let set = LabelledSet::open(dir.path(), 1001).unwrap();
        assert_eq!(set.labels, [285, 653]);
        assert_eq!(set.source, "labels.csv");
    }

    #[test]
    fn bad_labels_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("5000_x.png"), b"x").unwrap();
        let err = LabelledSet::open(dir.path(), 1001).unwrap_err();
        assert!(
            err.to_string().contains("class 5000 is not an output"),
            "{err}"
        );
        std::fs::write(dir.path().join(LABELS_CSV), "a.png;3\n").unwrap();
        let err = LabelledSet::open(dir.path(), 1001).unwrap_err();
        assert!(err.to_string().contains("labels.csv:1"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            LabelledSet::open(empty.path(), 10),
            Err(AccuracyError::Empty { .. })
        ));
    }

    #[test]
    fn the_tally_counts_top1_and_top5() {
        let out = crate::classify::tests::probabilities("p", 6);
        let bytes = [10, 60, 50, 40, 30, 20];
        let mut t = Tally::default();
        t.add(&out, &bytes, 1);
        t.add(&out, &bytes, 5);
        t.add(&out, &bytes, 0);
        assert_eq!((t.images, t.top1, t.top5), (3, 1, 2));
        assert!((t.top5_rate() - 2.0 / 3.0).abs() < 1e-12);
    }
}
