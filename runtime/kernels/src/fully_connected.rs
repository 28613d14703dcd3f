//! FULLY_CONNECTED over 8-bit tensors.
//!
//! TFLite's arithmetic (reference `FullyConnected` for uint8,
//! `reference_integer_ops::FullyConnected`/`FullyConnectedPerChannel` for int8): the input
//! is taken as rows of `depth` values; each output is the wrapping `i32` sum of
//! `(w + filter_offset) * (x + input_offset)` over a row, plus bias, requantized with
//! `MultiplyByQuantizedMultiplier` (per channel for per-channel filters, otherwise one
//! multiplier from the `f32` product of the input and filter scales), plus the output zero
//! point, clamped to the fused activation's range.
//!
//! [`fully_connected_reference`] is the plain loop; [`FullyConnected`] runs the same
//! computation on the packed `i16` matrix product that convolutions use.

use crate::conv::{BlockKernel, BlockRun, ConvOffsets, Scratch, ScratchNeed, widen_run};
use crate::error::{KernelError, check_len};
use crate::gemm::{PackedWeights, Pair, gemm, padded_rows};
use crate::quant::{OutputStage, Q8};
use crate::simd::Isa;

/// The sizes of a fully-connected layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FcShape {
    /// Input rows (the batch, after flattening).
    pub rows: usize,
    /// Values per input row.
    pub depth: usize,
    /// Outputs per row.
    pub units: usize,
}

fn check_operands(
    kernel: &'static str,
    shape: &FcShape,
    stage: &OutputStage,
    (input, weights, output): (usize, usize, usize),
) -> Result<(), KernelError> {
    check_len(kernel, "input", input, shape.rows * shape.depth)?;
    check_len(kernel, "weights", weights, shape.units * shape.depth)?;
    check_len(kernel, "output", output, shape.rows * shape.units)?;
    stage.check(kernel, shape.units)
}

/// FULLY_CONNECTED as TFLite's reference kernel computes it.
pub fn fully_connected_reference<T: Q8>(
    shape: &FcShape,
    offsets: ConvOffsets,
    stage: &OutputStage,
    input: &[T],
    weights: &[T],
    output: &mut [T],
) -> Result<(), KernelError> {
    check_operands(
        "fully_connected_reference",
        shape,
        stage,
        (input.len(), weights.len(), output.len()),
    )?;
    for r in 0..shape.rows {
        for u in 0..shape.units {
            let mut acc = 0_i32;
            for k in 0..shape.depth {
                let x = input[r * shape.depth + k].to_i32();
                let w = weights[u * shape.depth + k].to_i32();
                acc = acc.wrapping_add((w + offsets.filter) * (x + offsets.input));
            }
            output[r * shape.units + u] = T::saturate(stage.apply(u, acc));
        }
    }
    Ok(())
}

/// A FULLY_CONNECTED prepared for fast execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullyConnected {
    shape: FcShape,
    input_offset: i32,
    weights: PackedWeights,
    stage: OutputStage,
}

/// Rows converted per block.
const ROW_BLOCK: usize = 16;

impl FullyConnected {
    /// Packs `weights` (`[units, depth]`) for `shape`.
    pub fn new<T: Q8>(
        shape: FcShape,
        offsets: ConvOffsets,
        weights: &[T],
        stage: OutputStage,
    ) -> Result<Self, KernelError> {
        check_operands(
            "fully_connected",
            &shape,
            &stage,
            (
                shape.rows * shape.depth,
                weights.len(),
                shape.rows * shape.units,
            ),
        )?;
        let packed = PackedWeights::pack(shape.units, shape.depth, |u, k| {
            (weights[u * shape.depth + k].to_i32() + offsets.filter) as i16
        });
        Ok(FullyConnected {
            shape,
            input_offset: offsets.input,
            weights: packed,
            stage,
        })
    }

    /// The sizes this layer was prepared for.
    pub fn shape(&self) -> &FcShape {
        &self.shape
    }

