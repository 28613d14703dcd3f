//! The integer matrix product behind convolutions and fully-connected layers, with the
//! output stage fused into it.
//!
//! `acc[p][o] = sum_k x[p][k] * w[o][k]`, both operands `i16` with their zero points already
//! folded in (`x + input_offset`, `w + filter_offset`), so every product is an exact
//! `i16 x i16 -> i32` and the sum wraps on `i32` overflow as TFLite's does in practice.
//! Each finished tile of accumulators is requantized and stored while it is still in
//! registers, so no `i32` matrix ever goes through memory.
//!
//! Layout, chosen so that the inner loop is a fixed-width multiply-accumulate
//! (`vpmaddwd` on x86, `smlal` on AArch64 in [`crate::gemm_neon`]) with no bounds checks
//! and no horizontal sums: output channels are the vector lanes. The depth is taken in pairs; a left row is a
//! list of `[x[k], x[k+1]]` pairs, and the weights of each block of [`BLOCK`] output channels
//! are stored pair by pair with the two depths of each channel side by side (one 512-bit
//! vector, or two 256-bit ones). One step of the inner loop multiplies a broadcast pair of
//! one pixel with one such weight chunk and adds the [`BLOCK`] results to that pixel's
//! accumulators. Padding (odd depth, a partial last block of channels) is zero and
//! contributes nothing.
//!
//! A tile is `MP` pixels by `NB` blocks, sized per instruction set so that its
//! accumulators fill most of the vector registers (the more of them, the fewer loads per
//! multiply). The left matrix is given whole tiles of rows ([`padded_rows`]): the last tile
//! reads the padding rows, whatever they hold, instead of needing a smaller copy of the
//! kernel or a clamped row index in the hot loop, and their results are not stored.

use crate::quant::{OutputStage, Q8, REQUANT_LANES, store_block};
use crate::simd::Isa;

/// Output channels per weight block (vector lanes), one output-stage block.
pub(crate) const BLOCK: usize = REQUANT_LANES;

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

/// Rows the left matrix of an `m`-row product must hold: `m` rounded up to whole tiles
/// of every instruction set's tile height.
pub(crate) fn padded_rows(m: usize) -> usize {
    m.next_multiple_of(TILE_ROWS)
}

/// A multiple of every tile height `gemm` uses.
pub(crate) const TILE_ROWS: usize = 8;

/// Fails the build if a tile height `MP` does not divide [`TILE_ROWS`].
struct CheckTileHeight<const MP: usize>;

impl<const MP: usize> CheckTileHeight<MP> {
    const OK: () = assert!(
        TILE_ROWS.is_multiple_of(MP),
        "tile height must divide TILE_ROWS"
    );
}

/// `out[p * w.outputs + o]` = `stage` applied to `left[p] . w[o]` for the first `m` of the
/// [`padded_rows`]`(m)` rows of `left` (`w.pairs` pairs each).
#[inline(always)]
pub(crate) fn gemm<T: Q8>(
    isa: Isa,
    left: &[Pair],
    m: usize,
    w: &PackedWeights,
    stage: &OutputStage,
    out: &mut [T],
) {
    let product = Product {
        left: &left[..padded_rows(m) * w.pairs],
        m,
        w,
        stage,
    };
    let out = &mut out[..m * w.outputs];
    match isa {
        // 8 x 2 tiles: 16 of the 32 zmm registers hold accumulators (8 x 2, 4 x 4 and
        // 6 x 4 measured alike on Zen 4).
        #[cfg(target_arch = "x86_64")]
        Isa::V4(_) => tiles::<8, 2, T>(isa, &product, out),
        // 4 x 1 tiles: 8 of the 16 ymm registers (each block is two).
        #[cfg(target_arch = "x86_64")]
        Isa::V3(_) => tiles::<4, 1, T>(isa, &product, out),
        // 4 x 1 tiles: 16 of the 32 NEON registers.
        #[cfg(target_arch = "aarch64")]
        Isa::Neon(_) => tiles::<4, 1, T>(isa, &product, out),
        Isa::Baseline => tiles::<4, 1, T>(isa, &product, out),
    }
}

