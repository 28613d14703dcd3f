//! RESHAPE: a copy of the bytes (the arena never aliases a node's input and output).

use super::{Prep, Preparation, Prepared};
use crate::arena::Io;
use crate::conv::Scratch;
use crate::error::{KernelError, check_len};

/// A prepared RESHAPE.
#[derive(Debug)]
struct Copy;

/// Prepares a RESHAPE node.
pub(super) fn prepare(p: &Prep<'_>) -> Result<Preparation, KernelError> {
    let (input, output) = (p.input(0)?, p.output()?);
    p.check(input.check_same_dtype(output))?;
    if input.len() != output.len() {
        return Err(p.err(format!(
            "reshapes {:?} into {:?}",
            input.shape, output.shape
        )));
    }
    Ok((Box::new(Copy), p.first()?))
}

impl Prepared for Copy {
    fn execute(&self, mut io: Io<'_>, _: &mut Scratch) -> Result<(), KernelError> {
        let src = io.input(0).bytes();
        let dst = io.output().bytes_mut();
        check_len("reshape", "output", dst.len(), src.len())?;
        dst.copy_from_slice(src);
        Ok(())
    }
}