    /// The scratch this kernel uses.
    pub fn scratch_need(&self) -> ScratchNeed {
        let block = ROW_BLOCK.min(self.shape.rows);
        ScratchNeed {
            rows: padded_rows(block) * self.weights.pairs,
            acc: 0,
            wide: 0,
        }
    }

    /// Runs the layer; `scratch` grows if it is smaller than [`Self::scratch_need`].
    pub fn run<T: Q8>(
        &self,
        input: &[T],
        output: &mut [T],
        scratch: &mut Scratch,
    ) -> Result<(), KernelError> {
        check_len(
            "fully_connected",
            "input",
            input.len(),
            self.shape.rows * self.shape.depth,
        )?;
        check_len(
            "fully_connected",
            "output",
            output.len(),
            self.shape.rows * self.shape.units,
        )?;
        scratch.reserve_for(self.scratch_need());
        crate::simd::dispatch(BlockRun {
            kernel: self,
            input,
            output,
            scratch,
        });
        Ok(())
    }
}

impl BlockKernel for FullyConnected {
    #[inline(always)]
    fn run_blocks<T: Q8>(&self, isa: Isa, input: &[T], output: &mut [T], scratch: &mut Scratch) {
        let FcShape { rows, depth, units } = self.shape;
        let pairs = self.weights.pairs;
        let mut r0 = 0;
        while r0 < rows {
            let count = ROW_BLOCK.min(rows - r0);
            let packed: &mut [Pair] = &mut scratch.rows[..padded_rows(count) * pairs];
            for (row, src) in packed
                .chunks_exact_mut(pairs)
                .zip(input[r0 * depth..(r0 + count) * depth].chunks_exact(depth))
            {
                let flat = row.as_flattened_mut();
                widen_run(src, self.input_offset, &mut flat[..depth]);
                flat[depth..].fill(0);
            }
            let out = &mut output[r0 * units..(r0 + count) * units];
            gemm(isa, packed, count, &self.weights, &self.stage, out);
            r0 += count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{QuantizedMultiplier, quantize_multiplier};
    use crate::simd::Vectorized;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fast_matches_reference(
            (rows, depth, units) in (1_usize..5, 1_usize..40, 1_usize..30),
            zi in 0_i32..=255, zf in 0_i32..=255, zo in 0_i32..=255,
            m in 0.0001_f64..0.1,
            seed in proptest::collection::vec(0_i32..=255, 4000),
        ) {
            let shape = FcShape { rows, depth, units };
            let input: Vec<u8> = seed.iter().take(rows * depth).map(|&v| v as u8).collect();
            let weights: Vec<u8> = seed.iter().rev().take(units * depth).map(|&v| v as u8).collect();
            let bias: Vec<i32> = (0..units as i32).map(|u| u * 37 - 300).collect();
            let mult: Vec<QuantizedMultiplier> = vec![quantize_multiplier(m); units];
            let stage = OutputStage::new(Some(&bias), &mult, zo, (0, 255));
            let offsets = ConvOffsets { input: -zi, filter: -zf };
            let mut want = vec![0_u8; rows * units];
            fully_connected_reference(&shape, offsets, &stage, &input, &weights, &mut want).expect("valid");
            let fc = FullyConnected::new(shape, offsets, &weights, stage).expect("valid");
            let mut got = vec![0_u8; rows * units];
            fc.run(&input, &mut got, &mut Scratch::new()).expect("valid");
            prop_assert_eq!(&got, &want);
            for isa in crate::simd::available() {
                let mut got = vec![0_u8; rows * units];
                let mut scratch = Scratch::new();
                scratch.reserve_for(fc.scratch_need());
                BlockRun { kernel: &fc, input: &input, output: &mut got, scratch: &mut scratch }.run(isa);
                prop_assert_eq!(&got, &want, "{:?}", isa);
            }
        }
    }
}
