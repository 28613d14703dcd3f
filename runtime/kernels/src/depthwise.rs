//! DEPTHWISE_CONV_2D over NHWC 8-bit tensors, with depth multiplier and dilation.
//!
//! TFLite's arithmetic (reference `DepthwiseConv` for uint8, with its "away from zero"
//! rounding, which in the default build is plain `MultiplyByQuantizedMultiplier`;
//! `reference_integer_ops::DepthwiseConvPerChannel` for int8): output channel
//! `oc = ic * multiplier + m` of a pixel is the wrapping `i32` sum over the kernel window of
//! `(w[ky][kx][oc] + filter_offset) * (x[iy][ix][ic] + input_offset)`, window positions
//! outside the image skipped; then bias, the channel's multiplier (double rounding), output
//! zero point and the activation clamp, exactly as for CONV_2D.
//!
//! [`depthwise_reference`] is that loop written plainly. [`DepthwiseConv2d`] is the fast
//! form: the input is widened once per image into an `i16` buffer with the input offset
//! folded in, zero borders standing for the padding and channels repeated `multiplier`
//! times, so that every output pixel is the same branch-free sum over taps with the
//! channels as vector lanes. The output is produced row by row and, within a row, block
//! of 16 channels by block, so that a block's weights stay in registers along the row;
//! accumulators start from the bias and are requantized while still in registers.

use crate::conv::{ConvOffsets, ConvShape, Scratch, ScratchNeed};
use crate::error::{KernelError, check_len};
use crate::quant::{OutputStage, Q8, store_block};
use crate::simd::{Isa, Vectorized};

/// Channels per vector step of the fast kernel (one output-stage block).
const LANES: usize = crate::quant::REQUANT_LANES;

/// Checks operand lengths and the depth multiplier against a depthwise shape.
fn check_operands(
    kernel: &'static str,
    shape: &ConvShape,
    multiplier: usize,
    stage: &OutputStage,
    (input, filter, output): (usize, usize, usize),
) -> Result<(), KernelError> {
    shape.check(kernel)?;
    if multiplier == 0 || shape.output[2] != shape.input[2] * multiplier {
        return Err(KernelError::InvalidParams {
            kernel,
            detail: format!(
                "{} output channels are not {} input channels times depth multiplier {multiplier}",
                shape.output[2], shape.input[2]
            ),
        });
    }
    check_len(kernel, "input", input, shape.input_len())?;
    check_len(kernel, "filter", filter, filter_len(shape))?;
    check_len(kernel, "output", output, shape.output_len())?;
    stage.check(kernel, shape.output[2])
}

/// Number of filter elements (`[1, kh, kw, out_c]`).
pub fn filter_len(shape: &ConvShape) -> usize {
    shape.kernel[0] * shape.kernel[1] * shape.output[2]
}

/// DEPTHWISE_CONV_2D as TFLite's reference kernel computes it.
pub fn depthwise_reference<T: Q8>(
    shape: &ConvShape,
    multiplier: usize,
    offsets: ConvOffsets,
    stage: &OutputStage,
    input: &[T],
    filter: &[T],
    output: &mut [T],
) -> Result<(), KernelError> {
    check_operands(
        "depthwise_reference",
        shape,
        multiplier,
        stage,
        (input.len(), filter.len(), output.len()),
    )?;
    let [ih, iw, ic] = shape.input;
    let [oh, ow, oc] = shape.output;
    let [kh, kw] = shape.kernel;
    for b in 0..shape.batches {
        for oy in 0..oh {
            for ox in 0..ow {
                for c in 0..ic {
                    for m in 0..multiplier {
                        let o = c * multiplier + m;
                        let mut acc = 0_i32;
                        for ky in 0..kh {
                            let Some(iy) = shape.source(0, oy, ky) else {
                                continue;
                            };
                            for kx in 0..kw {
                                let Some(ix) = shape.source(1, ox, kx) else {
                                    continue;
                                };
                                let x = input[((b * ih + iy) * iw + ix) * ic + c].to_i32();
                                let w = filter[(ky * kw + kx) * oc + o].to_i32();
                                acc = acc.wrapping_add((w + offsets.filter) * (x + offsets.input));
                            }
                        }
                        output[((b * oh + oy) * ow + ox) * oc + o] =
                            T::saturate(stage.apply(o, acc));
                    }
                }
            }
        }
    }
    Ok(())
}

