//! FULLY_CONNECTED: checks rows, depth and units and packs the weights for the fast kernel
//! ([`crate::fully_connected::FullyConnected`]).

use fibha_model::{Activation, DType};

use super::layer::{Filter, as_i8};
use super::{EightBit, Prep, Preparation};
use crate::arena::{Element, Io};
use crate::conv::{Scratch, ScratchNeed};
use crate::error::KernelError;
use crate::fully_connected::{FcShape, FullyConnected};

/// Prepares a FULLY_CONNECTED node.
pub(super) fn prepare(p: &Prep<'_>, activation: Activation) -> Result<Preparation, KernelError> {
    let (input, weights, output) = (p.input(0)?, p.input(1)?, p.output()?);
    p.check(input.check_same_dtype(weights))?;
    p.check(input.check_same_dtype(output))?;
    let &[units, depth] = weights.shape.as_slice() else {
        return Err(p.err(format!(
            "weights have shape {:?}, expected [units, depth]",
            weights.shape
        )));
    };
    if depth == 0
        || !input.len().is_multiple_of(depth)
        || output.len() != input.len() / depth * units
    {
        return Err(p.err(format!(
            "input {:?}, weights {:?} and output {:?} do not fit",
            input.shape, weights.shape, output.shape
        )));
    }
    let shape = FcShape {
        rows: input.len() / depth,
        depth,
        units,
    };
    let per_channel = weights.quant.as_ref().is_some_and(|q| q.is_per_channel());
    let filter = Filter {
        tensor: weights,
        channels: units,
        axis: 0,
    };
    let (offsets, stage) = p.layer_quant(input, &filter, output, activation, per_channel)?;
    let data = p.check(weights.constant_data("weights"))?;
    let fc = match input.dtype {
        DType::Int8 => FullyConnected::new(shape, offsets, as_i8(data), stage),
        _ => FullyConnected::new(shape, offsets, data, stage),
    };
    Ok((Box::new(fc.map_err(|e| p.err(e.to_string()))?), p.first()?))
}

impl EightBit for FullyConnected {
    fn run<T: Element>(&self, mut io: Io<'_>, scratch: &mut Scratch) -> Result<(), KernelError> {
        FullyConnected::run(self, io.input_8bit::<T>(0)?, io.output_8bit()?, scratch)
    }

    fn scratch_need(&self) -> ScratchNeed {
        FullyConnected::scratch_need(self)
    }
}
