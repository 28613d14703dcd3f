//! SOFTMAX over the last dimension, into TFLite's fixed output quantization.

use super::super::Result;
use super::super::schema::BuiltinOptionsRef;
use super::Built;
use super::context::OpValidator;
use crate::ir::Op;

/// Reads beta and checks the output quantization TFLite's kernel writes.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    v.arity(1..=1)?;
    let beta = match v.op.options {
        Some(BuiltinOptionsRef::SoftmaxOptions(o)) => o.beta()?,
        _ => 1.0,
    };
    let (input, output) = v.activation_pair()?;
    v.check(output.check_shape(&input.shape))?;
    let (q, lo) = (output.q(), output.dtype.range_8bit().map_or(0, |r| r.0));
    if (q.scale() - 1.0 / 256.0).abs() > f32::EPSILON || q.zero_point() != lo {
        return Err(v.err(format!(
            "output quantization is scale {} zero point {}; TFLite requires 1/256 and {lo}",
            q.scale(),
            q.zero_point()
        )));
    }
    if !(beta.is_finite() && beta > 0.0) {
        return Err(v.err(format!("beta {beta} is not a positive number")));
    }
    Ok((Op::Softmax { beta }, vec![v.input(0)?]))
}
