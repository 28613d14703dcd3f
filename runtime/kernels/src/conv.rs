//! CONV_2D over NHWC 8-bit tensors.
//!
//! TFLite's arithmetic (reference `Conv` for uint8, `reference_integer_ops::ConvPerChannel`
//! for int8): for every output pixel and channel, sum over the kernel window and input
//! channels of `(w + filter_offset) * (x + input_offset)` in a wrapping `i32`, skipping
//! window positions outside the image (so padding contributes exactly zero); add the bias;
//! requantize with `MultiplyByQuantizedMultiplier` (double rounding) using the channel's
//! multiplier; add the output zero point; clamp to the fused activation's range. int8
//! models use per-channel multipliers and a zero filter offset (TFLite ignores the filter
//! zero point there), uint8 models one multiplier and `-filter_zero_point`.
//!
//! [`conv2d_reference`] is that loop nest written plainly; [`Conv2d`] is the fast form the
//! engine runs: weights packed once as `i16` with the filter offset folded in, input
//! pixels (or im2col rows for larger kernels) converted to `i16` with the input offset
//! folded in, and an `i16 x i16 -> i32` matrix product. Both produce identical bytes.

use crate::error::{KernelError, check_len};
use crate::gemm::{PackedWeights, Pair, gemm, padded_rows};
use crate::quant::{OutputStage, Q8};
use crate::simd::{Isa, Vectorized};

/// Geometry of a 2-D convolution (or depthwise convolution) over an NHWC input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Images in the batch.
    pub batches: usize,
    /// Input height, width, channels.
    pub input: [usize; 3],
    /// Output height, width, channels.
    pub output: [usize; 3],
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride along height and width.
    pub stride: [usize; 2],
    /// Dilation along height and width.
    pub dilation: [usize; 2],
    /// Padding before the first row and column.
    pub pad: [usize; 2],
}

impl ConvShape {
    /// Number of input elements.
    pub fn input_len(&self) -> usize {
        self.batches * self.input.iter().product::<usize>()
    }

    /// Number of output elements.
    pub fn output_len(&self) -> usize {
        self.batches * self.output.iter().product::<usize>()
    }

    /// Number of output pixels over the batch.
    pub fn output_pixels(&self) -> usize {
        self.batches * self.output[0] * self.output[1]
    }

    /// Number of CONV_2D filter elements (`[out_c, kh, kw, in_c]`).
    pub fn filter_len(&self) -> usize {
        self.output[2] * self.kernel[0] * self.kernel[1] * self.input[2]
    }

    /// Height and width of the padded input the windows read: every row and column any
    /// window touches, from the first padding row and column.
    pub(crate) fn span(&self) -> [usize; 2] {
        let span = |axis: usize| match self.output[axis] {
            0 => 0,
            out => {
                (out - 1) * self.stride[axis] + (self.kernel[axis] - 1) * self.dilation[axis] + 1
            }
        };
        [span(0), span(1)]
    }

    /// The input position read by output coordinate `out` at kernel tap `tap` along axis
    /// `axis` (0 = height), or `None` where it falls in the padding.
    #[inline(always)]
    pub(crate) fn source(&self, axis: usize, out: usize, tap: usize) -> Option<usize> {
        (out * self.stride[axis] + tap * self.dilation[axis])
            .checked_sub(self.pad[axis])
            .filter(|&i| i < self.input[axis])
    }

    /// Checks that the kernel, stride and dilation are positive and that no window lies
    /// entirely in the padding of a non-empty output.
    pub(crate) fn check(&self, kernel: &'static str) -> Result<(), KernelError> {
        let positive = self.kernel.iter().chain(&self.stride).chain(&self.dilation);
        if positive.into_iter().any(|&v| v == 0) {
            return Err(KernelError::InvalidParams {
                kernel,
                detail: format!(
                    "kernel {:?}, stride {:?} and dilation {:?} must be positive",
                    self.kernel, self.stride, self.dilation
                ),
            });
        }
        Ok(())
    }
}

/// The quantization of a convolution's operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvOffsets {
    /// Minus the input zero point.
    pub input: i32,
    /// Minus the filter zero point (0 for int8 per-channel filters).
    pub filter: i32,
}

