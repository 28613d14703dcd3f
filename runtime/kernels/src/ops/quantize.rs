//! QUANTIZE: float to 8-bit at a model's input, or 8-bit to 8-bit requantization as a map
//! of bytes ([`crate::quantize`]).

use fibha_model::DType;

use super::{Prep, Preparation, Prepared};
use crate::arena::{Buffer, Io, mismatch};
use crate::conv::Scratch;
use crate::error::KernelError;
use crate::quant::rescale_multiplier;
use crate::quantize::{ByteMap, quantize_f32};

/// A prepared QUANTIZE of a float input.
#[derive(Debug)]
struct QuantizeFloat {
    scale: f32,
    zero_point: i32,
}

/// A prepared QUANTIZE of an 8-bit input into another scale or type.
#[derive(Debug)]
struct Requantize(ByteMap);

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
        let m = rescale_multiplier(si, so);
        Box::new(Requantize(match (input.dtype, output.dtype) {
            (DType::Int8, DType::Int8) => ByteMap::new::<i8, i8>(m, zi, zo),
            (DType::Int8, DType::UInt8) => ByteMap::new::<i8, u8>(m, zi, zo),
            (DType::UInt8, DType::Int8) => ByteMap::new::<u8, i8>(m, zi, zo),
            (DType::UInt8, DType::UInt8) => ByteMap::new::<u8, u8>(m, zi, zo),
            (from, to) => return Err(p.err(format!("{from} -> {to}"))),
        }))
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
        let input = io.input(0).bytes();
        self.0.apply(input, io.output().bytes_mut())
    }
}
