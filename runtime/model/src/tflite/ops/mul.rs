//! MUL of two tensors of one type, one of them broadcast or both of one shape.

use super::super::Result;
use super::super::schema::BuiltinOptionsRef;
use super::Built;
use super::context::OpValidator;
use crate::ir::{Activation, Op};

/// Reads the fused activation and checks that the shapes broadcast to the output's.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    v.arity(2..=2)?;
    let activation = match v.op.options {
        Some(BuiltinOptionsRef::MulOptions(o)) => v.fused(o.fused_activation_function()?)?,
        _ => Activation::None,
    };
    let a = v.activation_tensor(v.input(0)?, "input 0")?;
    let b = v.activation_tensor(v.input(1)?, "input 1")?;
    let out = v.activation_tensor(v.output_id()?, "output")?;
    v.check(a.check_same_dtype(b))?;
    v.check(a.check_same_dtype(out))?;
    let shape = v.check(a.broadcast_shape(b))?;
    v.check(out.check_shape(&shape))?;
    Ok((Op::Mul { activation }, vec![v.input(0)?, v.input(1)?]))
}
