//! The integer matrix product behind convolutions and fully-connected layers.
//!
//! `acc[p][o] = sum_k x[p][k] * w[o][k]`, both operands `i16` with their zero points already
//! folded in (`x + input_offset`, `w + filter_offset`), so every product is an exact
//! `i16 x i16 -> i32` and the sum wraps on `i32` overflow as TFLite's does in practice.
//!
//! Layout, chosen so that the inner loop is a fixed-width multiply-accumulate that LLVM
//! turns into `pmaddwd` (x86) or `smlal` (AArch64) with no bounds checks and no horizontal
//! sums: output channels are the vector lanes. The depth is taken in pairs; a left row is a
//! list of `[x[k], x[k+1]]` pairs, and the weights of each block of [`BLOCK`] output channels
//! are stored pair by pair with the two depths of each channel side by side. One step of the
//! inner loop multiplies a broadcast pair of one pixel with one such weight chunk and adds
//! the [`BLOCK`] results to that pixel's accumulators. Padding (odd depth, a partial last
//! block of channels) is zero and contributes nothing.

use crate::simd::Isa;

/// Output channels per weight block (vector lanes).
pub(crate) const BLOCK: usize = 8;

/// Two consecutive depth values of one pixel.
pub(crate) type Pair = [i16; 2];

/// One depth pair of the [`BLOCK`] channels of a block, channel after channel.
pub(crate) type WeightChunk = [i16; 2 * BLOCK];

/// Weights packed for [`gemm`]: `blocks` blocks of `pairs` chunks each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PackedWeights {
    /// Number of output channels (rows of the weight matrix).
    pub outputs: usize,
    /// Depth pairs per row.
    pub pairs: usize,
    /// Blocks of [`BLOCK`] output channels.
    pub blocks: usize,
    data: Vec<WeightChunk>,
}

impl PackedWeights {
    /// Packs `outputs` rows of `depth` weights, `weight(o, k)`.
    pub fn pack(outputs: usize, depth: usize, weight: impl Fn(usize, usize) -> i16) -> Self {
        let pairs = pairs_for(depth);
        let blocks = outputs.div_ceil(BLOCK);
        let mut data = vec![[0_i16; 2 * BLOCK]; blocks * pairs];
        for o in 0..outputs {
            for k in 0..depth {
                data[(o / BLOCK) * pairs + k / 2][(o % BLOCK) * 2 + k % 2] = weight(o, k);
            }
        }
        PackedWeights {
            outputs,
            pairs,
            blocks,
            data,
        }
    }

    /// The accumulator row stride: outputs rounded up to whole blocks of the output
    /// stage (which requantizes whole blocks of 16; the extra accumulators are ignored).
    pub fn padded_outputs(&self) -> usize {
        self.outputs.div_ceil(crate::quant::REQUANT_LANES) * crate::quant::REQUANT_LANES
    }

    /// Block `b`.
    #[inline(always)]
    fn block(&self, b: usize) -> &[WeightChunk] {
        &self.data[b * self.pairs..(b + 1) * self.pairs]
    }
}

/// Depth pairs needed for a row of `depth` values.
pub(crate) fn pairs_for(depth: usize) -> usize {
    depth.div_ceil(2)
}

/// Pixels per tile.
const TILE_PIXELS: usize = 4;
/// Weight blocks per tile.
const TILE_BLOCKS: usize = 2;

/// `acc[p * w.padded_outputs() + o] = left[p] . w[o]` for the `m` left rows of `left`
/// (`w.pairs` pairs each).
#[inline(always)]
pub(crate) fn gemm(isa: Isa, left: &[Pair], m: usize, w: &PackedWeights, acc: &mut [i32]) {
    let n = w.pairs;
    let stride = w.padded_outputs();
    let left = &left[..m * n];
    let acc = &mut acc[..m * stride];
    let mut b = 0;
    while b < w.blocks {
        let nb = (w.blocks - b).min(TILE_BLOCKS);
        let mut p = 0;
        while p < m {
            let mp = (m - p).min(TILE_PIXELS);
            match (mp, nb) {
                (4, 2) => tile::<4, 2>(isa, left, p, w, b, acc),
                (3, 2) => tile::<3, 2>(isa, left, p, w, b, acc),
                (2, 2) => tile::<2, 2>(isa, left, p, w, b, acc),
                (1, 2) => tile::<1, 2>(isa, left, p, w, b, acc),
                (4, _) => tile::<4, 1>(isa, left, p, w, b, acc),
                (3, _) => tile::<3, 1>(isa, left, p, w, b, acc),
                (2, _) => tile::<2, 1>(isa, left, p, w, b, acc),
                _ => tile::<1, 1>(isa, left, p, w, b, acc),
            }
            p += mp;
        }
        b += nb;
    }
}

