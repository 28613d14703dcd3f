//! SOFTMAX: the fixed-point multipliers of TFLite's quantized softmax and their table of
//! exponentials ([`crate::softmax`]).

use super::{EightBit, Prep, Preparation};
use crate::arena::{Element, Io};
use crate::conv::Scratch;
use crate::error::KernelError;
use crate::quant::softmax_multipliers;
use crate::softmax::{ExpTable, softmax};

/// A prepared SOFTMAX over rows of `depth` elements.
#[derive(Debug)]
struct Softmax {
    table: ExpTable,
    depth: usize,
}

/// Prepares a SOFTMAX node with multiplier `beta`.
pub(super) fn prepare(p: &Prep<'_>, beta: f32) -> Result<Preparation, KernelError> {
    let (input, output) = (p.input(0)?, p.output()?);
    p.check(input.check_same_dtype(output))?;
    let (scale, _) = p.quant(input, "input")?;
    let (out_scale, out_zero) = p.quant(output, "output")?;
    let low = output.dtype.range_8bit().map_or(0, |r| r.0);
    if out_scale != 1.0 / 256.0 || out_zero != low || input.shape != output.shape {
        return Err(p.err(format!(
            "output is scale {out_scale}, zero point {out_zero}, shape {:?}; TFLite's kernel writes scale 1/256, zero point {low}, the input's shape",
            output.shape
        )));
    }
    let params = softmax_multipliers(beta, scale).ok_or_else(|| {
        p.err(format!(
            "beta {beta} times input scale {scale} is too small for TFLite's fixed-point softmax"
        ))
    })?;
    let depth = input.shape.last().copied().unwrap_or(1);
    let table = ExpTable::new(&params);
    Ok((Box::new(Softmax { table, depth }), p.first()?))
}

impl EightBit for Softmax {
    fn run<T: Element>(&self, mut io: Io<'_>, _: &mut Scratch) -> Result<(), KernelError> {
        let input = io.input_8bit::<T>(0)?;
        softmax(&self.table, self.depth, input, io.output_8bit()?)
    }
}