/// A DEPTHWISE_CONV_2D prepared for fast execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepthwiseConv2d {
    shape: ConvShape,
    multiplier: usize,
    input_offset: i32,
    /// Channels rounded up to whole vector steps.
    padded_channels: usize,
    /// Height and width of the widened input: every row and column any window touches.
    span: [usize; 2],
    /// Weights by block of [`LANES`] channels and pair of taps, filter offset folded in
    /// (see [`pack_pair`]); zero for padded channels and the missing second tap of an odd
    /// count.
    weights: Vec<PairChunk>,
    /// Offsets of the two taps of each pair in the widened input, relative to the window's
    /// origin (an odd count repeats the last tap, whose weights are then zero).
    taps: Vec<[usize; 2]>,
    stage: OutputStage,
}

impl DepthwiseConv2d {
    /// Prepares `filter` (`[1, kh, kw, out_c]`) for `shape`.
    pub fn new<T: Q8>(
        shape: ConvShape,
        multiplier: usize,
        offsets: ConvOffsets,
        filter: &[T],
        stage: OutputStage,
    ) -> Result<Self, KernelError> {
        check_operands(
            "depthwise",
            &shape,
            multiplier,
            &stage,
            (shape.input_len(), filter.len(), shape.output_len()),
        )?;
        let oc = shape.output[2];
        let padded_channels = oc.div_ceil(LANES) * LANES;
        let taps = shape.kernel[0] * shape.kernel[1];
        let weight = |t: usize, c: usize| -> i16 {
            if t < taps && c < oc {
                (filter[t * oc + c].to_i32() + offsets.filter) as i16
            } else {
                0
            }
        };
        let blocks = padded_channels / LANES;
        let pairs = taps.div_ceil(2);
        let weights = (0..blocks)
            .flat_map(|b| (0..pairs).map(move |p| (p, b)))
            .map(|(p, b)| pack_pair(|t, l| weight(2 * p + t, b * LANES + l)))
            .collect();
        let span = shape.span();
        let row_len = span[1] * padded_channels;
        let tap_offsets: Vec<usize> = (0..shape.kernel[0])
            .flat_map(|ky| (0..shape.kernel[1]).map(move |kx| (ky, kx)))
            .map(|(ky, kx)| {
                ky * shape.dilation[0] * row_len + kx * shape.dilation[1] * padded_channels
            })
            .collect();
        let taps = tap_offsets
            .chunks(2)
            .map(|p| [p[0], *p.last().unwrap_or(&p[0])])
            .collect();
        Ok(DepthwiseConv2d {
            shape,
            multiplier,
            input_offset: offsets.input,
            padded_channels,
            span,
            weights,
            taps,
            stage,
        })
    }

    /// The geometry this kernel was prepared for.
    pub fn shape(&self) -> &ConvShape {
        &self.shape
    }

    /// The scratch this kernel uses.
    pub fn scratch_need(&self) -> ScratchNeed {
        ScratchNeed {
            wide: self.span[0] * self.span[1] * self.padded_channels,
            acc: 0,
            rows: 0,
        }
    }

    /// Runs the convolution; `scratch` grows if it is smaller than [`Self::scratch_need`].
    pub fn run<T: Q8>(
        &self,
        input: &[T],
        output: &mut [T],
        scratch: &mut Scratch,
    ) -> Result<(), KernelError> {
        check_len("depthwise", "input", input.len(), self.shape.input_len())?;
        check_len("depthwise", "output", output.len(), self.shape.output_len())?;
        if output.is_empty() {
            return Ok(());
        }
        scratch.reserve_for(self.scratch_need());
        crate::simd::dispatch(DepthwiseRun {
            dw: self,
            input,
            output,
            wide: &mut scratch.wide,
        });
        Ok(())
    }

