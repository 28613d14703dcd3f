//! Class labels: one per line, line `i` names output index `i` (ImageNet: 0 = background).
//!
//! The ImageNet label file of the TF-slim models has 1001 lines, class 0 being
//! `background`; Keras's application models have the 1000 classes without it. One file
//! serves both: a file with one label more than the model's classes whose first line is
//! `background` names the classes from its second line.

use std::path::Path;

/// Why a label file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The file could not be read.
    #[error("{path}: cannot read the labels: {error}")]
    Io {
        /// The label file.
        path: String,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// The file does not have one label per model output.
    #[error("{path}: {got} labels, the model has {expected} classes")]
    Count {
        /// The label file.
        path: String,
        /// Lines found.
        got: usize,
        /// Classes of the model.
        expected: usize,
    },
}

/// The first line of a label file whose model has no background class.
pub const BACKGROUND: &str = "background";

/// Reads a label file and checks it names exactly `classes` outputs (after dropping a
/// leading [`BACKGROUND`] the model does not have).
pub fn load_labels(path: &Path, classes: usize) -> Result<Vec<String>, LabelError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| LabelError::Io {
        path: shown.clone(),
        error,
    })?;
    let mut labels: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    if labels.len() == classes + 1 && labels[0] == BACKGROUND {
        labels.remove(0);
    }
    if labels.len() != classes {
        return Err(LabelError::Count {
            path: shown,
            got: labels.len(),
            expected: classes,
        });
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(fibha_model::fuzz::cases()))]
        /// Any bytes are either labels (valid UTF-8 with one line per class, each read back
        /// as written, trimmed) or refused naming the file and the problem.
        #[test]
        fn any_file_is_labels_or_refused_naming_it(
            bytes in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..400),
                prop::collection::vec("[ -~]{0,8}", 0..12).prop_map(|l| l.join("\n").into_bytes()),
            ],
            classes in 0usize..12,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("labels.txt");
            std::fs::write(&path, &bytes).unwrap();
            let shown = path.display().to_string();
            match (load_labels(&path, classes), std::str::from_utf8(&bytes)) {
                (Ok(labels), Ok(text)) => {
                    let mut expected: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
                    if expected.len() == classes + 1 {
                        prop_assert_eq!(expected.remove(0), BACKGROUND);
                    }
                    prop_assert_eq!(&labels, &expected);
                    prop_assert_eq!(labels.len(), classes);
                    // Written back one a line, each ended by a newline, they load the same.
                    let written: String = labels.iter().map(|l| format!("{l}\n")).collect();
                    std::fs::write(&path, written).unwrap();
                    prop_assert_eq!(load_labels(&path, classes).unwrap(), labels);
                }
                (Ok(_), Err(_)) => prop_assert!(false, "non-UTF-8 bytes were accepted"),
                (Err(LabelError::Count { path: p, got, expected }), Ok(text)) => {
                    prop_assert_eq!(p, shown);
                    prop_assert_eq!((got, expected), (text.lines().count(), classes));
                }
                (Err(e @ LabelError::Io { .. }), Err(_)) => {
                    let e = e.to_string();
                    prop_assert!(e.starts_with(&format!("{shown}: cannot read the labels")), "{}", e);
                }
                (Err(e), _) => prop_assert!(false, "unexpected refusal: {}", e),
            }
        }
    }

    #[test]
    fn imagenet_labels_load_and_a_short_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.txt");
        std::fs::write(&path, "background\n tench \ngoldfish\n").unwrap();
        assert_eq!(
            load_labels(&path, 3).unwrap(),
            ["background", "tench", "goldfish"]
        );
        // A model without the background class is named from the second line.
        assert_eq!(load_labels(&path, 2).unwrap(), ["tench", "goldfish"]);
        let e = load_labels(&path, 1001).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}: 3 labels, the model has 1001 classes", path.display())
        );
    }
}