/// CONV_2D as TFLite's reference kernel computes it, one output element at a time.
pub fn conv2d_reference<T: Q8>(
    shape: &ConvShape,
    offsets: ConvOffsets,
    stage: &OutputStage,
    input: &[T],
    filter: &[T],
    output: &mut [T],
) -> Result<(), KernelError> {
    check_operands(
        "conv2d_reference",
        shape,
        stage,
        input.len(),
        filter.len(),
        output.len(),
    )?;
    let [ih, iw, ic] = shape.input;
    let [oh, ow, oc] = shape.output;
    let [kh, kw] = shape.kernel;
    for b in 0..shape.batches {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..oc {
                    let mut acc = 0_i32;
                    for ky in 0..kh {
                        let Some(iy) = shape.source(0, oy, ky) else {
                            continue;
                        };
                        for kx in 0..kw {
                            let Some(ix) = shape.source(1, ox, kx) else {
                                continue;
                            };
                            for c in 0..ic {
                                let x = input[((b * ih + iy) * iw + ix) * ic + c].to_i32();
                                let w = filter[((o * kh + ky) * kw + kx) * ic + c].to_i32();
                                acc = acc.wrapping_add((w + offsets.filter) * (x + offsets.input));
                            }
                        }
                    }
                    output[((b * oh + oy) * ow + ox) * oc + o] = T::saturate(stage.apply(o, acc));
                }
            }
        }
    }
    Ok(())
}

/// Checks operand lengths against a convolution's shape and output stage.
fn check_operands(
    kernel: &'static str,
    shape: &ConvShape,
    stage: &OutputStage,
    input: usize,
    filter: usize,
    output: usize,
) -> Result<(), KernelError> {
    shape.check(kernel)?;
    check_len(kernel, "input", input, shape.input_len())?;
    check_len(kernel, "filter", filter, shape.filter_len())?;
    check_len(kernel, "output", output, shape.output_len())?;
    stage.check(kernel, shape.output[2])
}

/// Output pixels converted per block: bounds the scratch and keeps a block in L2.
const PIXEL_BLOCK: usize = 96;

/// Working memory of the fast kernels, allocated once and reused by every node.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    pub(crate) rows: Vec<Pair>,
    pub(crate) acc: Vec<i32>,
    pub(crate) wide: Vec<i16>,
}

impl Scratch {
    /// An empty scratch; kernels grow it on first use.
    pub fn new() -> Self {
        Scratch::default()
    }

    /// Grows the buffers to what `need` asks for (no-op once large enough).
    pub fn reserve_for(&mut self, need: ScratchNeed) {
        if self.rows.len() < need.rows {
            self.rows.resize(need.rows, [0; 2]);
        }
        if self.acc.len() < need.acc {
            self.acc.resize(need.acc, 0);
        }
        if self.wide.len() < need.wide {
            self.wide.resize(need.wide, 0);
        }
    }
}

/// Scratch sizes a prepared kernel needs (element counts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScratchNeed {
    /// Depth pairs of converted input rows.
    pub rows: usize,
    /// `i32` accumulators.
    pub acc: usize,
    /// Plain `i16` values.
    pub wide: usize,
}

impl ScratchNeed {
    /// The element-wise maximum of two needs.
    pub fn max(self, other: ScratchNeed) -> ScratchNeed {
        ScratchNeed {
            rows: self.rows.max(other.rows),
            acc: self.acc.max(other.acc),
            wide: self.wide.max(other.wide),
        }
    }
}

/// A CONV_2D prepared for fast execution: packed weights and the output stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conv2d {
    shape: ConvShape,
    input_offset: i32,
    weights: PackedWeights,
    /// The weights as bytes for the VNNI product, where they fit.
    #[cfg(target_arch = "x86_64")]
    quads: Option<crate::gemm_vnni::QuadWeights>,
    stage: OutputStage,
}

