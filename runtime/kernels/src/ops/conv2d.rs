//! CONV_2D: checks filter channels against the input and packs the filter for the fast
//! kernel ([`crate::conv::Conv2d`]).

use fibha_model::{Conv2d as Options, DType};

use super::layer::as_i8;
use super::{EightBit, Prep, Preparation};
use crate::arena::{Element, Io};
use crate::conv::{Conv2d, Scratch, ScratchNeed};
use crate::error::KernelError;

/// Prepares a CONV_2D node.
pub(super) fn prepare(p: &Prep<'_>, o: &Options) -> Result<Preparation, KernelError> {
    let ops = p.conv_operands()?;
    let [oc, kh, kw, fc] = ops.filter_dims;
    let ic = ops.input_dims[3];
    if fc != ic {
        return Err(p.err(format!(
            "filter takes {fc} input channels, the input has {ic}"
        )));
    }
    let geometry = (o.stride, o.dilation, o.padding);
    let l = p.conv_layer(&ops, [kh, kw], (oc, 0), geometry, o.activation)?;
    let conv = match ops.input.dtype {
        DType::Int8 => Conv2d::new(l.shape, l.offsets, as_i8(l.filter), l.stage),
        _ => Conv2d::new(l.shape, l.offsets, l.filter, l.stage),
    };
    Ok((
        Box::new(conv.map_err(|e| p.err(e.to_string()))?),
        p.first()?,
    ))
}

impl EightBit for Conv2d {
    fn run<T: Element>(&self, mut io: Io<'_>, scratch: &mut Scratch) -> Result<(), KernelError> {
        Conv2d::run(self, io.input_8bit::<T>(0)?, io.output_8bit()?, scratch)
    }

    fn scratch_need(&self) -> ScratchNeed {
        Conv2d::scratch_need(self)
    }
}
