//! FULLY_CONNECTED: rows of the input times `[units, depth]` weights.

use super::super::Result;
use super::super::schema::BuiltinOptionsRef;
use super::Built;
use super::context::OpValidator;
use crate::ir::{Activation, Op};

/// Reads the options and checks input, weights, bias and output; `keep_num_dims` needs a
/// last dimension to replace.
pub(super) fn import(v: &OpValidator<'_, '_>) -> Result<Built> {
    v.arity(2..=3)?;
    let (activation, keep_num_dims) = match v.op.options {
        Some(BuiltinOptionsRef::FullyConnectedOptions(o)) => {
            if o.weights_format()? != 0 {
                return Err(v.err("shuffled weights format is not supported"));
            }
            (v.fused(o.fused_activation_function()?)?, o.keep_num_dims()?)
        }
        _ => (Activation::None, false),
    };
    let (input, output) = v.activation_pair()?;
    let weights = v.g.tensor(v.input(1)?);
    let [units, depth] = <[usize; 2]>::try_from(weights.shape.as_slice()).map_err(|_| {
        v.err(format!(
            "weights '{}' have shape {:?}, expected [units, depth]",
            weights.name, weights.shape
        ))
    })?;
    if depth == 0 || input.len() % depth != 0 {
        return Err(v.err(format!(
            "input of {} elements is not a whole number of rows of {depth}",
            input.len()
        )));
    }
    let expected = if keep_num_dims {
        let mut s = input.shape.clone();
        let Some(last) = s.last_mut() else {
            return Err(v.err(format!(
                "keep_num_dims on a rank-0 input '{}': there is no dimension to keep",
                input.name
            )));
        };
        *last = units;
        s
    } else {
        vec![input.len() / depth, units]
    };
    v.check(output.check_shape(&expected))?;
    Ok((
        Op::FullyConnected { activation },
        v.weights(input, units, 0)?,
    ))
}