impl Conv2d {
    /// Packs `filter` (`[out_c, kh, kw, in_c]`) for `shape`.
    pub fn new<T: Q8>(
        shape: ConvShape,
        offsets: ConvOffsets,
        filter: &[T],
        stage: OutputStage,
    ) -> Result<Self, KernelError> {
        check_operands(
            "conv2d",
            &shape,
            &stage,
            shape.input_len(),
            filter.len(),
            shape.output_len(),
        )?;
        let depth = shape.kernel[0] * shape.kernel[1] * shape.input[2];
        let weights = PackedWeights::pack(shape.output[2], depth, |o, k| {
            (filter[o * depth + k].to_i32() + offsets.filter) as i16
        });
        // The byte `u = v + shift` standing for a folded input `v` of the VNNI product:
        // `x + 128` for int8, `x` for uint8, so `shift` = that minus the input offset.
        #[cfg(target_arch = "x86_64")]
        let quads = crate::gemm_vnni::QuadWeights::pack(
            shape.output[2],
            depth,
            |o, k| filter[o * depth + k].to_i32() + offsets.filter,
            -T::saturate(i32::MIN).to_i32() - offsets.input,
            &stage,
        );
        Ok(Conv2d {
            shape,
            input_offset: offsets.input,
            weights,
            #[cfg(target_arch = "x86_64")]
            quads,
            stage,
        })
    }

    /// The geometry this kernel was prepared for.
    pub fn shape(&self) -> &ConvShape {
        &self.shape
    }

    /// The output stage (bias, multipliers, clamp).
    pub fn stage(&self) -> &OutputStage {
        &self.stage
    }

    /// The scratch this kernel uses.
    pub fn scratch_need(&self) -> ScratchNeed {
        let block = PIXEL_BLOCK.min(self.shape.output_pixels());
        ScratchNeed {
            rows: padded_rows(block) * self.weights.pairs,
            acc: 0,
            wide: self.padded_len(),
        }
    }

    /// Runs the convolution; `scratch` grows if it is smaller than [`Self::scratch_need`].
    pub fn run<T: Q8>(
        &self,
        input: &[T],
        output: &mut [T],
        scratch: &mut Scratch,
    ) -> Result<(), KernelError> {
        check_len("conv2d", "input", input.len(), self.shape.input_len())?;
        check_len("conv2d", "output", output.len(), self.shape.output_len())?;
        scratch.reserve_for(self.scratch_need());
        crate::simd::dispatch(BlockRun {
            kernel: self,
            input,
            output,
            scratch,
        });
        Ok(())
    }

    /// Whether output pixels read exactly the input pixels of the same index (1x1 kernel,
    /// stride 1, no padding): their rows are then plain conversions of the input.
    fn is_pointwise(&self) -> bool {
        let s = &self.shape;
        s.kernel == [1, 1] && s.stride == [1, 1] && s.pad == [0, 0] && s.input[..2] == s.output[..2]
    }

    /// Length of the padded `i16` input of the im2col path (0 for pointwise kernels).
    fn padded_len(&self) -> usize {
        if self.is_pointwise() {
            return 0;
        }
        let [h, w] = self.shape.span();
        self.shape.batches * h * w * self.shape.input[2]
    }

    /// Writes the input, converted by `convert` (offset and widened to `i16`, or offset
    /// to bytes), with `zero` (the value standing for padding) around it, into `padded`
    /// ([`ConvShape::span`] per image): each input value is converted once rather than
    /// once per window that reads it, and the im2col rows become plain copies.
    #[inline(always)]
    fn pad_input<T: Q8, E: Copy>(
        &self,
        input: &[T],
        padded: &mut [E],
        zero: E,
        convert: impl Fn(&[T], &mut [E]),
    ) {
        let s = &self.shape;
        let ([ih, iw, ic], [pt, pl]) = (s.input, s.pad);
        let [h, w] = s.span();
        if padded.is_empty() {
            return;
        }
        for (r, row) in padded.chunks_exact_mut(w * ic).enumerate() {
            let (b, y) = (r / h, r % h);
            let Some(iy) = y.checked_sub(pt).filter(|&iy| iy < ih) else {
                row.fill(zero);
                continue;
            };
            // Columns before, inside and after the image.
            let left = pl.min(w);
            let inside = iw.min(w - left);
            let (before, rest) = row.split_at_mut(left * ic);
            let (body, after) = rest.split_at_mut(inside * ic);
            before.fill(zero);
            convert(&input[(b * ih + iy) * iw * ic..][..inside * ic], body);
            after.fill(zero);
        }
    }

