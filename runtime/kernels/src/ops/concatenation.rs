//! CONCATENATION: copies inputs quantized as the output, rescales the others (uint8 only,
//! as TFLite does) ([`crate::concat`]).

use fibha_model::{Activation, DType};

use super::{EightBit, Prep, Preparation};
use crate::arena::{Element, Io};
use crate::concat::{ConcatInput, concatenate};
use crate::conv::Scratch;
use crate::error::KernelError;

/// At most this many inputs: a fixed array of them keeps a run allocation-free.
const MAX_INPUTS: usize = 16;

/// A prepared CONCATENATION: each input's shape and how it joins the output.
#[derive(Debug)]
struct Concat {
    axis: usize,
    output_shape: Vec<usize>,
    inputs: Vec<(Vec<usize>, ConcatInput)>,
}

/// Prepares a CONCATENATION node along `axis`.
pub(super) fn prepare(
    p: &Prep<'_>,
    axis: usize,
    activation: Activation,
) -> Result<Preparation, KernelError> {
    let output = p.output()?;
    if activation != Activation::None {
        return Err(p.err("a fused activation on CONCATENATION (TFLite requires NONE)"));
    }
    let (so, zo) = p.quant(output, "output")?;
    let mut inputs = Vec::with_capacity(p.node.inputs.len());
    for k in 0..p.node.inputs.len() {
        let t = p.input(k)?;
        p.check(t.check_same_dtype(output))?;
        let (s, z) = p.quant(t, "input")?;
        let how = if (s, z) == (so, zo) {
            ConcatInput::Copy
        } else if output.dtype == DType::UInt8 {
            ConcatInput::Rescale {
                scale: s,
                zero_point: z,
                output_scale: so,
                output_zero_point: zo,
            }
        } else {
            return Err(p.err(format!(
                "int8 input '{}' is quantized differently from the output (TFLite requires them equal)",
                t.name
            )));
        };
        inputs.push((t.shape.clone(), how));
    }
    let kernel = Concat {
        axis,
        output_shape: output.shape.clone(),
        inputs,
    };
    Ok((Box::new(kernel), p.node.inputs.clone()))
}

impl EightBit for Concat {
    fn run<T: Element>(&self, mut io: Io<'_>, _: &mut Scratch) -> Result<(), KernelError> {
        if self.inputs.len() > MAX_INPUTS {
            return Err(KernelError::InvalidParams {
                kernel: "concatenate",
                detail: format!("{} inputs, at most {MAX_INPUTS}", self.inputs.len()),
            });
        }
        let mut parts: [(&[usize], ConcatInput, &[T]); MAX_INPUTS] =
            [(&[], ConcatInput::Copy, &[]); MAX_INPUTS];
        for (k, (part, (shape, how))) in parts.iter_mut().zip(&self.inputs).enumerate() {
            *part = (shape, *how, io.input_8bit(k)?);
        }
        let parts = &parts[..self.inputs.len()];
        concatenate(self.axis, &self.output_shape, parts, io.output_8bit()?)
    }
}
