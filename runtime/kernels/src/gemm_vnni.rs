//! The matrix product of [`crate::gemm`] on 8-bit operands with AVX-512 VNNI's `vpdpbusd`,
//! for products whose folded weights fit in `i8` (every int8 model: TFLite's int8 filters
//! are symmetric, so the filter offset is zero).
//!
//! `vpdpbusd` multiplies unsigned bytes by signed bytes, four depths at a time, and adds
//! the four products to an `i32` lane with wrapping: twice the multiply-adds per
//! instruction of `vpmaddwd` on half the bytes. The folded input `v = x + input_offset`
//! spans `[-255, 255]`, so the left matrix holds `u = v + c` instead, with `c` chosen so
//! that `u` is a byte (`c = 128 - input_offset` for int8, `-input_offset` for uint8; a
//! padding position, `v = 0`, holds `u = c`). Then
//! `sum_k v_k w_k = sum_k u_k w_k - c * sum_k w_k` exactly in wrapping `i32`, and the
//! second term, a constant per output channel, is folded into the accumulators' starting
//! values with the bias. The results are the same `i32` sums as TFLite's, bit for bit.
//!
//! Layout as in [`crate::gemm`] with quads instead of pairs: a left row is a list of
//! `[u[k], .., u[k+3]]` quads, and the weights of each block of [`BLOCK`] output channels
//! are stored quad by quad, the four depths of each channel side by side (one 512-bit
//! vector). Padding depths have zero weights and contribute nothing whatever `u` holds.
//!
//! pulp 0.22 has no VNNI wrappers, so the kernel is a function compiled with the
//! AVX-512 and VNNI target features, entered through the one `unsafe` call below after the
//! features were detected.
#![allow(unsafe_code)]

use crate::gemm::{BLOCK, padded_rows};
use crate::quant::{OutputStage, Q8, store_block};
use crate::simd::Isa;

/// Four consecutive depth values of one pixel, as offset bytes.
pub(crate) type Quad = [u8; 4];

/// One depth quad of the [`BLOCK`] channels of a block, channel after channel.
type WeightChunk = [i8; 4 * BLOCK];

/// Weights packed for [`gemm`]: `blocks` blocks of `quads` chunks each, and the
/// accumulators' starting values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QuadWeights {
    /// Number of output channels.
    pub outputs: usize,
    /// Depth quads per row.
    pub quads: usize,
    /// Blocks of [`BLOCK`] output channels.
    blocks: usize,
    /// The byte a left value `v` is stored as, minus `v`.
    pub shift: i32,
    data: Vec<WeightChunk>,
    /// `bias[o] - shift * sum_k w[o][k]` (wrapping), padded to whole blocks.
    init: Vec<i32>,
}

impl QuadWeights {
    /// Packs `outputs` rows of `depth` folded weights, `weight(o, k)`, for left values
    /// stored as `v + shift`; `None` where a weight does not fit in `i8` or `shift` is not
    /// a byte (the `i16` product then runs).
    pub fn pack(
        outputs: usize,
        depth: usize,
        weight: impl Fn(usize, usize) -> i32,
        shift: i32,
        stage: &OutputStage,
    ) -> Option<Self> {
        if !(0..=255).contains(&shift) {
            return None;
        }
        let quads = depth.div_ceil(4);
        let blocks = outputs.div_ceil(BLOCK);
        let mut data = vec![[0_i8; 4 * BLOCK]; blocks * quads];
        let mut init = vec![0_i32; blocks * BLOCK];
        for o in 0..outputs {
            let mut sum = 0_i32;
            for k in 0..depth {
                let w = i8::try_from(weight(o, k)).ok()?;
                data[(o / BLOCK) * quads + k / 4][(o % BLOCK) * 4 + k % 4] = w;
                sum = sum.wrapping_add(i32::from(w));
            }
            init[o] = stage.bias()[o].wrapping_sub(shift.wrapping_mul(sum));
        }
        Some(QuadWeights {
            outputs,
            quads,
            blocks,
            shift,
            data,
            init,
        })
    }

