//! MEAN over constant axes.

use super::super::Result;
use super::super::schema::BuiltinOptionsRef;
use super::Built;
use super::context::OpValidator;
use crate::ir::Op;

/// Folds the constant axes into the operator and checks the reduced shape.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    v.arity(2..=2)?;
    let keep_dims = match v.op.options {
        Some(BuiltinOptionsRef::ReducerOptions(o)) => o.keep_dims()?,
        _ => false,
    };
    let (input, output) = v.activation_pair()?;
    let mut axes = v
        .int_values(v.input(1)?, "axis")?
        .into_iter()
        .map(|a| v.normalize_axis(a, input.shape.len()))
        .collect::<Result<Vec<_>>>()?;
    axes.sort_unstable();
    axes.dedup();
    let expected: Vec<usize> = input
        .shape
        .iter()
        .enumerate()
        .filter_map(|(d, &n)| match (axes.contains(&d), keep_dims) {
            (false, _) => Some(n),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    v.check(output.check_shape(&expected))?;
    Ok((Op::Mean { axes, keep_dims }, vec![v.input(0)?]))
}
