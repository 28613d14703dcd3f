//! ADD: the multipliers of TFLite's quantized addition ([`crate::add`]).

use fibha_model::Activation;

use super::{EightBit, Prep, Preparation};
use crate::add::{AddParams, add};
use crate::arena::{Element, Io};
use crate::conv::Scratch;
use crate::error::KernelError;
use crate::quant::add_multipliers;

/// Prepares an ADD node.
pub(super) fn prepare(p: &Prep<'_>, activation: Activation) -> Result<Preparation, KernelError> {
    let (a, b, output) = (p.input(0)?, p.input(1)?, p.output()?);
    p.check(a.check_same_dtype(b))?;
    p.check(a.check_same_dtype(output))?;
    if a.shape != b.shape || a.shape != output.shape {
        return Err(p.err(format!(
            "shapes {:?} + {:?} -> {:?}; broadcasting is not supported",
            a.shape, b.shape, output.shape
        )));
    }
    let (sa, za) = p.quant(a, "input 0")?;
    let (sb, zb) = p.quant(b, "input 1")?;
    let (so, zo) = p.quant(output, "output")?;
    let (min, max) = p.range(activation, output)?;
    let params = AddParams {
        input1_offset: -za,
        input2_offset: -zb,
        output_offset: zo,
        multipliers: add_multipliers(sa, sb, so),
        min,
        max,
    };
    Ok((Box::new(params), vec![p.input_id(0)?, p.input_id(1)?]))
}

impl EightBit for AddParams {
    fn run<T: Element>(&self, mut io: Io<'_>, _: &mut Scratch) -> Result<(), KernelError> {
        add(
            self,
            io.input_8bit::<T>(0)?,
            io.input_8bit(1)?,
            io.output_8bit()?,
        )
    }
}
