//! AVERAGE_POOL_2D and MAX_POOL_2D: the window geometry and clamp of [`crate::pool`].

use fibha_model::Pool2d;

use super::{EightBit, Prep, Preparation};
use crate::arena::{Element, Io};
use crate::conv::{ConvShape, Scratch};
use crate::error::KernelError;
use crate::pool::{PoolKind, pool};

/// A prepared pooling node.
#[derive(Debug)]
struct Pool {
    kind: PoolKind,
    shape: ConvShape,
    range: (i32, i32),
}

/// Prepares a pooling node of `kind`.
pub(super) fn prepare(
    p: &Prep<'_>,
    o: &Pool2d,
    kind: PoolKind,
) -> Result<Preparation, KernelError> {
    let (input, output) = (p.input(0)?, p.output()?);
    p.check(input.check_same_dtype(output))?;
    if p.quant(input, "input")? != p.quant(output, "output")? {
        return Err(p.err("input and output quantization differ (TFLite requires them equal)"));
    }
    let dims = p.check(input.nhwc())?;
    let geometry = (o.stride, [1, 1], o.padding);
    let shape = p.window(dims, o.filter, dims[3], geometry, output)?;
    let kernel = Pool {
        kind,
        shape,
        range: p.range(o.activation, output)?,
    };
    Ok((Box::new(kernel), p.first()?))
}

impl EightBit for Pool {
    fn run<T: Element>(&self, mut io: Io<'_>, _: &mut Scratch) -> Result<(), KernelError> {
        let input = io.input_8bit::<T>(0)?;
        pool(self.kind, &self.shape, self.range, input, io.output_8bit()?)
    }
}
