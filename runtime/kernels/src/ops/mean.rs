//! MEAN: the rescale of TFLite's quantized mean ([`crate::mean`]).

use super::{EightBit, Prep, Preparation};
use crate::arena::{Element, Io};
use crate::conv::{Scratch, ScratchNeed};
use crate::error::KernelError;
use crate::mean::{MeanParams, mean};
use crate::quant::rescale_multiplier;

/// A prepared MEAN: its parameters and the input's shape and reduced axes.
#[derive(Debug)]
struct Mean {
    params: MeanParams,
    shape: Vec<usize>,
    axes: Vec<usize>,
}

/// Prepares a MEAN node over `axes`.
pub(super) fn prepare(p: &Prep<'_>, axes: &[usize]) -> Result<Preparation, KernelError> {
    let (input, output) = (p.input(0)?, p.output()?);
    p.check(input.check_same_dtype(output))?;
    let (si, zi) = p.quant(input, "input")?;
    let (so, zo) = p.quant(output, "output")?;
    let kept: usize = (0..input.shape.len())
        .filter(|d| !axes.contains(d))
        .map(|d| input.shape[d])
        .product();
    if axes.iter().any(|&a| a >= input.shape.len()) || kept != output.len() {
        return Err(p.err(format!(
            "axes {axes:?} of {:?} do not give {:?}",
            input.shape, output.shape
        )));
    }
    let kernel = Mean {
        params: MeanParams {
            input_zero_point: zi,
            output_zero_point: zo,
            rescale: rescale_multiplier(si, so),
        },
        shape: input.shape.clone(),
        axes: axes.to_vec(),
    };
    Ok((Box::new(kernel), p.first()?))
}

impl EightBit for Mean {
    fn run<T: Element>(&self, mut io: Io<'_>, scratch: &mut Scratch) -> Result<(), KernelError> {
        let input = io.input_8bit::<T>(0)?;
        mean(
            &self.params,
            &self.shape,
            &self.axes,
            input,
            io.output_8bit()?,
            scratch,
        )
    }

    /// One accumulator per output element.
    fn scratch_need(&self) -> ScratchNeed {
        ScratchNeed {
            acc: (0..self.shape.len())
                .filter(|d| !self.axes.contains(d))
                .map(|d| self.shape[d])
                .product(),
            ..ScratchNeed::default()
        }
    }
}