    /// Writes image `b` into `wide` as offset `i16`, zero outside the image.
    #[inline(always)]
    fn widen<T: Q8>(&self, input: &[T], b: usize, wide: &mut [i16]) {
        let [ih, iw, ic] = self.shape.input;
        let [pt, pl] = self.shape.pad;
        let (pc, m, offset) = (self.padded_channels, self.multiplier, self.input_offset);
        for (y, row) in wide.chunks_exact_mut(self.span[1] * pc).enumerate() {
            let iy = y.checked_sub(pt).filter(|&iy| iy < ih);
            for (x, px) in row.chunks_exact_mut(pc).enumerate() {
                match (iy, x.checked_sub(pl).filter(|&ix| ix < iw)) {
                    (Some(iy), Some(ix)) => {
                        let src = &input[((b * ih + iy) * iw + ix) * ic..][..ic];
                        if m == 1 {
                            for (d, s) in px.iter_mut().zip(src) {
                                *d = (s.to_i32() + offset) as i16;
                            }
                        } else {
                            for (d, s) in px.chunks_exact_mut(m).zip(src) {
                                d.fill((s.to_i32() + offset) as i16);
                            }
                        }
                        px[ic * m..].fill(0);
                    }
                    _ => px.fill(0),
                }
            }
        }
    }

    #[inline(always)]
    fn run_images<T: Q8>(&self, isa: Isa, input: &[T], output: &mut [T], wide: &mut [i16]) {
        let s = &self.shape;
        let [oh, ow, oc] = s.output;
        let pc = self.padded_channels;
        let row_len = self.span[1] * pc;
        let wide = &mut wide[..self.span[0] * row_len];
        for b in 0..s.batches {
            self.widen(input, b, wide);
            let wide: &[i16] = wide;
            for oy in 0..oh {
                let out = &mut output[(b * oh + oy) * ow * oc..][..ow * oc];
                let row = &wide[oy * s.stride[0] * row_len..];
                match self.taps.len() {
                    // 3x3 kernels, MobileNet's, get a copy with the tap loop unrolled.
                    5 => self.output_row::<5, T>(isa, row, out),
                    _ => self.output_row_any(isa, row, out),
                }
            }
        }
    }

    /// One row of output pixels for a window of `P` tap pairs, block of channels outside
    /// so that the block's weights stay in registers along the row.
    #[inline(always)]
    fn output_row<const P: usize, T: Q8>(&self, isa: Isa, wide: &[i16], out: &mut [T]) {
        let taps: &[[usize; 2]; P] = self.taps[..].try_into().expect("P tap pairs");
        for k in 0..self.padded_channels / LANES {
            let weights: &[PairChunk; P] =
                self.weights[k * P..][..P].try_into().expect("P tap pairs");
            self.output_row_block(isa, wide, out, k, taps, weights);
        }
    }

    /// [`Self::output_row`] for any number of tap pairs.
    #[inline(always)]
    fn output_row_any<T: Q8>(&self, isa: Isa, wide: &[i16], out: &mut [T]) {
        let pairs = self.taps.len();
        for k in 0..self.padded_channels / LANES {
            let weights = &self.weights[k * pairs..][..pairs];
            self.output_row_block(isa, wide, out, k, &self.taps, weights);
        }
    }

    /// Block `k` of channels of one row of output pixels; accumulators start from the
    /// biases and are requantized while in registers.
    #[inline(always)]
    fn output_row_block<T: Q8>(
        &self,
        isa: Isa,
        wide: &[i16],
        out: &mut [T],
        k: usize,
        taps: &[[usize; 2]],
        weights: &[PairChunk],
    ) {
        let [_, ow, oc] = self.shape.output;
        let step = self.shape.stride[1] * self.padded_channels;
        let first = k * LANES;
        let width = LANES.min(oc - first);
        let bias = scramble(&self.stage.bias_block(first));
        for ox in 0..ow {
            let origin = ox * step + first;
            let mut a = bias;
            for (&[t0, t1], w) in taps.iter().zip(weights) {
                let x0 = wide[origin + t0..][..LANES]
                    .try_into()
                    .expect("whole block");
                let x1 = wide[origin + t1..][..LANES]
                    .try_into()
                    .expect("whole block");
                a = pair_step(isa, &a, x0, x1, w);
            }
            let v = self.stage.requantize_block(isa, first, &unscramble(&a));
            store_block(&v, &mut out[ox * oc + first..][..width]);
        }
    }
}

/// The weights of one pair of taps for one block of [`LANES`] channels: `(w0[c], w1[c])`
/// side by side, channels in the order AVX2's in-lane interleave produces (see
/// [`PAIR_ORDER`]).
type PairChunk = [i16; 2 * LANES];