/// The operands of one [`gemm`].
struct Product<'a> {
    /// [`padded_rows`]`(m)` rows of `w.pairs` pairs.
    left: &'a [Pair],
    /// Rows whose results are stored.
    m: usize,
    w: &'a PackedWeights,
    stage: &'a OutputStage,
}

/// Walks the matrix in `MP x NB` tiles (`NB` at most 4), weight blocks outside so that the
/// blocks' weights stay in cache while every pixel passes by; the last blocks get
/// narrower tiles.
#[inline(always)]
fn tiles<const MP: usize, const NB: usize, T: Q8>(isa: Isa, product: &Product, out: &mut [T]) {
    let () = CheckTileHeight::<MP>::OK;
    // A product of fewer rows than a tile (a classifier on the pooled pixel) takes them
    // one at a time rather than computing a whole tile of padding rows.
    if MP > 1 && product.m < MP {
        return tiles::<1, NB, T>(isa, product, out);
    }
    let blocks = product.w.blocks;
    let mut b = 0;
    while b < blocks {
        let nb = (blocks - b).min(NB);
        let mut p = 0;
        while p < product.m {
            match nb {
                1 => tile::<MP, 1, T>(isa, product, p, b, out),
                2 => tile::<MP, 2, T>(isa, product, p, b, out),
                3 => tile::<MP, 3, T>(isa, product, p, b, out),
                _ => tile::<MP, NB, T>(isa, product, p, b, out),
            }
            p += MP;
        }
        b += nb;
    }
}

/// `MP` pixels from `p` against `NB` weight blocks from `b`, requantized into `out` for
/// the pixels below `m`.
///
/// The hot loops avoid `array::map`/`array::from_fn`, which LLVM does not inline into the
/// vectorized copies of the kernels.
#[inline(always)]
fn tile<const MP: usize, const NB: usize, T: Q8>(
    isa: Isa,
    product: &Product,
    p: usize,
    b: usize,
    out: &mut [T],
) {
    let Product { left, m, w, stage } = *product;
    let n = w.pairs;
    let mut rows: [&[Pair]; MP] = [&[]; MP];
    for (i, r) in rows.iter_mut().enumerate() {
        *r = &left[(p + i) * n..][..n];
    }
    let mut blocks: [&[WeightChunk]; NB] = [&[]; NB];
    for (j, blk) in blocks.iter_mut().enumerate() {
        *blk = w.block(b + j);
    }
    let mut sums = [[[0_i32; BLOCK]; NB]; MP];
    for sum in &mut sums {
        for (j, s) in sum.iter_mut().enumerate() {
            *s = stage.bias_block((b + j) * BLOCK);
        }
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::V4(v4) => tile_avx512(v4, &rows, &blocks, n, &mut sums),
        #[cfg(target_arch = "x86_64")]
        Isa::V3(v3) => tile_avx2(v3, &rows, &blocks, n, &mut sums),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon(neon) => crate::gemm_neon::tile(neon, &rows, &blocks, n, &mut sums),
        Isa::Baseline => tile_portable(&rows, &blocks, n, &mut sums),
    }
    let oc = w.outputs;
    for j in 0..NB {
        let first = (b + j) * BLOCK;
        let block = stage.block(first);
        for (i, sum) in sums.iter().enumerate().take(m - p) {
            let row = &mut out[(p + i) * oc..][..oc];
            let v = block.requantize(isa, &sum[j]);
            store_block(isa, &v, &mut row[first..(first + BLOCK).min(oc)]);
        }
    }
}

/// The tile in plain Rust, for LLVM to vectorize as it can. Like the vector forms, it adds
/// to the initial `sums` (the biases).
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

