//! CONCATENATION of 8-bit activations along one axis (one of integers is shape arithmetic,
//! folded at import).

use super::super::Result;
use super::super::schema::BuiltinOptionsRef;
use super::Built;
use super::context::OpValidator;
use crate::ir::Op;

/// Reads axis and activation and checks that the inputs join into the output.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    let Some(BuiltinOptionsRef::ConcatenationOptions(o)) = v.op.options else {
        return Err(v.err("missing ConcatenationOptions"));
    };
    let output = v.activation_tensor(v.output_id()?, "output")?;
    let axis = v.normalize_axis(i64::from(o.axis()?), output.shape.len())?;
    let activation = v.fused(o.fused_activation_function()?)?;
    let ids = (0..v.op.inputs.len())
        .map(|i| v.input(i))
        .collect::<Result<Vec<_>>>()?;
    if ids.is_empty() {
        return Err(v.err("has no inputs"));
    }
    let mut expected = output.shape.clone();
    expected[axis] = 0;
    for &id in &ids {
        let t = v.activation_tensor(id, "input")?;
        v.check(t.check_same_dtype(output))?;
        let same_rank = t.shape.len() == output.shape.len();
        let same_other_dims = same_rank
            && t.shape
                .iter()
                .zip(&output.shape)
                .enumerate()
                .all(|(d, (a, b))| d == axis || a == b);
        if !same_other_dims {
            return Err(v.err(format!(
                "input '{}' of shape {:?} does not join {:?} along axis {axis}",
                t.name, t.shape, output.shape
            )));
        }
        expected[axis] += t.shape[axis];
    }
    v.check(output.check_shape(&expected))?;
    Ok((Op::Concatenation { axis, activation }, ids))
}