    /// Writes the converted input rows (im2col rows for kernels larger than 1x1) of the
    /// output pixels starting at `p0`, `row_len` values per pixel (the depth, then
    /// padding up to whole pairs or quads); `padded` is the output of
    /// [`Self::pad_input`] with the same `convert`.
    #[inline(always)]
    fn fill_rows<T: Q8, E: Copy>(
        &self,
        input: &[T],
        padded: &[E],
        p0: usize,
        (rows, row_len): (&mut [E], usize),
        zero: E,
        convert: impl Fn(&[T], &mut [E]),
    ) {
        let s = &self.shape;
        let ic = s.input[2];
        let [oh, ow, _] = s.output;
        if self.is_pointwise() {
            let count = rows.len() / row_len.max(1);
            let src = &input[p0 * ic..(p0 + count) * ic];
            if ic == row_len {
                // Rows without padding lie back to back: one long conversion.
                convert(src, rows);
                return;
            }
            for (row, src) in rows.chunks_exact_mut(row_len).zip(src.chunks_exact(ic)) {
                convert(src, &mut row[..ic]);
                row[ic..].fill(zero);
            }
            return;
        }
        let [h, w] = s.span();
        let [kh, kw] = s.kernel;
        // A window row is one contiguous run of the padded input without dilation, else
        // `kw` runs of one pixel.
        let (run, runs) = match s.dilation[1] {
            1 => (kw * ic, 1),
            _ => (ic, kw),
        };
        // Walk the output pixels in order instead of dividing each index.
        let (mut b, mut oy, mut ox) = (p0 / (oh * ow), p0 / ow % oh, p0 % ow);
        for p in 0..rows.len() / row_len.max(1) {
            let end = (p + 1) * row_len;
            let mut at = p * row_len;
            for ky in 0..kh {
                let y = oy * s.stride[0] + ky * s.dilation[0];
                let start = ((b * h + y) * w + ox * s.stride[1]) * ic;
                for kx in 0..runs {
                    let tap = start + kx * s.dilation[1] * ic;
                    copy_short(&mut rows[at..], &padded[tap..], run);
                    at += run;
                }
            }
            fill_short(&mut rows[at..], end - at, zero);
            ox += 1;
            if ox == ow {
                ox = 0;
                oy += 1;
                if oy == oh {
                    oy = 0;
                    b += 1;
                }
            }
        }
    }

    /// [`BlockKernel::run_blocks`] with the 8-bit VNNI product: the rows hold the input
    /// as bytes `x + 128` (int8) or `x` (uint8), padding as the byte that stands for zero.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn run_quads<T: Q8>(
        &self,
        vnni: crate::gemm_vnni::Vnni,
        q: &crate::gemm_vnni::QuadWeights,
        input: &[T],
        output: &mut [T],
        scratch: &mut Scratch,
    ) {
        use crate::gemm_vnni::Quad;
        let quads = q.quads;
        let oc = self.shape.output[2];
        let pixels = self.shape.output_pixels();
        // The byte of a padding position (`v = 0`) and what turns an input into its byte.
        let zero = q.shift as u8;
        let to_byte = q.shift + self.input_offset;
        let convert = |src: &[T], dst: &mut [u8]| {
            for (d, x) in dst.iter_mut().zip(src) {
                *d = (x.to_i32() + to_byte) as u8;
            }
        };
        // The byte forms take at most half the `i16` forms' room, so they reuse it.
        let padded: &mut [u8] = pulp::bytemuck::cast_slice_mut(&mut scratch.wide[..]);
        let padded = &mut padded[..self.padded_len()];
        self.pad_input(input, padded, zero, convert);
        let padded: &[u8] = padded;
        let rows: &mut [Quad] = pulp::bytemuck::cast_slice_mut(&mut scratch.rows[..]);
        let mut p0 = 0;
        while p0 < pixels {
            let count = PIXEL_BLOCK.min(pixels - p0);
            let rows = &mut rows[..padded_rows(count) * quads];
            let fill = rows[..count * quads].as_flattened_mut();
            self.fill_rows(input, padded, p0, (fill, 4 * quads), zero, convert);
            let out = &mut output[p0 * oc..(p0 + count) * oc];
            crate::gemm_vnni::gemm(vnni, rows, count, q, &self.stage, out);
            p0 += count;
        }
    }
}

