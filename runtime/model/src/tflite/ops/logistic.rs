//! LOGISTIC (sigmoid), into TFLite's fixed output scale.

use super::super::Result;
use super::Built;
use super::context::OpValidator;
use crate::ir::{LOGISTIC_OUTPUT_SCALE, Op};

/// Checks the operands and the output scale TFLite's kernel writes.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    v.arity(1..=1)?;
    let (input, output) = v.activation_pair()?;
    v.check(output.check_shape(&input.shape))?;
    // The zero point is not checked: TFLite's reference kernel (a lookup table) takes any.
    v.check(output.check_fixed_scale(LOGISTIC_OUTPUT_SCALE, "TFLite's 8-bit LOGISTIC"))?;
    Ok((Op::Logistic, vec![v.input(0)?]))
}
