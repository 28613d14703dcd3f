//! PAD with the zero point, by constant paddings.

use super::super::Result;
use super::Built;
use super::context::OpValidator;
use crate::ir::Op;

/// Folds the constant paddings into the operator and checks the padded shape.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    v.arity(2..=2)?;
    let (input, output) = v.activation_pair()?;
    if input.quant != output.quant {
        return Err(v.err("input and output quantization differ"));
    }
    let values = v.int_values(v.input(1)?, "paddings")?;
    if values.len() != 2 * input.shape.len() {
        return Err(v.err(format!(
            "paddings have {} values, expected {} for rank {}",
            values.len(),
            2 * input.shape.len(),
            input.shape.len()
        )));
    }
    let paddings = values
        .chunks_exact(2)
        .map(|p| match (usize::try_from(p[0]), usize::try_from(p[1])) {
            (Ok(a), Ok(b)) => Ok([a, b]),
            _ => Err(v.err(format!("negative padding {p:?}"))),
        })
        .collect::<Result<Vec<_>>>()?;
    let expected: Vec<usize> = input
        .shape
        .iter()
        .zip(&paddings)
        .map(|(n, [a, b])| n + a + b)
        .collect();
    v.check(output.check_shape(&expected))?;
    Ok((Op::Pad { paddings }, vec![v.input(0)?]))
}
