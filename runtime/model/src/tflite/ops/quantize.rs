//! QUANTIZE: float to 8-bit at a model's input, or 8-bit to 8-bit requantization.

use super::super::Result;
use super::Built;
use super::context::OpValidator;
use crate::ir::{DType, Op};

/// Checks an 8-bit output of the input's shape, from a float or an 8-bit input.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    v.arity(1..=1)?;
    let input = v.g.tensor(v.input(0)?);
    let output = v.activation_tensor(v.output_id()?, "output")?;
    if input.dtype != DType::Float32 {
        v.activation_tensor(v.input(0)?, "input")?;
    }
    v.check(output.check_shape(&input.shape))?;
    Ok((Op::Quantize, vec![v.input(0)?]))
}
