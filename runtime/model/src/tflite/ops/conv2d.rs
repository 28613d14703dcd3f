//! CONV_2D: a standard convolution with `[out_c, kh, kw, in_c]` filters.

use super::super::Result;
use super::super::schema::BuiltinOptionsRef;
use super::Built;
use super::context::{OpValidator, output_hw};
use crate::ir::{Conv2d, Op};

/// Reads the options and checks input, filter, bias and output.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    v.arity(2..=3)?;
    let Some(BuiltinOptionsRef::Conv2DOptions(o)) = v.op.options else {
        return Err(v.err("missing Conv2DOptions"));
    };
    let (input, output, [n, h, w, c]) = v.feature_maps()?;
    let filter = v.g.tensor(v.input(1)?);
    let [oc, kh, kw, ic] = v.check(filter.nhwc())?;
    if ic != c {
        return Err(v.err(format!(
            "filter '{}' takes {ic} input channels, the input has {c} (grouped convolution is not supported)",
            filter.name
        )));
    }
    let conv = Conv2d {
        stride: v.pair(o.stride_h()?, o.stride_w()?, "stride")?,
        dilation: v.pair(o.dilation_h_factor()?, o.dilation_w_factor()?, "dilation")?,
        padding: OpValidator::padding(o.padding()?),
        activation: v.fused(o.fused_activation_function()?)?,
    };
    let [oh, ow] = output_hw(conv.padding, [h, w], [kh, kw], conv.stride, conv.dilation);
    v.check(output.check_shape(&[n, oh, ow, oc]))?;
    Ok((Op::Conv2d(conv), v.weights(input, oc, 0)?))
}
