//! ADD of two tensors of the same shape and type.

use super::super::Result;
use super::super::schema::BuiltinOptionsRef;
use super::Built;
use super::context::OpValidator;
use crate::ir::{Activation, Op};

/// Reads the fused activation and checks that nothing is broadcast.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    let [a, b, out] = v.elementwise_operands()?;
    let activation = match v.op.options {
        Some(BuiltinOptionsRef::AddOptions(o)) => v.fused(o.fused_activation_function()?)?,
        _ => Activation::None,
    };
    if a.shape != b.shape {
        return Err(v.err(format!(
            "adds shapes {:?} and {:?}; broadcasting is not supported",
            a.shape, b.shape
        )));
    }
    v.check(out.check_shape(&a.shape))?;
    Ok((Op::Add { activation }, vec![v.input(0)?, v.input(1)?]))
}