/// `MP` pixels from `p` against `NB` weight blocks from `b`.
///
/// The hot loops avoid `array::map`/`array::from_fn`, which LLVM does not inline into the
/// vectorized copies of the kernels.
#[inline(always)]
fn tile<const MP: usize, const NB: usize>(
    isa: Isa,
    left: &[Pair],
    p: usize,
    w: &PackedWeights,
    b: usize,
    acc: &mut [i32],
) {
    let n = w.pairs;
    let mut rows: [&[Pair]; MP] = [&[]; MP];
    for (i, r) in rows.iter_mut().enumerate() {
        *r = &left[(p + i) * n..(p + i + 1) * n];
    }
    let mut blocks: [&[WeightChunk]; NB] = [&[]; NB];
    for (j, blk) in blocks.iter_mut().enumerate() {
        *blk = w.block(b + j);
    }
    let stride = w.padded_outputs();
    let mut sums = [[[0_i32; BLOCK]; NB]; MP];
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::V3(v3) => tile_avx2(v3, &rows, &blocks, n, &mut sums),
        Isa::Baseline => tile_portable(&rows, &blocks, n, &mut sums),
    }
    for (i, sum) in sums.iter().enumerate() {
        let row = &mut acc[(p + i) * stride + b * BLOCK..][..NB * BLOCK];
        row.copy_from_slice(sum.as_flattened());
    }
}

/// The tile in plain Rust, for LLVM to vectorize as it can.
#[inline(always)]
fn tile_portable<const MP: usize, const NB: usize>(
    rows: &[&[Pair]; MP],
    blocks: &[&[WeightChunk]; NB],
    n: usize,
    sums: &mut [[[i32; BLOCK]; NB]; MP],
) {
    for k in 0..n {
        for (sum, row) in sums.iter_mut().zip(rows) {
            let [x0, x1] = row[k];
            let (x0, x1) = (i32::from(x0), i32::from(x1));
            for (s, block) in sum.iter_mut().zip(blocks) {
                let c = &block[k];
                for (l, s) in s.iter_mut().enumerate() {
                    let v = x0 * i32::from(c[2 * l]) + x1 * i32::from(c[2 * l + 1]);
                    *s = s.wrapping_add(v);
                }
            }
        }
    }
}

/// The tile with AVX2's `vpmaddwd`: one broadcast depth pair times one weight chunk gives
/// the [`BLOCK`] channel sums of two products each (exact: no pair sum overflows `i32`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn tile_avx2<const MP: usize, const NB: usize>(
    v3: pulp::x86::V3,
    rows: &[&[Pair]; MP],
    blocks: &[&[WeightChunk]; NB],
    n: usize,
    out: &mut [[[i32; BLOCK]; NB]; MP],
) {
    use core::arch::x86_64::__m256i;
    let (avx, avx2) = (v3.avx, v3.avx2);
    let mut sums: [[__m256i; NB]; MP] = [[avx._mm256_setzero_si256(); NB]; MP];
    for k in 0..n {
        let mut chunks: [__m256i; NB] = [avx._mm256_setzero_si256(); NB];
        for (c, block) in chunks.iter_mut().zip(blocks) {
            *c = pulp::cast(block[k]);
        }
        for (sum, row) in sums.iter_mut().zip(rows) {
            let pair = avx._mm256_set1_epi32(pulp::cast(row[k]));
            for (s, &c) in sum.iter_mut().zip(&chunks) {
                *s = avx2._mm256_add_epi32(*s, avx2._mm256_madd_epi16(pair, c));
            }
        }
    }
    for (o, s) in out.iter_mut().zip(&sums) {
        for (o, &s) in o.iter_mut().zip(s) {
            *o = pulp::cast(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_plain_dot_products() {
        let (m, outputs, depth) = (7, 21, 19);
        let lv = |r: usize, i: usize| ((r * 31 + i * 7) % 511) as i16 - 255;
        let rv = |r: usize, i: usize| ((r * 13 + i * 17) % 509) as i16 - 254;
        let pairs = pairs_for(depth);
        let mut left = vec![[0_i16; 2]; m * pairs];
        for p in 0..m {
            for k in 0..depth {
                left[p * pairs + k / 2][k % 2] = lv(p, k);
            }
        }
        let w = PackedWeights::pack(outputs, depth, rv);
        let stride = w.padded_outputs();
        for isa in crate::simd::available() {
            let mut acc = vec![0; m * stride];
            gemm(isa, &left, m, &w, &mut acc);
            for p in 0..m {
                for o in 0..outputs {
                    let want: i32 = (0..depth)
                        .map(|i| i32::from(lv(p, i)) * i32::from(rv(o, i)))
                        .sum();
                    assert_eq!(acc[p * stride + o], want, "{isa:?} p {p} o {o}");
                }
            }
        }
    }
}
