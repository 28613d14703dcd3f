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
//! form. It reads the 8-bit input in place, without the offset: the sum over a window is
//! `sum w * (x + input_offset) = sum w * x + input_offset * sum w`, exact in wrapping
//! `i32`, and the second term, a constant per channel, starts the accumulators with the
//! bias. A tap in the padding, which TFLite skips, adds `-input_offset * w` (the zero
//! point times the weight, precomputed), so that its net contribution is zero; pixels
//! whose windows lie inside the input (all but a border) take every tap with no test.
//! Channels are the vector lanes, [`LANES`] at a time: per tap one widening load and one
//! `i32` multiply-add, which LLVM vectorizes on every target; the accumulators are
//! requantized while still in registers. A depth multiplier above one reads a copy of the
//! input with each channel repeated, so that input and output channels line up.

use std::ops::Range;

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
    /// Weights with the filter offset folded in, by block of [`LANES`] channels and then
    /// tap (`weights[block * taps + t]`); zero for the channels padding the last block.
    weights: Vec<[i32; LANES]>,
    /// What a tap in the padding adds, `-input_offset * w` (the zero point times the
    /// weight), laid out as `weights`.
    padding: Vec<[i32; LANES]>,
    /// The accumulators' starting values per block: the bias plus `input_offset` times
    /// the sum of the channel's weights over all taps (wrapping).
    init: Vec<[i32; LANES]>,
    /// Offset of each tap from the window's first element in the (channel-repeated) input.
    taps: Vec<usize>,
    /// Output rows and columns whose windows lie wholly inside the input.
    inner: [Range<usize>; 2],
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
        let taps = shape.kernel[0] * shape.kernel[1];
        let blocks = oc.div_ceil(LANES);
        let weight = |t: usize, c: usize| -> i32 {
            if c < oc {
                filter[t * oc + c].to_i32() + offsets.filter
            } else {
                0
            }
        };
        let by_lane = |f: &dyn Fn(usize) -> i32| -> [i32; LANES] {
            let mut v = [0; LANES];
            for (l, v) in v.iter_mut().enumerate() {
                *v = f(l);
            }
            v
        };
        let (mut weights, mut padding, mut init) = (vec![], vec![], vec![]);
        for b in 0..blocks {
            for t in 0..taps {
                weights.push(by_lane(&|l| weight(t, b * LANES + l)));
                padding.push(by_lane(&|l| {
                    offsets
                        .input
                        .wrapping_neg()
                        .wrapping_mul(weight(t, b * LANES + l))
                }));
            }
            let bias = stage.bias_block(b * LANES);
            init.push(by_lane(&|l| {
                let sum = (0..taps).fold(0_i32, |s, t| s.wrapping_add(weight(t, b * LANES + l)));
                bias[l].wrapping_add(offsets.input.wrapping_mul(sum))
            }));
        }
        let iw = shape.input[1];
        let taps = (0..shape.kernel[0])
            .flat_map(|ky| (0..shape.kernel[1]).map(move |kx| (ky, kx)))
            .map(|(ky, kx)| (ky * shape.dilation[0] * iw + kx * shape.dilation[1]) * oc)
            .collect();
        Ok(DepthwiseConv2d {
            shape,
            multiplier,
            input_offset: offsets.input,
            weights,
            padding,
            init,
            taps,
            inner: [inner_range(&shape, 0), inner_range(&shape, 1)],
            stage,
        })
    }

    /// The geometry this kernel was prepared for.
    pub fn shape(&self) -> &ConvShape {
        &self.shape
    }

    /// The scratch this kernel uses: the input with its channels repeated, for depth
    /// multipliers above one.
    pub fn scratch_need(&self) -> ScratchNeed {
        let wide = match self.multiplier {
            1 => 0,
            _ => self.shape.input_len() * self.multiplier,
        };
        ScratchNeed {
            wide,
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

    /// Runs every image, reading the input in place or, for a depth multiplier above one,
    /// from a copy in `wide` with each channel repeated `multiplier` times, so that input
    /// and output channels line up.
    #[inline(always)]
    fn run_images<T: Q8>(&self, isa: Isa, input: &[T], output: &mut [T], wide: &mut [i16]) {
        let [ih, iw, _] = self.shape.input;
        let [oh, ow, oc] = self.shape.output;
        let image_out = oh * ow * oc;
        if self.multiplier == 1 {
            let images = input.chunks_exact(ih * iw * oc);
            for (src, out) in images.zip(output.chunks_exact_mut(image_out)) {
                self.run_image(isa, src, out);
            }
            return;
        }
        let wide = &mut wide[..self.shape.input_len() * self.multiplier];
        for (d, x) in wide.chunks_exact_mut(self.multiplier).zip(input) {
            d.fill(x.to_i32() as i16);
        }
        let images = wide.chunks_exact(ih * iw * oc);
        for (src, out) in images.zip(output.chunks_exact_mut(image_out)) {
            self.run_image(isa, src, out);
        }
    }

    /// One image: the pixels whose windows lie inside the input take every tap from it
    /// without a test; the border pixels test each tap.
    #[inline(always)]
    fn run_image<S: Copy + Into<i32>, T: Q8>(&self, isa: Isa, src: &[S], out: &mut [T]) {
        let s = &self.shape;
        let [_, iw, _] = s.input;
        let [oh, ow, oc] = s.output;
        let [kh, kw] = s.kernel;
        for oy in 0..oh {
            let out = &mut out[oy * ow * oc..][..ow * oc];
            for (ox, px) in out.chunks_exact_mut(oc).enumerate() {
                if self.inner[0].contains(&oy) && self.inner[1].contains(&ox) {
                    let y = oy * s.stride[0] - s.pad[0];
                    let x = ox * s.stride[1] - s.pad[1];
                    let origin = (y * iw + x) * oc;
                    self.pixel(isa, src, |t| Some(origin + self.taps[t]), px);
                } else {
                    let at = |t: usize| {
                        let (ky, kx) = (t / kw, t % kw);
                        let iy = s.source(0, oy, ky)?;
                        let ix = s.source(1, ox, kx)?;
                        Some((iy * iw + ix) * oc)
                    };
                    debug_assert_eq!(self.taps.len(), kh * kw);
                    self.pixel(isa, src, at, px);
                }
            }
        }
    }

    /// The channels of one output pixel, [`LANES`] at a time; `at(t)` is where tap `t`'s
    /// input pixel starts in `src`, `None` in the padding.
    #[inline(always)]
    fn pixel<S: Copy + Into<i32>, T: Q8>(
        &self,
        isa: Isa,
        src: &[S],
        at: impl Fn(usize) -> Option<usize>,
        out: &mut [T],
    ) {
        let oc = out.len();
        let whole = oc / LANES;
        for k in 0..whole {
            let first = k * LANES;
            let load = |at: usize| widen(&src[at + first..][..LANES]);
            let acc = self.block_sum(isa, k, &at, load);
            let v = self.stage.requantize_block(isa, first, &acc);
            store_block(isa, &v, &mut out[first..first + LANES]);
        }
        if whole < self.init.len() {
            let first = whole * LANES;
            let width = oc - first;
            let load = |at: usize| widen(&src[at + first..][..width]);
            let acc = self.block_sum(isa, whole, &at, load);
            let v = self.stage.requantize_block(isa, first, &acc);
            store_block(isa, &v, &mut out[first..]);
        }
    }

    /// The accumulators of block `k` of a pixel: each tap's input (`load(at)`) times its
    /// weights, or the padding's constant. 3x3 kernels, MobileNet's, get a copy with the
    /// tap count a constant, so the tap loop unrolls.
    #[inline(always)]
    fn block_sum(
        &self,
        isa: Isa,
        k: usize,
        at: &impl Fn(usize) -> Option<usize>,
        load: impl Fn(usize) -> [i32; LANES],
    ) -> [i32; LANES] {
        match self.taps.len() {
            9 => self.block_sum_any(isa, k, at, load, 9),
            taps => self.block_sum_any(isa, k, at, load, taps),
        }
    }

    /// [`Self::block_sum`] for `taps` taps.
    #[inline(always)]
    fn block_sum_any(
        &self,
        isa: Isa,
        k: usize,
        at: &impl Fn(usize) -> Option<usize>,
        load: impl Fn(usize) -> [i32; LANES],
        taps: usize,
    ) -> [i32; LANES] {
        let weights = &self.weights[k * taps..][..taps];
        let padding = &self.padding[k * taps..][..taps];
        let mut acc = self.init[k];
        for t in 0..taps {
            acc = match at(t) {
                Some(at) => multiply_add(isa, &acc, &load(at), &weights[t]),
                None => multiply_add(isa, &acc, &[1; LANES], &padding[t]),
            };
        }
        acc
    }
}

/// `acc + x * w`, lane by lane, wrapping.
#[inline(always)]
fn multiply_add(isa: Isa, acc: &[i32; LANES], x: &[i32; LANES], w: &[i32; LANES]) -> [i32; LANES] {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::V4(v4) => {
            let f = v4.avx512f;
            let (acc, x, w) = (pulp::cast(*acc), pulp::cast(*x), pulp::cast(*w));
            pulp::cast(f._mm512_add_epi32(acc, f._mm512_mullo_epi32(x, w)))
        }
        _ => {
            let mut out = *acc;
            for l in 0..LANES {
                out[l] = out[l].wrapping_add(x[l].wrapping_mul(w[l]));
            }
            out
        }
    }
}

/// Up to [`LANES`] input values as `i32`, zero beyond `src`.
#[inline(always)]
fn widen<S: Copy + Into<i32>>(src: &[S]) -> [i32; LANES] {
    let mut x = [0; LANES];
    if let Ok(src) = <&[S; LANES]>::try_from(src) {
        for (x, &s) in x.iter_mut().zip(src) {
            *x = s.into();
        }
    } else {
        for (x, &s) in x.iter_mut().zip(src) {
            *x = s.into();
        }
    }
    x
}

/// The output coordinates along `axis` whose windows lie wholly inside the input (a
/// contiguous range: the first and last taps bound the window).
fn inner_range(shape: &ConvShape, axis: usize) -> Range<usize> {
    let (out, last) = (shape.output[axis], shape.kernel[axis] - 1);
    let inside =
        |o: usize| shape.source(axis, o, 0).is_some() && shape.source(axis, o, last).is_some();
    let start = (0..out).find(|&o| inside(o)).unwrap_or(out);
    let end = (start..out).find(|&o| !inside(o)).unwrap_or(out);
    start..end
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