/// The channel of each `(w0, w1)` slot of a [`PairChunk`] and of each accumulator of a
/// block while summing: `vpunpcklwd`/`vpunpckhwd` interleave within 128-bit halves, so the
/// low product vector holds channels 0-3 and 8-11, the high one 4-7 and 12-15.
const PAIR_ORDER: [usize; LANES] = [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15];

/// Packs `weight(tap, lane)` (tap 0 or 1 of the pair) into a [`PairChunk`].
fn pack_pair(weight: impl Fn(usize, usize) -> i16) -> PairChunk {
    let mut chunk = [0_i16; 2 * LANES];
    for (slot, &c) in PAIR_ORDER.iter().enumerate() {
        chunk[2 * slot] = weight(0, c);
        chunk[2 * slot + 1] = weight(1, c);
    }
    chunk
}

/// Puts a block's accumulators, summed in [`PAIR_ORDER`], back in channel order.
#[inline(always)]
fn unscramble(acc: &[i32; LANES]) -> [i32; LANES] {
    let mut out = [0_i32; LANES];
    for (slot, &c) in PAIR_ORDER.iter().enumerate() {
        out[c] = acc[slot];
    }
    out
}

/// Puts a block's biases in [`PAIR_ORDER`], to start its accumulators from.
#[inline(always)]
fn scramble(bias: &[i32; LANES]) -> [i32; LANES] {
    let mut out = [0_i32; LANES];
    for (slot, &c) in PAIR_ORDER.iter().enumerate() {
        out[slot] = bias[c];
    }
    out
}

/// Adds the products of one pair of taps to a block's accumulators (in [`PAIR_ORDER`]).
#[inline(always)]
fn pair_step(
    isa: Isa,
    acc: &[i32; LANES],
    x0: &[i16; LANES],
    x1: &[i16; LANES],
    w: &PairChunk,
) -> [i32; LANES] {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::V4(v4) => pair_step_avx2(*v4, acc, x0, x1, w),
        #[cfg(target_arch = "x86_64")]
        Isa::V3(v3) => pair_step_avx2(v3, acc, x0, x1, w),
        Isa::Baseline => {
            let mut out = *acc;
            for (slot, &c) in PAIR_ORDER.iter().enumerate() {
                let v = i32::from(x0[c]) * i32::from(w[2 * slot])
                    + i32::from(x1[c]) * i32::from(w[2 * slot + 1]);
                out[slot] = out[slot].wrapping_add(v);
            }
            out
        }
    }
}

/// [`pair_step`] with AVX2: the two taps' inputs interleaved (`vpunpck[lh]wd`) and
/// multiplied with the interleaved weights by `vpmaddwd`, 16 channels x 2 taps in two
/// multiply-adds.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn pair_step_avx2(
    v3: pulp::x86::V3,
    acc: &[i32; LANES],
    x0: &[i16; LANES],
    x1: &[i16; LANES],
    w: &PairChunk,
) -> [i32; LANES] {
    use core::arch::x86_64::__m256i;
    let avx2 = v3.avx2;
    let [low, high]: [__m256i; 2] = pulp::cast(*acc);
    let (x0, x1): (__m256i, __m256i) = (pulp::cast(*x0), pulp::cast(*x1));
    let [w_low, w_high]: [__m256i; 2] = pulp::cast(*w);
    let low = avx2._mm256_add_epi32(
        low,
        avx2._mm256_madd_epi16(avx2._mm256_unpacklo_epi16(x0, x1), w_low),
    );
    let high = avx2._mm256_add_epi32(
        high,
        avx2._mm256_madd_epi16(avx2._mm256_unpackhi_epi16(x0, x1), w_high),
    );
    pulp::cast([low, high])
}

/// One [`DepthwiseConv2d::run`], as a unit for [`crate::simd::dispatch`].
struct DepthwiseRun<'a, T> {
    dw: &'a DepthwiseConv2d,
    input: &'a [T],
    output: &'a mut [T],
    wide: &'a mut [i16],
}

impl<T: Q8> Vectorized for DepthwiseRun<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self, isa: Isa) {
        self.dw.run_images(isa, self.input, self.output, self.wide);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::tests::{
        assert_every_isa, cast_all, fast_matches_reference_tests, offsets_for, out_and_pad,
        q8_range, stages,
    };
    use crate::quant::quantize_multiplier;
    use crate::simd::Vectorized;
    use proptest::prelude::*;

