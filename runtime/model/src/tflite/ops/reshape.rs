//! RESHAPE: the same data under another shape.

use super::super::Result;
use super::Built;
use super::context::OpValidator;
use crate::ir::{Op, TensorId};

/// Checks element counts, quantization and, where known, the shape operand.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    v.arity(1..=2)?;
    let input = v.g.tensor(v.input(0)?);
    let output = v.output()?;
    v.check(input.check_same_dtype(output))?;
    if input.len() != output.len() {
        return Err(v.err(format!(
            "reshapes {:?} into {:?}: element counts differ",
            input.shape, output.shape
        )));
    }
    if input.quant != output.quant {
        return Err(v.err("input and output quantization differ"));
    }
    if let Some(shape) = v.op.input(1) {
        check_new_shape(v, shape, input.len(), &output.shape)?;
    }
    Ok((Op::Reshape, vec![v.input(0)?]))
}

/// A RESHAPE's shape operand, where it is known (a constant or folded shape arithmetic),
/// must give the output's declared shape (one `-1` takes what is left).
fn check_new_shape(
    v: &OpValidator<'_, '_>,
    id: TensorId,
    elements: usize,
    declared: &[usize],
) -> Result<()> {
    if v.g.tensor(id).data.is_none() {
        return Ok(());
    }
    let dims = v.int_values(id, "new shape")?;
    let known = dims
        .iter()
        .filter(|&&d| d != -1)
        .try_fold(1i64, |n, &d| n.checked_mul(d))
        .ok_or_else(|| {
            v.err(format!(
                "new shape {dims:?} has more elements than fit in 64 bits"
            ))
        })?;
    let mut shape = Vec::with_capacity(dims.len());
    for &d in &dims {
        let dim = match d {
            -1 if known > 0 => elements as i64 / known,
            d => d,
        };
        shape.push(
            usize::try_from(dim)
                .map_err(|_| v.err(format!("new shape {dims:?} has the dimension {d}")))?,
        );
    }
    if dims.iter().filter(|&&d| d == -1).count() > 1 || shape != declared {
        return Err(v.err(format!(
            "new shape {dims:?} does not give the output's declared shape {declared:?}"
        )));
    }
    Ok(())
}
