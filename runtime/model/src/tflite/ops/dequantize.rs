//! DEQUANTIZE: 8-bit to float at a model's output.

use super::super::Result;
use super::Built;
use super::context::OpValidator;
use crate::ir::{DType, Op};

/// Checks an 8-bit input and a float output of its shape.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    v.arity(1..=1)?;
    let input = v.activation_tensor(v.input(0)?, "input")?;
    let output = v.output()?;
    if output.dtype != DType::Float32 {
        return Err(v.err(format!("output is {}, expected float32", output.dtype)));
    }
    v.check(output.check_shape(&input.shape))?;
    Ok((Op::Dequantize, vec![v.input(0)?]))
}