    /// Block `b`.
    #[inline(always)]
    fn block(&self, b: usize) -> &[WeightChunk] {
        &self.data[b * self.quads..(b + 1) * self.quads]
    }
}

/// Proof that the CPU runs AVX-512 (x86-64-v4) and AVX-512 VNNI.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Vnni(pulp::x86::V4);

impl Vnni {
    /// The token, if the CPU has VNNI besides `v4`'s features.
    #[inline(always)]
    pub fn new(v4: pulp::x86::V4) -> Option<Self> {
        std::arch::is_x86_feature_detected!("avx512vnni").then_some(Vnni(v4))
    }
}

/// `out[p * w.outputs + o]` = `stage` applied to `sum_k (u[p][k] - w.shift) * w[o][k]` +
/// bias for the first `m` of the [`padded_rows`]`(m)` rows of `left` (`w.quads` quads
/// each).
#[inline(always)]
pub(crate) fn gemm<T: Q8>(
    vnni: Vnni,
    left: &[Quad],
    m: usize,
    w: &QuadWeights,
    stage: &OutputStage,
    out: &mut [T],
) {
    let left = &left[..padded_rows(m) * w.quads];
    let out = &mut out[..m * w.outputs];
    // SAFETY: `tiles` only needs its target features to be present, which `vnni` proves
    // (V4's features from pulp's detection, `avx512vnni` from `Vnni::new`'s); it has no
    // other requirement and touches memory only through the slices it is given.
    unsafe { tiles(vnni.0, left, m, w, stage, out) }
}

/// Walks the matrix in 8 x 2 tiles, weight blocks outside so that the blocks' weights
/// stay in cache while every pixel passes by; a last odd block gets a narrower tile.
#[target_feature(enable = "avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx512vnni")]
#[target_feature(enable = "avx,avx2,fma,bmi1,bmi2,lzcnt,popcnt,sse4.2")]
fn tiles<T: Q8>(
    v4: pulp::x86::V4,
    left: &[Quad],
    m: usize,
    w: &QuadWeights,
    stage: &OutputStage,
    out: &mut [T],
) {
    const MP: usize = 8;
    const NB: usize = 2;
    const _: () = assert!(crate::gemm::TILE_ROWS.is_multiple_of(MP));
    // Rows past the last whole tile, when they are few (a classifier on the pooled pixel,
    // the 49 pixels of a 7x7 layer), are taken one at a time rather than in a tile that
    // is mostly padding.
    let whole = if m % MP <= MP / 4 { m / MP * MP } else { m };
    let mut b = 0;
    while b < w.blocks {
        let nb = (w.blocks - b).min(NB);
        let mut p = 0;
        while p < m {
            let one = p >= whole;
            match (one, nb) {
                (true, 1) => tile::<1, 1, T>(v4, left, m, w, stage, p, b, out),
                (true, _) => tile::<1, NB, T>(v4, left, m, w, stage, p, b, out),
                (false, 1) => tile::<MP, 1, T>(v4, left, m, w, stage, p, b, out),
                (false, _) => tile::<MP, NB, T>(v4, left, m, w, stage, p, b, out),
            }
            p += if one { 1 } else { MP };
        }
        b += nb;
    }
}

