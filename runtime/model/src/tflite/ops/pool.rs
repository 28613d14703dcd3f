//! AVERAGE_POOL_2D and MAX_POOL_2D: one window geometry, two reductions.

use super::super::Result;
use super::super::schema::BuiltinOptionsRef;
use super::Built;
use super::context::{OpValidator, output_hw};
use crate::ir::{Op, Pool2d};

/// AVERAGE_POOL_2D.
pub(super) fn import_average(v: &OpValidator<'_, '_>) -> Result<Built> {
    Ok((Op::AveragePool2d(pool(v)?), vec![v.input(0)?]))
}

/// MAX_POOL_2D.
pub(super) fn import_max(v: &OpValidator<'_, '_>) -> Result<Built> {
    Ok((Op::MaxPool2d(pool(v)?), vec![v.input(0)?]))
}

/// Reads the window's options and checks the pooled shape.
fn pool(v: &OpValidator<'_, '_>) -> Result<Pool2d> {
    v.arity(1..=1)?;
    let Some(BuiltinOptionsRef::Pool2DOptions(o)) = v.op.options else {
        return Err(v.err("missing Pool2DOptions"));
    };
    let (_, output, [n, h, w, c]) = v.feature_maps()?;
    let pool = Pool2d {
        filter: v.pair(o.filter_height()?, o.filter_width()?, "filter size")?,
        stride: v.pair(o.stride_h()?, o.stride_w()?, "stride")?,
        padding: OpValidator::padding(o.padding()?),
        activation: v.fused(o.fused_activation_function()?)?,
    };
    let [oh, ow] = output_hw(pool.padding, [h, w], pool.filter, pool.stride, [1, 1]);
    v.check(output.check_shape(&[n, oh, ow, c]))?;
    Ok(pool)
}
