//! The tile of [`crate::gemm`]'s matrix product with AArch64 NEON, for the Cortex-A53
//! (ARMv8.0: no `sdot`).
//!
//! NEON has no `pmaddwd`; its widest exact `i16` step is `smlal`/`smlal2`, four
//! `i16 x i16 -> i32` products added to four lanes, with one operand a broadcast element.
//! The packed weight chunk of a block (the two depths of each of its [`BLOCK`] channels
//! side by side) is split once per depth pair with `uzp1`/`uzp2` into the channels' first
//! and second depths, which all rows of the tile then share; each row's two depth values
//! multiply them as broadcast scalars. Same operands, packing and output stage as the
//! other instruction sets, so the sums are the same `i32`s.
//!
//! The intrinsics come through pulp's safe wrappers, whose [`Neon`] token proves the
//! feature; the vectors are converted from and to arrays with `bytemuck` casts, so this
//! module has no `unsafe`.

use core::arch::aarch64::{int16x8_t, int32x4_t};
use pulp::core_arch::aarch64::Neon;

use crate::gemm::{BLOCK, Pair, WeightChunk};

/// `sums[i][j] += rows[i] . blocks[j]` over the `n` depth pairs, for `MP` rows and `NB`
/// weight blocks; `sums` holds the starting values (the biases).
#[inline(always)]
pub(crate) fn tile<const MP: usize, const NB: usize>(
    neon: Neon,
    rows: &[&[Pair]; MP],
    blocks: &[&[WeightChunk]; NB],
    n: usize,
    sums: &mut [[[i32; BLOCK]; NB]; MP],
) {
    let zero: int32x4_t = pulp::cast([0_i32; 4]);
    let mut acc: [[[int32x4_t; 4]; NB]; MP] = [[[zero; 4]; NB]; MP];
    for (a, s) in acc.iter_mut().zip(sums.iter()) {
        for (a, &s) in a.iter_mut().zip(s) {
            *a = pulp::cast(s);
        }
    }
    for k in 0..n {
        let zero16: int16x8_t = pulp::cast([0_i16; 8]);
        let mut split = [[zero16; 4]; NB];
        for (d, block) in split.iter_mut().zip(blocks) {
            *d = split_depths(neon, &block[k]);
        }
        for (a, row) in acc.iter_mut().zip(rows) {
            let [x0, x1] = row[k];
            for (a, w) in a.iter_mut().zip(&split) {
                multiply_add(neon, a, w, x0, x1);
            }
        }
    }
    for (s, a) in sums.iter_mut().zip(&acc) {
        for (s, &a) in s.iter_mut().zip(a) {
            *s = pulp::cast(a);
        }
    }
}

/// A weight chunk as `[first depth of channels 0-7, second depth of 0-7, first of 8-15,
/// second of 8-15]`.
#[inline(always)]
fn split_depths(neon: Neon, chunk: &WeightChunk) -> [int16x8_t; 4] {
    let [a, b, c, d]: [int16x8_t; 4] = pulp::cast(*chunk);
    [
        neon.vuzp1q_s16(a, b),
        neon.vuzp2q_s16(a, b),
        neon.vuzp1q_s16(c, d),
        neon.vuzp2q_s16(c, d),
    ]
}

/// Adds `x0 * w[first depth] + x1 * w[second depth]` to the 16 channel sums `acc` (four
/// vectors of four channels).
#[inline(always)]
fn multiply_add(neon: Neon, acc: &mut [int32x4_t; 4], w: &[int16x8_t; 4], x0: i16, x1: i16) {
    let [first_low, second_low, first_high, second_high] = *w;
    let step = |acc: int32x4_t, first: int16x8_t, second: int16x8_t, half: usize| {
        let (first, second) = match half {
            0 => (neon.vget_low_s16(first), neon.vget_low_s16(second)),
            _ => (neon.vget_high_s16(first), neon.vget_high_s16(second)),
        };
        neon.vmlal_n_s16(neon.vmlal_n_s16(acc, first, x0), second, x1)
    };
    acc[0] = step(acc[0], first_low, second_low, 0);
    acc[1] = step(acc[1], first_low, second_low, 1);
    acc[2] = step(acc[2], first_high, second_high, 0);
    acc[3] = step(acc[3], first_high, second_high, 1);
}

#[cfg(test)]
mod tests {
    use crate::gemm::{PackedWeights, gemm, padded_rows, pairs_for};
    use crate::quant::{OutputStage, quantize_multiplier};
    use crate::simd::Isa;
    use proptest::prelude::*;

    /// A product: `m` rows of `depth` left values, `outputs` rows of weights.
    fn product() -> impl Strategy<Value = (usize, usize, usize, Vec<i16>, Vec<i16>)> {
        (1_usize..20, 1_usize..40, 1_usize..40).prop_flat_map(|(m, outputs, depth)| {
            (
                Just(m),
                Just(outputs),
                Just(depth),
                proptest::collection::vec(-255_i16..=255, m * depth),
                proptest::collection::vec(-255_i16..=255, outputs * depth),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Odd depths, partial last blocks and partial last tiles against plain dot
        /// products; a small multiplier keeps most outputs off the clamp.
        #[test]
        fn neon_gemm_matches_plain_dot_products(
            (m, outputs, depth, left_values, weights) in product(),
            scale in 1.0e-5_f64..1.0e-3,
        ) {
            let neon = pulp::core_arch::aarch64::Neon::try_new().expect("NEON");
            let pairs = pairs_for(depth);
            let mut left = vec![[0_i16; 2]; padded_rows(m) * pairs];
            for p in 0..m {
                for k in 0..depth {
                    left[p * pairs + k / 2][k % 2] = left_values[p * depth + k];
                }
            }
            let w = PackedWeights::pack(outputs, depth, |o, k| weights[o * depth + k]);
            let multipliers = vec![quantize_multiplier(scale); outputs];
            let bias: Vec<i32> = (0..outputs as i32).map(|o| o * 37 - 500).collect();
            let stage = OutputStage::new(Some(&bias), &multipliers, -3, (-128, 127));
            let mut out = vec![0_i8; m * outputs];
            gemm(Isa::Neon(neon), &left, m, &w, &stage, &mut out);
            for p in 0..m {
                for o in 0..outputs {
                    let dot: i32 = (0..depth)
                        .map(|k| {
                            i32::from(left_values[p * depth + k]) * i32::from(weights[o * depth + k])
                        })
                        .sum();
                    prop_assert_eq!(out[p * outputs + o], stage.apply(o, dot) as i8, "p {} o {}", p, o);
                }
            }
        }
    }
}
