//! DEPTHWISE_CONV_2D: a convolution per input channel with `[1, kh, kw, in_c * multiplier]`
//! filters.

use super::super::Result;
use super::super::schema::BuiltinOptionsRef;
use super::Built;
use super::context::{OpValidator, output_hw};
use crate::ir::{DepthwiseConv2d, Op};

/// Reads the options and checks input, filter, bias and output.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    v.arity(2..=3)?;
    let Some(BuiltinOptionsRef::DepthwiseConv2DOptions(o)) = v.op.options else {
        return Err(v.err("missing DepthwiseConv2DOptions"));
    };
    let (input, output, [n, h, w, c]) = v.feature_maps()?;
    let filter = v.g.tensor(v.input(1)?);
    let [one, kh, kw, oc] = v.check(filter.nhwc())?;
    let multiplier = oc / c.max(1);
    if one != 1 || c == 0 || oc != c * multiplier {
        return Err(v.err(format!(
            "filter '{}' has shape {:?}, expected [1, kh, kw, {c} x multiplier]",
            filter.name, filter.shape
        )));
    }
    let dw = DepthwiseConv2d {
        stride: v.pair(o.stride_h()?, o.stride_w()?, "stride")?,
        dilation: v.pair(o.dilation_h_factor()?, o.dilation_w_factor()?, "dilation")?,
        padding: OpValidator::padding(o.padding()?),
        depth_multiplier: multiplier,
        activation: v.fused(o.fused_activation_function()?)?,
    };
    let [oh, ow] = output_hw(dw.padding, [h, w], [kh, kw], dw.stride, dw.dilation);
    v.check(output.check_shape(&[n, oh, ow, oc]))?;
    Ok((Op::DepthwiseConv2d(dw), v.weights(input, oc, 3)?))
}
