//! HARD_SWISH of an 8-bit tensor.

use super::super::Result;
use super::Built;
use super::context::OpValidator;
use crate::ir::Op;

/// Checks the operands; the kernel's multipliers are derived by the CPU engine.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    v.arity(1..=1)?;
    let (input, output) = v.activation_pair()?;
    v.check(output.check_shape(&input.shape))?;
    Ok((Op::HardSwish, vec![v.input(0)?]))
}
