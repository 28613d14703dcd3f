//! MUL: the multiplier and broadcast of TFLite's quantized multiplication ([`crate::mul`]).

use fibha_model::Activation;

use super::{EightBit, Prep, Preparation};
use crate::arena::{Element, Io};
use crate::conv::Scratch;
use crate::error::KernelError;
use crate::mul::{Broadcast, MulParams, mul};
use crate::quant::mul_multiplier;

/// A prepared MUL.
#[derive(Debug)]
struct Mul {
    params: MulParams,
    broadcast: Broadcast,
}

/// Prepares a MUL node.
pub(super) fn prepare(p: &Prep<'_>, activation: Activation) -> Result<Preparation, KernelError> {
    let (a, b, output) = (p.input(0)?, p.input(1)?, p.output()?);
    p.check(a.check_same_dtype(b))?;
    p.check(a.check_same_dtype(output))?;
    let shape = p.check(a.broadcast_shape(b))?;
    p.check(output.check_shape(&shape))?;
    let broadcast = p.check(Broadcast::new(&a.shape, &b.shape, &output.shape))?;
    let (sa, za) = p.quant(a, "input 0")?;
    let (sb, zb) = p.quant(b, "input 1")?;
    let (so, zo) = p.quant(output, "output")?;
    let multiplier = mul_multiplier(sa, sb, so);
    if !(-31..=30).contains(&multiplier.shift) {
        return Err(p.err(format!(
            "scales {sa} x {sb} / {so} give a multiplier of 2^{}, beyond TFLite's 32-bit arithmetic",
            multiplier.shift
        )));
    }
    let (min, max) = p.range(activation, output)?;
    let params = MulParams {
        input1_offset: -za,
        input2_offset: -zb,
        output_offset: zo,
        multiplier,
        min,
        max,
    };
    Ok((
        Box::new(Mul { params, broadcast }),
        vec![p.input_id(0)?, p.input_id(1)?],
    ))
}

impl EightBit for Mul {
    fn run<T: Element>(&self, mut io: Io<'_>, _: &mut Scratch) -> Result<(), KernelError> {
        mul(
            &self.params,
            &self.broadcast,
            io.input_8bit::<T>(0)?,
            io.input_8bit(1)?,
            io.output_8bit()?,
        )
    }
}
