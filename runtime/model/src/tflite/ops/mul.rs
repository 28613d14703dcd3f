//! MUL of two tensors of one type, one of them broadcast or both of one shape.

use super::super::Result;
use super::super::schema::BuiltinOptionsRef;
use super::Built;
use super::context::OpValidator;
use crate::ir::{Activation, Op};

/// Reads the fused activation and checks that the shapes broadcast to the output's.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    let [a, b, out] = v.elementwise_operands()?;
    let activation = match v.op.options {
        Some(BuiltinOptionsRef::MulOptions(o)) => v.fused(o.fused_activation_function()?)?,
        _ => Activation::None,
    };
    let shape = v.check(a.broadcast_shape(b))?;
    v.check(out.check_shape(&shape))?;
    Ok((Op::Mul { activation }, vec![v.input(0)?, v.input(1)?]))
}