/// Elements copied or filled at once by [`copy_short`] and [`fill_short`].
const SHORT: usize = 16;

/// Copies the first `n` elements of `src` to `dst`. Runs of at most [`SHORT`] elements
/// (a first layer's window rows: a few pixels of three channels) are copied as a whole
/// [`SHORT`] where both have room, which is a few vector moves instead of a call to
/// `memcpy`; what is written past `n` must be rewritten later by the caller.
#[inline(always)]
fn copy_short<E: Copy>(dst: &mut [E], src: &[E], n: usize) {
    if n <= SHORT
        && let (Some(dst), Some(src)) = (dst.first_chunk_mut::<SHORT>(), src.first_chunk::<SHORT>())
    {
        *dst = *src;
        return;
    }
    dst[..n].copy_from_slice(&src[..n]);
}

/// Sets the first `n` elements of `dst` to `value`, as [`copy_short`] copies.
#[inline(always)]
fn fill_short<E: Copy>(dst: &mut [E], n: usize, value: E) {
    if n <= SHORT
        && let Some(dst) = dst.first_chunk_mut::<SHORT>()
    {
        *dst = [value; SHORT];
        return;
    }
    dst[..n].fill(value);
}

/// `dst[i] = src[i] + offset` as `i16` (exact: 8-bit values and offsets fit).
#[inline(always)]
pub(crate) fn widen_run<T: Q8>(src: &[T], offset: i32, dst: &mut [i16]) {
    for (d, x) in dst.iter_mut().zip(src) {
        *d = (x.to_i32() + offset) as i16;
    }
}

/// A prepared kernel whose hot path widens blocks of input rows and multiplies them with
/// its packed weights; [`BlockRun`] dispatches it.
pub(crate) trait BlockKernel {
    /// Computes all of `output` from `input`; `scratch` is at least the kernel's need
    /// and the slices have the lengths the caller checked.
    fn run_blocks<T: Q8>(&self, isa: Isa, input: &[T], output: &mut [T], scratch: &mut Scratch);
}

impl BlockKernel for Conv2d {
    #[inline(always)]
    fn run_blocks<T: Q8>(&self, isa: Isa, input: &[T], output: &mut [T], scratch: &mut Scratch) {
        #[cfg(target_arch = "x86_64")]
        if let (Isa::V4(v4), Some(q)) = (isa, &self.quads)
            && let Some(vnni) = crate::gemm_vnni::Vnni::new(v4)
        {
            return self.run_quads(vnni, q, input, output, scratch);
        }
        let pairs = self.weights.pairs;
        let oc = self.shape.output[2];
        let pixels = self.shape.output_pixels();
        let offset = self.input_offset;
        let convert = |src: &[T], dst: &mut [i16]| widen_run(src, offset, dst);
        let padded = &mut scratch.wide[..self.padded_len()];
        self.pad_input(input, padded, 0, convert);
        let padded: &[i16] = padded;
        let mut p0 = 0;
        while p0 < pixels {
            let count = PIXEL_BLOCK.min(pixels - p0);
            let rows = &mut scratch.rows[..padded_rows(count) * pairs];
            let fill = rows[..count * pairs].as_flattened_mut();
            self.fill_rows(input, padded, p0, (fill, 2 * pairs), 0, convert);
            let out = &mut output[p0 * oc..(p0 + count) * oc];
            gemm(isa, rows, count, &self.weights, &self.stage, out);
            p0 += count;
        }
    }
}

/// One run of a [`BlockKernel`], as a unit for [`crate::simd::dispatch`].
pub(crate) struct BlockRun<'a, K, T> {
    pub(crate) kernel: &'a K,
    pub(crate) input: &'a [T],
    pub(crate) output: &'a mut [T],
    pub(crate) scratch: &'a mut Scratch,
}

