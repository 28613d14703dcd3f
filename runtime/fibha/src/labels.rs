//! Class labels: one per line, line `i` names output index `i` (ImageNet: 0 = background).

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

/// Reads a label file and checks it names exactly `classes` outputs.
pub fn load_labels(path: &Path, classes: usize) -> Result<Vec<String>, LabelError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| LabelError::Io {
        path: shown.clone(),
        error,
    })?;
    let labels: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    if labels.len() != classes {
        return Err(LabelError::Count {
            path: shown,
            got: labels.len(),
            expected: classes,
        });
    }
    Ok(labels)
}
