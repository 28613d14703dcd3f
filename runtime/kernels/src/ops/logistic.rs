//! LOGISTIC: TFLite's sigmoid table, made once from the model's scales
//! ([`crate::logistic`]).

use fibha_model::LOGISTIC_OUTPUT_SCALE;

use super::{EightBit, Prep, Preparation};
use crate::arena::{Element, Io};
use crate::conv::Scratch;
use crate::error::KernelError;
use crate::logistic::LookupTable;
use crate::quant::{lookup_table, sigmoid_f32};

/// Prepares a LOGISTIC node.
pub(super) fn prepare(p: &Prep<'_>) -> Result<Preparation, KernelError> {
    let (input, output) = (p.input(0)?, p.output()?);
    p.check(input.check_same_dtype(output))?;
    p.check(output.check_shape(&input.shape))?;
    p.check(output.check_fixed_scale(LOGISTIC_OUTPUT_SCALE, "TFLite's 8-bit LOGISTIC"))?;
    let input_q = p.quant(input, "input")?;
    let output_q = p.quant(output, "output")?;
    let range = output
        .dtype
        .range_8bit()
        .ok_or_else(|| p.err("output is not 8-bit"))?;
    let table = lookup_table(range, input_q, output_q, sigmoid_f32);
    Ok((Box::new(LookupTable::new(range, table)), p.first()?))
}

impl EightBit for LookupTable {
    fn run<T: Element>(&self, mut io: Io<'_>, _: &mut Scratch) -> Result<(), KernelError> {
        let input = io.input_8bit::<T>(0)?;
        self.apply(input, io.output_8bit()?)
    }
}