impl<K: BlockKernel, T: Q8> Vectorized for BlockRun<'_, K, T> {
    type Output = ();

    #[inline(always)]
    fn run(self, isa: Isa) {
        self.kernel
            .run_blocks(isa, self.input, self.output, self.scratch);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::quant::{QuantizedMultiplier, quantize_multiplier};
    use proptest::prelude::*;

    fn stage(
        channels: usize,
        multiplier: QuantizedMultiplier,
        offset: i32,
        range: (i32, i32),
    ) -> OutputStage {
        OutputStage::new(None, &vec![multiplier; channels], offset, range)
    }

    #[test]
    fn pointwise_two_channels_by_hand() {
        // One pixel, two input channels, two output channels, multiplier 0.5.
        let shape = ConvShape {
            batches: 1,
            input: [1, 1, 2],
            output: [1, 1, 2],
            kernel: [1, 1],
            stride: [1, 1],
            dilation: [1, 1],
            pad: [0, 0],
        };
        let input: [i8; 2] = [10, -4];
        let filter: [i8; 4] = [1, 2, -3, 5];
        // input zero point 2 -> offsets: x = [8, -6].
        // out 0: 1*8 + 2*-6 = -4, + bias 10 = 6, *0.5 = 3, + zero point -1 = 2.
        // out 1: -3*8 + 5*-6 = -54, + bias 0 = -54, *0.5 = -27, -1 = -28.
        let st = OutputStage::new(
            Some(&[10, 0]),
            &[quantize_multiplier(0.5); 2],
            -1,
            (-128, 127),
        );
        let offsets = ConvOffsets {
            input: -2,
            filter: 0,
        };
        let mut want = [0_i8; 2];
        conv2d_reference(&shape, offsets, &st, &input, &filter, &mut want).expect("valid");
        assert_eq!(want, [2, -28]);
        let conv = Conv2d::new(shape, offsets, &filter, st).expect("valid");
        let mut got = [0_i8; 2];
        conv.run(&input, &mut got, &mut Scratch::new())
            .expect("valid");
        assert_eq!(got, want);
    }

    #[test]
    fn operand_lengths_are_checked() {
        let shape = ConvShape {
            batches: 1,
            input: [2, 2, 1],
            output: [2, 2, 1],
            kernel: [1, 1],
            stride: [1, 1],
            dilation: [1, 1],
            pad: [0, 0],
        };
        let st = stage(1, quantize_multiplier(0.5), 0, (0, 255));
        let offsets = ConvOffsets {
            input: 0,
            filter: 0,
        };
        let err = conv2d_reference::<u8>(&shape, offsets, &st, &[0; 3], &[0; 1], &mut [0; 4]);
        assert!(matches!(
            err,
            Err(KernelError::OperandLength {
                operand: "input",
                ..
            })
        ));
    }

    /// A random convolution: shape, offsets, output stage, input and filter values.
    #[derive(Debug, Clone)]
    struct Case {
        shape: ConvShape,
        offsets: ConvOffsets,
        stage: OutputStage,
        input: Vec<i32>,
        filter: Vec<i32>,
    }

    /// Output size and padding before, as TFLite's SAME or VALID padding gives them.
    pub(crate) fn out_and_pad(
        same: bool,
        i: usize,
        k: usize,
        s: usize,
        d: usize,
    ) -> (usize, usize) {
        let eff = (k - 1) * d + 1;
        if same {
            let out = i.div_ceil(s);
            (out, ((out - 1) * s + eff).saturating_sub(i) / 2)
        } else {
            ((i + s).saturating_sub(eff) / s, 0)
        }
    }

    /// Random convolution geometries small enough for the plain loop nest.
    fn shapes() -> impl Strategy<Value = ConvShape> {
        (
            (1_usize..3, 1_usize..9, 1_usize..9, 1_usize..12, 1_usize..10),
            (
                1_usize..4,
                1_usize..4,
                1_usize..3,
                1_usize..3,
                any::<bool>(),
            ),
        )
            .prop_map(|((b, ih, iw, ic, oc), (kh, kw, s, d, same))| {
                let (oh, pt) = out_and_pad(same, ih, kh, s, d);
                let (ow, pl) = out_and_pad(same, iw, kw, s, d);
                ConvShape {
                    batches: b,
                    input: [ih, iw, ic],
                    output: [oh, ow, oc],
                    kernel: [kh, kw],
                    stride: [s, s],
                    dilation: [d, d],
                    pad: [pt, pl],
                }
            })
    }

    /// The value range of the signed (int8) or unsigned (uint8) type.
    pub(crate) fn q8_range(signed: bool) -> (i32, i32) {
        if signed { (-128, 127) } else { (0, 255) }
    }

    /// Offsets for zero points `zi`, `zf`; int8 filters are symmetric as in TFLite.
    pub(crate) fn offsets_for(signed: bool, zi: i32, zf: i32) -> ConvOffsets {
        ConvOffsets {
            input: -zi,
            filter: if signed { 0 } else { -zf },
        }
    }

    /// Random per-channel output stages around multiplier `m / damping`.
    pub(crate) fn stages(
        channels: usize,
        m: f64,
        damping: f64,
        zo: i32,
        (lo, hi): (i32, i32),
    ) -> impl Strategy<Value = OutputStage> {
        (
            proptest::collection::vec(-5000_i32..5000, channels),
            proptest::collection::vec(0.5_f64..2.0, channels),
        )
            .prop_map(move |(bias, spread)| {
                let multipliers: Vec<QuantizedMultiplier> = spread
                    .iter()
                    .map(|f| quantize_multiplier(m * f / damping))
                    .collect();
                OutputStage::new(Some(&bias), &multipliers, zo, (lo, hi))
            })
    }

    /// `values` converted with `cast`.
    pub(crate) fn cast_all<T>(values: &[i32], cast: impl Fn(i32) -> T) -> Vec<T> {
        values.iter().map(|&v| cast(v)).collect()
    }

    /// Asserts that `run` writes `want` into a fresh output on every instruction set.
    pub(crate) fn assert_every_isa<T: Q8>(want: &[T], run: impl Fn(Isa, &mut [T])) {
        for isa in crate::simd::available() {
            let mut got = vec![T::default(); want.len()];
            run(isa, &mut got);
            assert_eq!(got, want, "{isa:?}");
        }
    }

    fn case(signed: bool) -> impl Strategy<Value = Case> {
        let range @ (lo, hi) = q8_range(signed);
        (shapes(), lo..=hi, lo..=hi, lo..=hi, 0.0005_f64..1.5).prop_flat_map(
            move |(shape, zi, zf, zo, m): (ConvShape, i32, i32, i32, f64)| {
                let offsets = offsets_for(signed, zi, zf);
                (
                    proptest::collection::vec(lo..=hi, shape.input_len()),
                    proptest::collection::vec(lo..=hi, shape.filter_len()),
                    stages(shape.output[2], m, 64.0, zo, range),
                )
                    .prop_map(move |(input, filter, stage)| Case {
                        shape,
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
        conv2d_reference(&c.shape, c.offsets, &c.stage, &input, &filter, &mut want).expect("valid");
        let conv = Conv2d::new(c.shape, c.offsets, &filter, c.stage.clone()).expect("valid");
        assert_every_isa(&want, |isa, got| {
            let mut scratch = Scratch::new();
            scratch.reserve_for(conv.scratch_need());
            BlockRun {
                kernel: &conv,
                input: &input,
                output: got,
                scratch: &mut scratch,
            }
            .run(isa);
        });
    }

    /// The int8 and uint8 property tests holding a fast kernel to its reference, for a
    /// test module with `case(signed)` and `check_case(&case, cast)` in scope.
    macro_rules! fast_matches_reference_tests {
        () => {
            proptest! {
                #![proptest_config(ProptestConfig::with_cases(64))]

                #[test]
                fn fast_int8_matches_reference(c in case(true)) {
                    check_case(&c, |v| v as i8);
                }

                #[test]
                fn fast_uint8_matches_reference(c in case(false)) {
                    check_case(&c, |v| v as u8);
                }
            }
        };
    }
    pub(crate) use fast_matches_reference_tests;

    fast_matches_reference_tests!();
}