    #[test]
    fn three_by_three_by_hand() {
        // 3x3 input, one channel, 3x3 kernel of ones, SAME padding: the centre output is
        // the sum of all nine offset inputs, a corner the sum of four.
        let shape = ConvShape {
            batches: 1,
            input: [3, 3, 1],
            output: [3, 3, 1],
            kernel: [3, 3],
            stride: [1, 1],
            dilation: [1, 1],
            pad: [1, 1],
        };
        let input: Vec<u8> = (1..=9).collect();
        let filter = [129_u8; 9]; // zero point 128: every weight is 1
        let offsets = ConvOffsets {
            input: -1,
            filter: -128,
        };
        let stage = OutputStage::new(None, &[quantize_multiplier(0.5)], 0, (0, 255));
        let mut want = [0_u8; 9];
        depthwise_reference(&shape, 1, offsets, &stage, &input, &filter, &mut want).expect("valid");
        // Centre: (0+1+...+8) = 36 -> 18. Top-left: 0+1+3+4 = 8 -> 4.
        assert_eq!(want[4], 18);
        assert_eq!(want[0], 4);
        let dw = DepthwiseConv2d::new(shape, 1, offsets, &filter, stage).expect("valid");
        let mut got = [0_u8; 9];
        dw.run(&input, &mut got, &mut Scratch::new())
            .expect("valid");
        assert_eq!(got, want);
    }

    #[derive(Debug, Clone)]
    struct Case {
        shape: ConvShape,
        multiplier: usize,
        offsets: ConvOffsets,
        stage: OutputStage,
        input: Vec<i32>,
        filter: Vec<i32>,
    }

    fn case(signed: bool) -> impl Strategy<Value = Case> {
        let range @ (lo, hi) = q8_range(signed);
        let geometry = (
            (
                1_usize..3,
                1_usize..10,
                1_usize..10,
                1_usize..20,
                1_usize..3,
            ),
            (
                1_usize..4,
                1_usize..4,
                1_usize..3,
                1_usize..3,
                any::<bool>(),
            ),
        );
        (geometry, lo..=hi, lo..=hi, lo..=hi, 0.0005_f64..1.5).prop_flat_map(
            move |(((b, ih, iw, ic, mult), (kh, kw, s, d, same)), zi, zf, zo, m)| {
                let (oh, pt) = out_and_pad(same, ih, kh, s, d);
                let (ow, pl) = out_and_pad(same, iw, kw, s, d);
                let shape = ConvShape {
                    batches: b,
                    input: [ih, iw, ic],
                    output: [oh, ow, ic * mult],
                    kernel: [kh, kw],
                    stride: [s, s],
                    dilation: [d, d],
                    pad: [pt, pl],
                };
                let offsets = offsets_for(signed, zi, zf);
                (
                    proptest::collection::vec(lo..=hi, shape.input_len()),
                    proptest::collection::vec(lo..=hi, filter_len(&shape)),
                    stages(ic * mult, m, 16.0, zo, range),
                )
                    .prop_map(move |(input, filter, stage)| Case {
                        shape,
                        multiplier: mult,
                        offsets,
                        stage,
                        input,
                        filter,
                    })
            },
        )
    }

    fn check_case<T: Q8>(c: &Case, cast: impl Fn(i32) -> T) {
        let input = cast_all(&c.input, &cast);
        let filter = cast_all(&c.filter, &cast);
        let mut want = vec![T::default(); c.shape.output_len()];
        depthwise_reference(
            &c.shape,
            c.multiplier,
            c.offsets,
            &c.stage,
            &input,
            &filter,
            &mut want,
        )
        .expect("valid");
        let dw = DepthwiseConv2d::new(c.shape, c.multiplier, c.offsets, &filter, c.stage.clone())
            .expect("valid");
        let mut got = vec![T::default(); c.shape.output_len()];
        dw.run(&input, &mut got, &mut Scratch::new())
            .expect("valid");
        assert_eq!(got, want);
        if got.is_empty() {
            return;
        }
        assert_every_isa(&want, |isa, got| {
            let mut scratch = Scratch::new();
            scratch.reserve_for(dw.scratch_need());
            DepthwiseRun {
                dw: &dw,
                input: &input,
                output: got,
                wide: &mut scratch.wide,
            }
            .run(isa);
        });
    }

    fast_matches_reference_tests!();
}
