//! DEQUANTIZE: 8-bit to float at a model's output ([`crate::quantize`]).

use fibha_model::DType;

use super::{Prep, Preparation, Prepared};
use crate::arena::{Buffer, Io, mismatch};
use crate::conv::Scratch;
use crate::error::KernelError;
use crate::quantize::dequantize;

/// A prepared DEQUANTIZE.
#[derive(Debug)]
struct Dequantize {
    scale: f32,
    zero_point: i32,
}

/// Prepares a DEQUANTIZE node.
pub(super) fn prepare(p: &Prep<'_>) -> Result<Preparation, KernelError> {
    let (input, output) = (p.input(0)?, p.output()?);
    let (scale, zero_point) = p.quant(input, "input")?;
    if output.dtype != DType::Float32 || input.len() != output.len() {
        return Err(p.err(format!(
            "output is {} {:?}, expected float32 {:?}",
            output.dtype, output.shape, input.shape
        )));
    }
    Ok((Box::new(Dequantize { scale, zero_point }), p.first()?))
}

impl Prepared for Dequantize {
    fn execute(&self, mut io: Io<'_>, _: &mut Scratch) -> Result<(), KernelError> {
        let input = io.input(0);
        let Buffer::F32(o) = io.output() else {
            return Err(mismatch());
        };
        match input {
            Buffer::I8(x) => dequantize(self.scale, self.zero_point, x, o),
            Buffer::U8(x) => dequantize(self.scale, self.zero_point, x, o),
            _ => Err(mismatch()),
        }
    }
}
