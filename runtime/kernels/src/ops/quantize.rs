//! QUANTIZE: float to 8-bit at a model's input, or 8-bit to 8-bit requantization
//! ([`crate::quantize`]).

use fibha_model::DType;

use super::{Prep, Preparation, Prepared};
use crate::arena::{Buffer, Io, mismatch};
use crate::conv::Scratch;
use crate::error::KernelError;
use crate::quant::{QuantizedMultiplier, rescale_multiplier};
use crate::quantize::{quantize_f32, requantize};

/// A prepared QUANTIZE of a float input.
#[derive(Debug)]
struct QuantizeFloat {
    scale: f32,
    zero_point: i32,
}

/// A prepared QUANTIZE of an 8-bit input into another scale or type.
#[derive(Debug)]
struct Requantize {
    multiplier: QuantizedMultiplier,
    input_zero_point: i32,
    output_zero_point: i32,
}

/// Prepares a QUANTIZE node.
pub(super) fn prepare(p: &Prep<'_>) -> Result<Preparation, KernelError> {
    let (input, output) = (p.input(0)?, p.output()?);
    let (so, zo) = p.quant(output, "output")?;
    if input.len() != output.len() {
        return Err(p.err(format!("{:?} -> {:?}", input.shape, output.shape)));
    }
    let kernel: Box<dyn Prepared> = if input.dtype == DType::Float32 {
        Box::new(QuantizeFloat {
            scale: so,
            zero_point: zo,
        })
    } else {
        let (si, zi) = p.quant(input, "input")?;
        Box::new(Requantize {
            multiplier: rescale_multiplier(si, so),
            input_zero_point: zi,
            output_zero_point: zo,
        })
    };
    Ok((kernel, p.first()?))
}

impl Prepared for QuantizeFloat {
    fn execute(&self, mut io: Io<'_>, _: &mut Scratch) -> Result<(), KernelError> {
        let Buffer::F32(x) = io.input(0) else {
            return Err(mismatch());
        };
        match io.output() {
            Buffer::I8(o) => quantize_f32(self.scale, self.zero_point, x, o),
            Buffer::U8(o) => quantize_f32(self.scale, self.zero_point, x, o),
            _ => Err(mismatch()),
        }
    }
}

impl Prepared for Requantize {
    fn execute(&self, mut io: Io<'_>, _: &mut Scratch) -> Result<(), KernelError> {
        let (m, zi, zo) = (
            self.multiplier,
            self.input_zero_point,
            self.output_zero_point,
        );
        match (io.input(0), io.output()) {
            (Buffer::I8(x), Buffer::I8(o)) => requantize(m, zi, zo, x, o),
            (Buffer::I8(x), Buffer::U8(o)) => requantize(m, zi, zo, x, o),
            (Buffer::U8(x), Buffer::I8(o)) => requantize(m, zi, zo, x, o),
            (Buffer::U8(x), Buffer::U8(o)) => requantize(m, zi, zo, x, o),
            _ => Err(mismatch()),
        }
    }
}