/// The tile with AVX2's `vpmaddwd`: one broadcast depth pair times one half chunk gives
/// eight channel sums of two products each (exact: no pair sum overflows `i32`).
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
    let zero = avx._mm256_setzero_si256();
    let mut sums: [[[__m256i; 2]; NB]; MP] = [[[zero; 2]; NB]; MP];
    for (s, o) in sums.iter_mut().zip(out.iter()) {
        for (s, &o) in s.iter_mut().zip(o) {
            *s = pulp::cast(o);
        }
    }
    for k in 0..n {
        let mut chunks: [[__m256i; 2]; NB] = [[zero; 2]; NB];
        for (c, block) in chunks.iter_mut().zip(blocks) {
            *c = pulp::cast(block[k]);
        }
        for (sum, row) in sums.iter_mut().zip(rows) {
            let pair = avx._mm256_set1_epi32(pulp::cast(row[k]));
            for (s, c) in sum.iter_mut().zip(&chunks) {
                for (s, &c) in s.iter_mut().zip(c) {
                    *s = avx2._mm256_add_epi32(*s, avx2._mm256_madd_epi16(pair, c));
                }
            }
        }
    }
    for (o, s) in out.iter_mut().zip(&sums) {
        for (o, &s) in o.iter_mut().zip(s) {
            *o = pulp::cast(s);
        }
    }
}

/// [`tile_avx2`] with AVX-512: a whole block's chunk in one `vpmaddwd`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn tile_avx512<const MP: usize, const NB: usize>(
    v4: pulp::x86::V4,
    rows: &[&[Pair]; MP],
    blocks: &[&[WeightChunk]; NB],
    n: usize,
    out: &mut [[[i32; BLOCK]; NB]; MP],
) {
    use core::arch::x86_64::__m512i;
    let (f, bw) = (v4.avx512f, v4.avx512bw);
    let zero = f._mm512_setzero_si512();
    let mut sums: [[__m512i; NB]; MP] = [[zero; NB]; MP];
    for (s, o) in sums.iter_mut().zip(out.iter()) {
        for (s, &o) in s.iter_mut().zip(o) {
            *s = pulp::cast(o);
        }
    }
    for k in 0..n {
        let mut chunks: [__m512i; NB] = [zero; NB];
        for (c, block) in chunks.iter_mut().zip(blocks) {
            *c = pulp::cast(block[k]);
        }
        for (sum, row) in sums.iter_mut().zip(rows) {
            let pair = f._mm512_set1_epi32(pulp::cast(row[k]));
            for (s, &c) in sum.iter_mut().zip(&chunks) {
                *s = f._mm512_add_epi32(*s, bw._mm512_madd_epi16(pair, c));
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
        let mut left = vec![[0_i16; 2]; padded_rows(m) * pairs];
        for p in 0..m {
            for k in 0..depth {
                left[p * pairs + k / 2][k % 2] = lv(p, k);
            }
        }
        let w = PackedWeights::pack(outputs, depth, rv);
        // A small multiplier keeps most outputs off the clamp, so they show the sums.
        let multipliers = [crate::quant::quantize_multiplier(1.0 / 4096.0); 21];
        let bias: Vec<i32> = (0..outputs as i32).map(|o| o * 5 - 50).collect();
        let stage = OutputStage::new(Some(&bias), &multipliers, 3, (-128, 127));
        for isa in crate::simd::available() {
            let mut out = vec![0_i8; m * outputs];
            gemm(isa, &left, m, &w, &stage, &mut out);
            for p in 0..m {
                for o in 0..outputs {
                    let dot: i32 = (0..depth)
                        .map(|i| i32::from(lv(p, i)) * i32::from(rv(o, i)))
                        .sum();
                    let want = stage.apply(o, dot) as i8;
                    assert_eq!(out[p * outputs + o], want, "{isa:?} p {p} o {o}");
                }
            }
        }
    }
}
