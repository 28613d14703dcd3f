//! HARD_SWISH: the 16-bit multipliers of TFLite's quantized hard swish
//! ([`crate::hard_swish`]).

use super::{EightBit, Prep, Preparation};
use crate::arena::{Element, Io};
use crate::conv::Scratch;
use crate::error::KernelError;
use crate::hard_swish::hard_swish;
use crate::quant::{HardSwishParams, hard_swish_params};

/// Prepares a HARD_SWISH node.
pub(super) fn prepare(p: &Prep<'_>) -> Result<Preparation, KernelError> {
    let (input, output) = (p.input(0)?, p.output()?);
    p.check(input.check_same_dtype(output))?;
    p.check(output.check_shape(&input.shape))?;
    let input_q = p.quant(input, "input")?;
    let output_q = p.quant(output, "output")?;
    let params = hard_swish_params(input_q, output_q).ok_or_else(|| {
        p.err(format!(
            "input scale {} / 128 over output scale {} is 1 or more; TFLite's kernel needs it below 1",
            input_q.0, output_q.0
        ))
    })?;
    Ok((Box::new(params), p.first()?))
}

impl EightBit for HardSwishParams {
    fn run<T: Element>(&self, mut io: Io<'_>, _: &mut Scratch) -> Result<(), KernelError> {
        let input = io.input_8bit::<T>(0)?;
        hard_swish(self, input, io.output_8bit()?)
    }
}
