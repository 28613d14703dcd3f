//! PAD: fills with the output's zero point ([`crate::pad`]).

use super::{EightBit, Prep, Preparation};
use crate::arena::{Element, Io};
use crate::conv::Scratch;
use crate::error::KernelError;
use crate::pad::pad;

/// A prepared PAD of an input of `shape`.
#[derive(Debug)]
struct Pad {
    shape: Vec<usize>,
    paddings: Vec<[usize; 2]>,
    value: i32,
}

/// Prepares a PAD node by `paddings`.
pub(super) fn prepare(p: &Prep<'_>, paddings: &[[usize; 2]]) -> Result<Preparation, KernelError> {
    let (input, output) = (p.input(0)?, p.output()?);
    p.check(input.check_same_dtype(output))?;
    let (_, zero_point) = p.quant(output, "output")?;
    let padded: Vec<usize> = input
        .shape
        .iter()
        .zip(paddings)
        .map(|(n, [a, b])| n + a + b)
        .collect();
    if paddings.len() != input.shape.len() || padded != output.shape {
        return Err(p.err(format!(
            "{:?} padded by {paddings:?} is not {:?}",
            input.shape, output.shape
        )));
    }
    let kernel = Pad {
        shape: input.shape.clone(),
        paddings: paddings.to_vec(),
        value: zero_point,
    };
    Ok((Box::new(kernel), p.first()?))
}

impl EightBit for Pad {
    fn run<T: Element>(&self, mut io: Io<'_>, _: &mut Scratch) -> Result<(), KernelError> {
        let input = io.input_8bit::<T>(0)?;
        let value = T::saturate(self.value);
        pad(&self.shape, &self.paddings, value, input, io.output_8bit()?)
    }
}
