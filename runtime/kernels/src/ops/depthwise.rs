//! DEPTHWISE_CONV_2D: checks the filter against the input's channels and multiplier and
//! packs it for the fast kernel ([`crate::depthwise::DepthwiseConv2d`]).

use fibha_model::{DType, DepthwiseConv2d as Options};

use super::layer::as_i8;
use super::{EightBit, Prep, Preparation};
use crate::arena::{Element, Io};
use crate::conv::{Scratch, ScratchNeed};
use crate::depthwise::DepthwiseConv2d;
use crate::error::KernelError;

/// Prepares a DEPTHWISE_CONV_2D node.
pub(super) fn prepare(p: &Prep<'_>, o: &Options) -> Result<Preparation, KernelError> {
    let ops = p.conv_operands()?;
    let [one, kh, kw, oc] = ops.filter_dims;
    let ic = ops.input_dims[3];
    if one != 1 || oc != ic * o.depth_multiplier {
        return Err(p.err(format!(
            "filter shape {:?} does not fit {ic} channels with multiplier {}",
            ops.filter.shape, o.depth_multiplier
        )));
    }
    let geometry = (o.stride, o.dilation, o.padding);
    let l = p.conv_layer(&ops, [kh, kw], (oc, 3), geometry, o.activation)?;
    let m = o.depth_multiplier;
    let dw = match ops.input.dtype {
        DType::Int8 => DepthwiseConv2d::new(l.shape, m, l.offsets, as_i8(l.filter), l.stage),
        _ => DepthwiseConv2d::new(l.shape, m, l.offsets, l.filter, l.stage),
    };
    Ok((Box::new(dw.map_err(|e| p.err(e.to_string()))?), p.first()?))
}

impl EightBit for DepthwiseConv2d {
    fn run<T: Element>(&self, mut io: Io<'_>, scratch: &mut Scratch) -> Result<(), KernelError> {
        DepthwiseConv2d::run(self, io.input_8bit::<T>(0)?, io.output_8bit()?, scratch)
    }

    fn scratch_need(&self) -> ScratchNeed {
        DepthwiseConv2d::scratch_need(self)
    }
}
