//! Errors met while reading a model; each names the file and what was wrong with it.

use std::path::PathBuf;

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read at all.
    #[error("{path}: cannot read the model: {error}")]
    Io {
        /// The model file.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// The bytes are not a well-formed TFLite flatbuffer.
    #[error("{path}: not a valid TFLite model ({detail})")]
    Corrupt {
        /// The model file.
        path: PathBuf,
        /// What the decoder found wrong.
        detail: String,
    },
    /// The model has float arithmetic where fibha needs int8/uint8.
    #[error(
        "{path}: not a quantized model: operator #{op_index} ({op}) computes in {dtype}; fibha runs \
         full-integer int8/uint8 models (convert with TFLiteConverter and a representative dataset)"
    )]
    NotQuantized {
        /// The model file.
        path: PathBuf,
        /// Index of the first float operator.
        op_index: usize,
        /// Its TFLite name.
        op: String,
        /// The element type it computes in.
        dtype: String,
    },
    /// An operator fibha does not run.
    #[error("{path}: operator #{op_index} is {op}, which fibha does not run (it runs {supported})")]
    UnsupportedOp {
        /// The model file.
        path: PathBuf,
        /// Index of the operator in the subgraph.
        op_index: usize,
        /// The TFLite name of the operator.
        op: String,
        /// The list of operators fibha runs.
        supported: &'static str,
    },
    /// A supported operator used in a way fibha does not run or that is inconsistent.
    #[error("{path}: operator #{op_index} ({op}): {detail}")]
    InvalidOp {
        /// The model file.
        path: PathBuf,
        /// Index of the operator in the subgraph.
        op_index: usize,
        /// The TFLite name of the operator.
        op: String,
        /// What is wrong.
        detail: String,
    },
    /// A problem with the model as a whole (subgraphs, inputs, tensors).
    #[error("{path}: {detail}")]
    Invalid {
        /// The model file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}
