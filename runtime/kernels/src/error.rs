//! Errors of the kernels and the CPU engine; each names the tensor, node or operand and
//! what was expected.

use fibha_model::TensorId;

/// Why a kernel or the engine refused to run.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A node the engine cannot run exactly as TFLite does.
    #[error("node #{node} ({op}): {detail}")]
    Unsupported {
        /// Index of the node in the graph's execution order.
        node: usize,
        /// The operator's TFLite name.
        op: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Bytes given for a tensor do not match its size.
    #[error(
        "tensor #{tensor} '{name}' is {dtype} {shape:?} ({expected} bytes), got {got} bytes{hint}"
    )]
    TensorSize {
        /// The tensor.
        tensor: TensorId,
        /// Its name in the model.
        name: String,
        /// Its element type.
        dtype: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Its size in bytes.
        expected: usize,
        /// The number of bytes given.
        got: usize,
        /// A guess at the cause, or empty.
        hint: String,
    },
    /// A tensor id outside the graph.
    #[error("tensor #{tensor} does not exist (the graph has {count} tensors)")]
    UnknownTensor {
        /// The requested id.
        tensor: TensorId,
        /// Number of tensors in the graph.
        count: usize,
    },
    /// An attempt to overwrite a constant tensor.
    #[error("tensor #{tensor} '{name}' is a constant of the model and cannot be set")]
    ConstantTensor {
        /// The tensor.
        tensor: TensorId,
        /// Its name in the model.
        name: String,
    },
    /// A tensor that no node writes, no graph input is and no constant holds.
    #[error("tensor #{tensor} '{name}' is not an input, output or constant of any node")]
    UnusedTensor {
        /// The tensor.
        tensor: TensorId,
        /// Its name in the model.
        name: String,
    },
    /// A range of nodes outside the graph.
    #[error("nodes {start}..{end} are out of range (the graph has {count} nodes)")]
    NodeRange {
        /// First node of the range.
        start: usize,
        /// One past the last node.
        end: usize,
        /// Number of nodes in the graph.
        count: usize,
    },
    /// `run` needs exactly one graph input and one graph output.
    #[error(
        "the graph has {inputs} inputs and {outputs} outputs; run() needs one of each \
         (use set_tensor and run_nodes)"
    )]
    NotSingleInputOutput {
        /// Number of graph inputs.
        inputs: usize,
        /// Number of graph outputs.
        outputs: usize,
    },
    /// Slices given to a kernel do not have the lengths its parameters imply.
    #[error("{kernel}: {operand} has {got} elements, expected {expected}")]
    OperandLength {
        /// The kernel.
        kernel: &'static str,
        /// The operand.
        operand: &'static str,
        /// The length its parameters imply.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// Kernel parameters that cannot describe a computation.
    #[error("{kernel}: {detail}")]
    InvalidParams {
        /// The kernel.
        kernel: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// Checks that `operand` of `kernel` has `expected` elements.
pub(crate) fn check_len(
    kernel: &'static str,
    operand: &'static str,
    got: usize,
    expected: usize,
) -> Result<(), KernelError> {
    if got == expected {
        Ok(())
    } else {
        Err(KernelError::OperandLength {
            kernel,
            operand,
            expected,
            got,
        })
    }
}