/// `MP` pixels from `p` against `NB` weight blocks from `b`, requantized into `out` for
/// the pixels below `m`. Plain loops rather than `array::map`, which LLVM does not inline.
#[target_feature(enable = "avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx512vnni")]
#[target_feature(enable = "avx,avx2,fma,bmi1,bmi2,lzcnt,popcnt,sse4.2")]
#[inline]
#[allow(clippy::too_many_arguments)]
fn tile<const MP: usize, const NB: usize, T: Q8>(
    v4: pulp::x86::V4,
    left: &[Quad],
    m: usize,
    w: &QuadWeights,
    stage: &OutputStage,
    p: usize,
    b: usize,
    out: &mut [T],
) {
    use core::arch::x86_64::{__m512i, _mm512_dpbusd_epi32};
    let f = v4.avx512f;
    let n = w.quads;
    let mut rows: [&[Quad]; MP] = [&[]; MP];
    for (i, r) in rows.iter_mut().enumerate() {
        *r = &left[(p + i) * n..][..n];
    }
    let mut blocks: [&[WeightChunk]; NB] = [&[]; NB];
    for (j, blk) in blocks.iter_mut().enumerate() {
        *blk = w.block(b + j);
    }
    let zero = f._mm512_setzero_si512();
    let mut sums: [[__m512i; NB]; MP] = [[zero; NB]; MP];
    for sum in &mut sums {
        for (j, s) in sum.iter_mut().enumerate() {
            let first = (b + j) * BLOCK;
            let init: [i32; BLOCK] = w.init[first..first + BLOCK]
                .try_into()
                .expect("padded to whole blocks");
            *s = pulp::cast(init);
        }
    }
    for k in 0..n {
        let mut chunks: [__m512i; NB] = [zero; NB];
        for (c, block) in chunks.iter_mut().zip(&blocks) {
            *c = pulp::cast(block[k]);
        }
        for (sum, row) in sums.iter_mut().zip(&rows) {
            let quad = f._mm512_set1_epi32(i32::from_ne_bytes(row[k]));
            for (s, &c) in sum.iter_mut().zip(&chunks) {
                *s = _mm512_dpbusd_epi32(*s, quad, c);
            }
        }
    }
    let oc = w.outputs;
    for j in 0..NB {
        let first = (b + j) * BLOCK;
        let block = stage.block(first);
        for (i, sum) in sums.iter().enumerate().take(m - p) {
            let row = &mut out[(p + i) * oc..][..oc];
            let v = block.requantize(Isa::V4(v4), &pulp::cast(sum[j]));
            store_block(Isa::V4(v4), &v, &mut row[first..(first + BLOCK).min(oc)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vnni_gemm_matches_plain_dot_products() {
        let Some(vnni) = pulp::x86::V4::try_new().and_then(Vnni::new) else {
            return;
        };
        let (outputs, depth) = (37, 23);
        let shift = 128 + 7;
        let lv = |r: usize, i: usize| ((r * 31 + i * 7) % 256) as i32 - shift;
        let rv = |r: usize, i: usize| ((r * 13 + i * 17) % 255) as i32 - 127;
        let multipliers = [crate::quant::quantize_multiplier(1.0 / 4096.0); 37];
        let bias: Vec<i32> = (0..outputs as i32).map(|o| o * 5 - 50).collect();
        let stage = OutputStage::new(Some(&bias), &multipliers, 3, (-128, 127));
        let w = QuadWeights::pack(outputs, depth, rv, shift, &stage).expect("i8 weights");
        // Fewer rows than a tile, whole tiles and a few rows (taken one by one), whole
        // tiles and a partial one.
        for m in [1, 2, 3, 17, 11] {
            let mut left = vec![[0_u8; 4]; padded_rows(m) * w.quads];
            for p in 0..m {
                for k in 0..depth {
                    left[p * w.quads + k / 4][k % 4] = (lv(p, k) + shift) as u8;
                }
            }
            let mut out = vec![0_i8; m * outputs];
            gemm(vnni, &left, m, &w, &stage, &mut out);
            for p in 0..m {
                for o in 0..outputs {
                    let dot: i32 = (0..depth).map(|i| lv(p, i) * rv(o, i)).sum();
                    assert_eq!(
                        out[p * outputs + o],
                        stage.apply(o, dot) as i8,
                        "m {m} p {p} o {o}"
                    );
                }
            }
        }
        assert!(QuadWeights::pack(1, 1, |_, _| 128, 0, &stage).is_none());
    }
}
