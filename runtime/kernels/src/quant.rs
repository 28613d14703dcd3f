//! Quantization parameters as TensorFlow Lite derives them from a model's float scales.
//!
//! Every function here reproduces TFLite's preparation step (its `Prepare` functions and
//! `quantization_util.cc`) to the bit: which products are formed in `f32` and which in
//! `f64`, how `frexp` and TFLite's rounding (half away from zero) turn a real multiplier
//! into a 32-bit fixed-point multiplier and a shift. Kernels take the results, never the
//! float scales, so that the arithmetic at inference time is integer only.

use fibha_model::Activation;

use crate::simd::Isa;

/// An 8-bit quantized element type: `i8` or `u8`.
///
/// Kernels are generic over it; all arithmetic happens on the `i32` value.
pub trait Q8:
    Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + Into<i32> + 'static
{
    /// The smallest value of the type.
    const MIN: i32;
    /// The largest value of the type.
    const MAX: i32;
    /// The value as `i32`.
    fn to_i32(self) -> i32;
    /// `v` clamped to the type's range.
    fn saturate(v: i32) -> Self;
    /// The value whose bits are `b`.
    fn from_bits(b: u8) -> Self;
}

impl Q8 for i8 {
    const MIN: i32 = i8::MIN as i32;
    const MAX: i32 = i8::MAX as i32;
    #[inline(always)]
    fn to_i32(self) -> i32 {
        i32::from(self)
    }
    #[inline(always)]
    fn saturate(v: i32) -> Self {
        v.clamp(<Self as Q8>::MIN, <Self as Q8>::MAX) as i8
    }
    #[inline(always)]
    fn from_bits(b: u8) -> Self {
        b as i8
    }
}

impl Q8 for u8 {
    const MIN: i32 = u8::MIN as i32;
    const MAX: i32 = u8::MAX as i32;
    #[inline(always)]
    fn to_i32(self) -> i32 {
        i32::from(self)
    }
    #[inline(always)]
    fn saturate(v: i32) -> Self {
        v.clamp(<Self as Q8>::MIN, <Self as Q8>::MAX) as u8
    }
    #[inline(always)]
    fn from_bits(b: u8) -> Self {
        b
    }
}

/// A real multiplier as TFLite stores it: `multiplier / 2^31 * 2^shift`, with
/// `multiplier` in `[2^30, 2^31)` (or 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantizedMultiplier {
    /// The Q0.31 significand.
    pub multiplier: i32,
    /// The power of two; positive means a left shift.
    pub shift: i32,
}

/// `frexp`: `x = m * 2^e` with `|m|` in `[0.5, 1)`; zero and non-finite values give `(x, 0)`.
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if exponent == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * 2f64.powi(64));
        return (m, e - 64);
    }
    let m = f64::from_bits((bits & !(0x7ff_u64 << 52)) | (1022_u64 << 52));
    (m, exponent - 1022)
}

/// TFLite's `QuantizeMultiplier`: the significand rounded (half away from zero) to 31
/// bits; a significand that rounds up to 2^31 is halved with the shift raised by one, and
/// multipliers below about 2^-31 become zero.
pub fn quantize_multiplier(real: f64) -> QuantizedMultiplier {
    if real == 0.0 || !real.is_finite() {
        return QuantizedMultiplier {
            multiplier: 0,
            shift: 0,
        };
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = (q * 2f64.powi(31)).round() as i64;
    if q_fixed == 1_i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    QuantizedMultiplier {
        multiplier: q_fixed as i32,
        shift,
    }
}

/// The int8 per-channel convolution multiplier of one output channel:
/// `input_scale * filter_scale / output_scale`, every factor widened to `f64` first
/// (TFLite's `PopulateConvolutionQuantizationParams`).
pub fn per_channel_conv_multiplier(
    input_scale: f32,
    filter_scale: f32,
    output_scale: f32,
) -> QuantizedMultiplier {
    quantize_multiplier(f64::from(input_scale) * f64::from(filter_scale) / f64::from(output_scale))
}

/// The uint8 per-tensor convolution and fully-connected multiplier: the product
/// `input_scale * filter_scale` is formed in `f32` and only then widened
/// (TFLite's `GetQuantizedConvolutionMultipler`).
pub fn per_tensor_conv_multiplier(
    input_scale: f32,
    filter_scale: f32,
    output_scale: f32,
) -> QuantizedMultiplier {
    quantize_multiplier(f64::from(input_scale * filter_scale) / f64::from(output_scale))
}

/// The multiplier that rescales from one scale to another, `from / to` in `f64`
/// (QUANTIZE's requantization and MEAN).
pub fn rescale_multiplier(from_scale: f32, to_scale: f32) -> QuantizedMultiplier {
    quantize_multiplier(f64::from(from_scale) / f64::from(to_scale))
}

/// TFLite's quantization of a real value for activation bounds: `zero_point +
/// round(value / scale)`, the division and rounding in `f32`.
fn quantize_bound(value: f32, scale: f32, zero_point: i32) -> i32 {
    zero_point.saturating_add((value / scale).round() as i32)
}

/// The clamp a fused activation applies to a quantized output of type `T` with the given
/// quantization (TFLite's `CalculateActivationRangeQuantized`).
pub fn activation_range<T: Q8>(activation: Activation, scale: f32, zero_point: i32) -> (i32, i32) {
    activation_range_for(activation, (T::MIN, T::MAX), scale, zero_point)
}

/// [`activation_range`] for an output type given by its bounds.
pub fn activation_range_for(
    activation: Activation,
    (type_min, type_max): (i32, i32),
    scale: f32,
    zero_point: i32,
) -> (i32, i32) {
    let low = || type_min.max(quantize_bound(0.0, scale, zero_point));
    match activation {
        Activation::None => (type_min, type_max),
        Activation::Relu => (low(), type_max),
        Activation::Relu6 => (low(), type_max.min(quantize_bound(6.0, scale, zero_point))),
    }
}

/// Fixed-point parameters of the 8-bit ADD (TFLite's `add.cc` Prepare): both inputs are
/// shifted left by 20 bits and scaled by their share of twice the larger input scale, the
/// sum is scaled to the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddMultipliers {
    /// The left shift applied to both offset inputs (20 for 8-bit).
    pub left_shift: i32,
    /// Multiplier of input 1 (shift zero or negative).
    pub input1: QuantizedMultiplier,
    /// Multiplier of input 2 (shift zero or negative).
    pub input2: QuantizedMultiplier,
    /// Multiplier of the sum to the output (shift zero or negative).
    pub output: QuantizedMultiplier,
}

/// The ADD multipliers for the given scales.
pub fn add_multipliers(input1_scale: f32, input2_scale: f32, output_scale: f32) -> AddMultipliers {
    const LEFT_SHIFT: i32 = 20;
    let twice_max_input_scale = 2.0 * f64::from(input1_scale.max(input2_scale));
    AddMultipliers {
        left_shift: LEFT_SHIFT,
        input1: quantize_multiplier(f64::from(input1_scale) / twice_max_input_scale),
        input2: quantize_multiplier(f64::from(input2_scale) / twice_max_input_scale),
        output: quantize_multiplier(
            twice_max_input_scale / (f64::from(1_i32 << LEFT_SHIFT) * f64::from(output_scale)),
        ),
    }
}

/// The 8-bit MUL multiplier (TFLite's `mul.cc` Prepare): `input1_scale * input2_scale /
/// output_scale` formed in `f32`, as TFLite's float `params.scale` fields multiply, and only
/// then widened.
pub fn mul_multiplier(
    input1_scale: f32,
    input2_scale: f32,
    output_scale: f32,
) -> QuantizedMultiplier {
    quantize_multiplier(f64::from(input1_scale * input2_scale / output_scale))
}

/// TFLite's `LUTPopulate` for 8-bit types (`LUTPopulateInt8`): the table of
/// `transform` over every input code `min..=max` of an 8-bit type given by its bounds,
/// entry `k` for code `min + k`. Each code is dequantized in `f32`
/// (`input_scale * (code - input_zero_point)`), transformed in `f32`, multiplied by the
/// `f32` reciprocal of the output scale, rounded half away from zero, offset by the output
/// zero point (in `f32`, then truncated) and clamped to the type.
pub fn lookup_table(
    (min, max): (i32, i32),
    (input_scale, input_zero_point): (f32, i32),
    (output_scale, output_zero_point): (f32, i32),
    transform: fn(f32) -> f32,
) -> Vec<i32> {
    let inverse_scale = 1.0 / output_scale;
    (min..=max)
        .map(|code| {
            let dequantized = input_scale * code.wrapping_sub(input_zero_point) as f32;
            let rescaled = (transform(dequantized) * inverse_scale).round();
            // C++'s float-to-int conversion truncates; `as` does too (and saturates where
            // C++ would be undefined).
            ((rescaled + output_zero_point as f32) as i32).clamp(min, max)
        })
        .collect()
}

/// The sigmoid as TFLite's LOGISTIC table computes it: `1 / (1 + exp(-x))` in `f32`
/// (`std::exp` of a `float`, the C library's `expf`).
pub fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Parameters of TFLite's quantized HARD_SWISH (`HardSwishParams`, from
/// `HardSwishPrepare` in `activations.cc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HardSwishParams {
    /// The input zero point.
    pub input_zero_point: i32,
    /// The output zero point.
    pub output_zero_point: i32,
    /// Q0.15 multiplier from the input's "hires" scale (input scale / 128) to the
    /// relu-ish scale, where 3.0 is 32768.
    pub reluish_multiplier_fixedpoint_int16: i16,
    /// Its power of two (positive: left).
    pub reluish_multiplier_exponent: i32,
    /// Q0.15 multiplier from the hires input scale to the output scale.
    pub output_multiplier_fixedpoint_int16: i16,
    /// Its power of two, zero or negative.
    pub output_multiplier_exponent: i32,
}

/// TFLite's `DownScaleInt32ToInt16Multiplier`: a Q0.31 multiplier rounded to Q0.15.
fn down_scale_to_int16(multiplier: i32) -> i16 {
    const ROUNDING_OFFSET: i32 = 1 << 15;
    if multiplier >= i32::MAX - ROUNDING_OFFSET {
        return i16::MAX;
    }
    ((multiplier + ROUNDING_OFFSET) >> 16) as i16
}

/// The HARD_SWISH parameters for the given quantizations, every scale ratio formed in
/// `f32` as TFLite does; `None` where TFLite refuses the model (an output multiplier of
/// one or more, which would shift left).
pub fn hard_swish_params(
    (input_scale, input_zero_point): (f32, i32),
    (output_scale, output_zero_point): (f32, i32),
) -> Option<HardSwishParams> {
    let hires_input_scale = (1.0_f32 / 128.0) * input_scale;
    let reluish_scale = 3.0_f32 / 32768.0;
    let output = quantize_multiplier(f64::from(hires_input_scale / output_scale));
    let reluish = quantize_multiplier(f64::from(hires_input_scale / reluish_scale));
    if output.shift > 0 || output.multiplier < 0 || reluish.multiplier < 0 {
        return None;
    }
    Some(HardSwishParams {
        input_zero_point,
        output_zero_point,
        reluish_multiplier_fixedpoint_int16: down_scale_to_int16(reluish.multiplier),
        reluish_multiplier_exponent: reluish.shift,
        output_multiplier_fixedpoint_int16: down_scale_to_int16(output.multiplier),
        output_multiplier_exponent: output.shift,
    })
}

/// Channels requantized per step of [`OutputStage::requantize_block`].
pub(crate) const REQUANT_LANES: usize = 16;

/// The output stage shared by convolutions and fully-connected layers: add the bias,
/// requantize with the channel's multiplier (TFLite's `MultiplyByQuantizedMultiplier`),
/// add the output zero point, clamp to the fused activation's range.
///
/// The per-channel parameters are kept in the form the vectorized requantization wants:
/// the shift split into a left and a right part, the rounding mask precomputed, every
/// array padded to whole blocks of 16 channels (padding channels compute garbage that is
/// never stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputStage {
    channels: usize,
    bias: Vec<i32>,
    multipliers: Vec<i32>,
    shifts: Vec<i32>,
    left: Vec<u32>,
    /// Whether any channel shifts left.
    any_left: bool,
    right: Vec<u32>,
    masks: Vec<i32>,
    halves: Vec<i32>,
    offset: i32,
    min: i32,
    max: i32,
}

impl OutputStage {
    /// An output stage with one multiplier per channel; `bias` defaults to zeros.
    pub fn new(
        bias: Option<&[i32]>,
        multipliers: &[QuantizedMultiplier],
        offset: i32,
        (min, max): (i32, i32),
    ) -> Self {
        let channels = multipliers.len();
        let padded = channels.div_ceil(REQUANT_LANES) * REQUANT_LANES;
        let pad = |mut v: Vec<i32>| {
            v.resize(padded.max(v.len()), 0);
            v
        };
        let shifts: Vec<i32> = multipliers.iter().map(|m| m.shift).collect();
        let right: Vec<u32> = pad(shifts.iter().map(|&s| (-s).clamp(0, 31)).collect())
            .into_iter()
            .map(|r| r as u32)
            .collect();
        OutputStage {
            channels,
            // A bias of the wrong length is kept unpadded for `check` to report.
            bias: match bias {
                Some(b) if b.len() != channels => b.to_vec(),
                Some(b) => pad(b.to_vec()),
                None => pad(vec![0; channels]),
            },
            multipliers: pad(multipliers.iter().map(|m| m.multiplier).collect()),
            left: pad(shifts.iter().map(|&s| s.clamp(0, 31)).collect())
                .into_iter()
                .map(|l| l as u32)
                .collect(),
            any_left: shifts.iter().any(|&s| s > 0),
            masks: right.iter().map(|&r| ((1_i64 << r) - 1) as i32).collect(),
            halves: right
                .iter()
                .map(|&r| ((1_i64 << r) - 1) as i32 >> 1)
                .collect(),
            right,
            shifts,
            offset,
            min,
            max,
        }
    }

    /// Number of output channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The bias of each channel.
    pub fn bias(&self) -> &[i32] {
        &self.bias[..self.channels]
    }

    /// The multiplier of each channel.
    pub fn multipliers(&self) -> &[i32] {
        &self.multipliers[..self.channels]
    }

    /// The shift of each channel (positive: left).
    pub fn shifts(&self) -> &[i32] {
        &self.shifts
    }

    /// The output zero point.
    pub fn offset(&self) -> i32 {
        self.offset
    }

    /// The clamp `(min, max)`.
    pub fn range(&self) -> (i32, i32) {
        (self.min, self.max)
    }

    /// The output of channel `c` for the accumulator `acc`, computed literally as TFLite
    /// does (the reference kernels use this; the fast ones requantize whole blocks).
    pub fn apply(&self, c: usize, acc: i32) -> i32 {
        crate::fixedpoint::multiply_by_quantized_multiplier(
            acc.wrapping_add(self.bias[c]),
            self.multipliers[c],
            self.shifts[c],
        )
        .wrapping_add(self.offset)
        .clamp(self.min, self.max)
    }

    /// The biases of the [`REQUANT_LANES`] channels from `first` (a multiple of
    /// [`REQUANT_LANES`]), zero past the last channel. The fast kernels start their
    /// accumulators from these (wrapping addition makes the order irrelevant), which saves
    /// the requantization a load and an add.
    #[inline(always)]
    pub(crate) fn bias_block(&self, first: usize) -> [i32; REQUANT_LANES] {
        self.bias[first..first + REQUANT_LANES]
            .try_into()
            .expect("padded to whole blocks")
    }

    /// The clamped outputs of the [`REQUANT_LANES`] channels from `first` (a multiple of
    /// [`REQUANT_LANES`]) for their accumulators `acc`, which already include the bias
    /// ([`Self::bias_block`]).
    #[inline(always)]
    pub(crate) fn requantize_block(
        &self,
        isa: Isa,
        first: usize,
        acc: &[i32; REQUANT_LANES],
    ) -> [i32; REQUANT_LANES] {
        self.block(first).requantize(isa, acc)
    }

    /// The parameters of the [`REQUANT_LANES`] channels from `first` (a multiple of
    /// [`REQUANT_LANES`]).
    #[inline(always)]
    pub(crate) fn block(&self, first: usize) -> BlockStage {
        let lanes = |v: &[i32]| -> [i32; REQUANT_LANES] {
            v[first..first + REQUANT_LANES]
                .try_into()
                .expect("padded to whole blocks")
        };
        let unsigned = |v: &[u32]| -> [u32; REQUANT_LANES] {
            v[first..first + REQUANT_LANES]
                .try_into()
                .expect("padded to whole blocks")
        };
        BlockStage {
            multipliers: lanes(&self.multipliers),
            left: self.any_left.then(|| unsigned(&self.left)),
            right: unsigned(&self.right),
            masks: lanes(&self.masks),
            #[cfg(target_arch = "x86_64")]
            halves: lanes(&self.halves),
            offset: self.offset,
            min: self.min,
            max: self.max,
        }
    }

    /// Checks that the stage has `channels` channels, valid multipliers and a non-empty
    /// clamp.
    pub(crate) fn check(
        &self,
        kernel: &'static str,
        channels: usize,
    ) -> Result<(), crate::KernelError> {
        crate::error::check_len(kernel, "multipliers", self.channels, channels)?;
        let invalid = |detail: String| crate::KernelError::InvalidParams { kernel, detail };
        if self.bias.len() != self.multipliers.len() {
            return Err(invalid(format!(
                "{} biases for {} channels",
                self.bias.len(),
                self.channels
            )));
        }
        if let Some((m, s)) = self
            .multipliers
            .iter()
            .zip(&self.shifts)
            .find(|&(&m, &s)| m < 0 || !(-31..=31).contains(&s))
        {
            return Err(invalid(format!(
                "multiplier {m} with shift {s}: expected a non-negative multiplier and a shift in -31..=31"
            )));
        }
        if self.min > self.max {
            return Err(invalid(format!(
                "activation range [{}, {}] is empty",
                self.min, self.max
            )));
        }
        Ok(())
    }
}

/// The output stage of one block of [`REQUANT_LANES`] channels, fetched once where a
/// tile requantizes the block for several pixels (the fetch and its bounds checks would
/// otherwise be repeated per pixel, which the compiler cannot hoist past the stores).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockStage {
    multipliers: [i32; REQUANT_LANES],
    /// `None` where no channel of the stage shifts left (the usual case: multipliers
    /// below one).
    left: Option<[u32; REQUANT_LANES]>,
    right: [u32; REQUANT_LANES],
    masks: [i32; REQUANT_LANES],
    /// `masks >> 1`, which only the vector forms load rather than compute.
    #[cfg(target_arch = "x86_64")]
    halves: [i32; REQUANT_LANES],
    offset: i32,
    min: i32,
    max: i32,
}

impl BlockStage {
    /// The clamped outputs of the block's channels for their accumulators `acc`, which
    /// already include the bias ([`OutputStage::bias_block`]).
    #[inline(always)]
    pub(crate) fn requantize(&self, isa: Isa, acc: &[i32; REQUANT_LANES]) -> [i32; REQUANT_LANES] {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::V4(v4) => self.requantize_avx512(v4, acc),
            #[cfg(target_arch = "x86_64")]
            Isa::V3(v3) => self.requantize_avx2(v3, acc),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon(_) => self.requantize_portable(acc),
            Isa::Baseline => self.requantize_portable(acc),
        }
    }

    /// [`Self::requantize`] in plain Rust.
    #[inline(always)]
    fn requantize_portable(&self, acc: &[i32; REQUANT_LANES]) -> [i32; REQUANT_LANES] {
        let left = self.left.unwrap_or([0; REQUANT_LANES]);
        // A plain loop rather than `array::from_fn`, which LLVM does not inline into the
        // vectorized copies of the kernels.
        let mut out = [0_i32; REQUANT_LANES];
        for l in 0..REQUANT_LANES {
            out[l] = requantize(
                acc[l],
                self.multipliers[l],
                left[l],
                self.right[l],
                self.masks[l],
            )
            .wrapping_add(self.offset)
            .clamp(self.min, self.max);
        }
        out
    }

    /// [`Self::requantize`] with AVX2: eight lanes per step, the 64-bit products of even
    /// and odd lanes formed separately (`vpmuldq`) and their bits 31..62 blended back into
    /// 32-bit lanes; the rounding shift and its tie correction as in [`requantize`].
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn requantize_avx2(
        &self,
        v3: pulp::x86::V3,
        acc: &[i32; REQUANT_LANES],
    ) -> [i32; REQUANT_LANES] {
        use core::arch::x86_64::__m256i;
        let (avx, avx2) = (v3.avx, v3.avx2);
        let half = |v: &[i32; REQUANT_LANES], h: usize| -> __m256i {
            let [lo, hi]: [[i32; 8]; 2] = pulp::cast(*v);
            pulp::cast(if h == 0 { lo } else { hi })
        };
        let half_u = |v: &[u32; REQUANT_LANES], h: usize| -> __m256i {
            let [lo, hi]: [[u32; 8]; 2] = pulp::cast(*v);
            pulp::cast(if h == 0 { lo } else { hi })
        };
        let nudge = avx._mm256_set1_epi64x(1 << 30);
        let (offset, min, max) = (
            avx._mm256_set1_epi32(self.offset),
            avx._mm256_set1_epi32(self.min),
            avx._mm256_set1_epi32(self.max),
        );
        let mut out = [0_i32; REQUANT_LANES];
        for (h, out) in out.chunks_exact_mut(8).enumerate() {
            let x = half(acc, h);
            let x = match &self.left {
                Some(left) => avx2._mm256_sllv_epi32(x, half_u(left, h)),
                None => x,
            };
            let m = half(&self.multipliers, h);
            let even = avx2._mm256_add_epi64(avx2._mm256_mul_epi32(x, m), nudge);
            let odd = avx2._mm256_mul_epi32(
                avx2._mm256_srli_epi64::<32>(x),
                avx2._mm256_srli_epi64::<32>(m),
            );
            let odd = avx2._mm256_add_epi64(odd, nudge);
            let y = avx2._mm256_blend_epi32::<0b1010_1010>(
                avx2._mm256_srli_epi64::<31>(even),
                avx2._mm256_slli_epi64::<1>(odd),
            );
            let shifted = avx2._mm256_srav_epi32(y, half_u(&self.right, h));
            let remainder = avx2._mm256_and_si256(y, half(&self.masks, h));
            let threshold =
                avx2._mm256_sub_epi32(half(&self.halves, h), avx2._mm256_srai_epi32::<31>(y));
            let v = avx2._mm256_sub_epi32(shifted, avx2._mm256_cmpgt_epi32(remainder, threshold));
            let v = avx2._mm256_add_epi32(v, offset);
            let v = avx2._mm256_min_epi32(avx2._mm256_max_epi32(v, min), max);
            out.copy_from_slice(&pulp::cast::<__m256i, [i32; 8]>(v));
        }
        out
    }

    /// [`Self::requantize_avx2`] with AVX-512: all sixteen lanes in one step, the blend and
    /// the tie correction through mask registers.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn requantize_avx512(
        &self,
        v4: pulp::x86::V4,
        acc: &[i32; REQUANT_LANES],
    ) -> [i32; REQUANT_LANES] {
        use core::arch::x86_64::__m512i;
        let f = v4.avx512f;
        let x: __m512i = pulp::cast(*acc);
        let x = match &self.left {
            Some(left) => f._mm512_sllv_epi32(x, pulp::cast(*left)),
            None => x,
        };
        let v = requantize_avx512(
            v4,
            x,
            [
                pulp::cast(self.multipliers),
                pulp::cast(self.right),
                pulp::cast(self.masks),
                pulp::cast(self.halves),
            ],
        );
        let v = f._mm512_add_epi32(v, f._mm512_set1_epi32(self.offset));
        let v = f._mm512_max_epi32(v, f._mm512_set1_epi32(self.min));
        let v = f._mm512_min_epi32(v, f._mm512_set1_epi32(self.max));
        pulp::cast(v)
    }
}

/// [`requantize`] of sixteen lanes with AVX-512, given per lane `[multiplier, right shift,
/// mask, mask >> 1]`: the 64-bit products of even and odd lanes formed separately
/// (`vpmuldq`) and their bits 31..62 blended back into 32-bit lanes, the tie correction
/// of the rounding shift through a mask register.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn requantize_avx512(
    v4: pulp::x86::V4,
    x: core::arch::x86_64::__m512i,
    [m, right, masks, halves]: [core::arch::x86_64::__m512i; 4],
) -> core::arch::x86_64::__m512i {
    let f = v4.avx512f;
    let nudge = f._mm512_set1_epi64(1 << 30);
    let even = f._mm512_add_epi64(f._mm512_mul_epi32(x, m), nudge);
    let odd = f._mm512_mul_epi32(f._mm512_srli_epi64::<32>(x), f._mm512_srli_epi64::<32>(m));
    let odd = f._mm512_add_epi64(odd, nudge);
    let y = f._mm512_mask_blend_epi32(
        0b1010_1010_1010_1010,
        f._mm512_srli_epi64::<31>(even),
        f._mm512_slli_epi64::<1>(odd),
    );
    let shifted = f._mm512_srav_epi32(y, right);
    let remainder = f._mm512_and_si512(y, masks);
    let threshold = f._mm512_sub_epi32(halves, f._mm512_srai_epi32::<31>(y));
    let round_up = f._mm512_cmpgt_epi32_mask(remainder, threshold);
    f._mm512_mask_sub_epi32(shifted, round_up, shifted, f._mm512_set1_epi32(-1))
}

/// Stores the first `out.len()` (at most [`REQUANT_LANES`]) values of `v`, already clamped
/// to `T`'s range; a whole block is narrowed in registers and written in one store.
#[inline(always)]
pub(crate) fn store_block<T: Q8>(isa: Isa, v: &[i32; REQUANT_LANES], out: &mut [T]) {
    if let Ok(full) = <&mut [T; REQUANT_LANES]>::try_from(&mut *out) {
        let bytes = narrow(isa, T::MIN < 0, v);
        for (o, &b) in full.iter_mut().zip(&bytes) {
            *o = T::from_bits(b);
        }
    } else {
        for (o, &v) in out.iter_mut().zip(v) {
            *o = T::saturate(v);
        }
    }
}

/// The bytes of a block of values in the range of `i8` (`signed`) or `u8`.
///
/// With AVX-512's `vpmovdb` (one instruction where the packs below take six: on Zen 4
/// the output stages ran 8% faster); with AVX2 SSE2's saturating packs, exact since
/// nothing saturates.
#[inline(always)]
fn narrow(isa: Isa, signed: bool, v: &[i32; REQUANT_LANES]) -> [u8; REQUANT_LANES] {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::V4(v4) => {
            // The values fit, so truncating gives the byte of either signedness.
            let _ = signed;
            pulp::cast(v4.avx512f._mm512_cvtepi32_epi8(pulp::cast(*v)))
        }
        #[cfg(target_arch = "x86_64")]
        Isa::V3(v3) => narrow_sse2(v3, signed, v),
        _ => {
            // Truncation gives the byte of either signedness.
            let _ = signed;
            let mut out = [0; REQUANT_LANES];
            for (o, &v) in out.iter_mut().zip(v) {
                *o = v as u8;
            }
            out
        }
    }
}

/// [`narrow`] with `packssdw` and then `packsswb` (signed) or `packuswb` (unsigned).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn narrow_sse2(v3: pulp::x86::V3, signed: bool, v: &[i32; REQUANT_LANES]) -> [u8; REQUANT_LANES] {
    use core::arch::x86_64::__m128i;
    let sse2 = v3.sse2;
    let [a, b, c, d]: [__m128i; 4] = pulp::cast(*v);
    let (low, high) = (sse2._mm_packs_epi32(a, b), sse2._mm_packs_epi32(c, d));
    pulp::cast(if signed {
        sse2._mm_packs_epi16(low, high)
    } else {
        sse2._mm_packus_epi16(low, high)
    })
}

/// [`crate::fixedpoint::multiply_by_quantized_multiplier`] for a non-negative `multiplier`,
/// written so that it vectorizes: the rounding high multiply as `floor((x * m + 2^30) /
/// 2^31)` (equal to gemmlowp's nudge-and-truncate form whenever `m >= 0`), the rounding
/// right shift by `right` with its precomputed `mask = 2^right - 1`.
#[inline(always)]
pub(crate) fn requantize(x: i32, multiplier: i32, left: u32, right: u32, mask: i32) -> i32 {
    let x = x.wrapping_shl(left);
    let y = ((i64::from(x) * i64::from(multiplier) + (1 << 30)) >> 31) as i32;
    let threshold = (mask >> 1) + i32::from(y < 0);
    y.wrapping_shr(right) + i32::from((y & mask) > threshold)
}

/// Integer bits of the scaled input differences in TFLite's quantized softmax (Q5.26).
pub const SOFTMAX_DIFF_INTEGER_BITS: i32 = 5;

/// Parameters of TFLite's reference 8-bit softmax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftmaxMultipliers {
    /// Multiplier of `beta * input_scale` into Q5.26 (left shift zero or positive).
    pub input: QuantizedMultiplier,
    /// Differences from the row maximum below this (in input steps) give exp = 0.
    pub diff_min: i32,
}

/// TFLite's `PreprocessSoftmaxScaling` and `CalculateInputRadius` for the reference 8-bit
/// softmax; `None` where TFLite refuses the model (a real multiplier of 1 or less).
pub fn softmax_multipliers(beta: f32, input_scale: f32) -> Option<SoftmaxMultipliers> {
    let bits = SOFTMAX_DIFF_INTEGER_BITS;
    let max_real_multiplier = f64::from(i32::MAX);
    let real = (f64::from(beta) * f64::from(input_scale) * f64::from(1_i32 << (31 - bits)))
        .min(max_real_multiplier);
    if real.is_nan() || real <= 1.0 {
        return None;
    }
    let input = quantize_multiplier(real);
    if !(0..=31).contains(&input.shift) {
        return None;
    }
    let radius = f64::from((1_i32 << bits) - 1) * f64::from(1_i32 << (31 - bits))
        / (1_i64 << input.shift) as f64;
    Some(SoftmaxMultipliers {
        input,
        diff_min: -(radius.floor() as i32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_multiplier_of_simple_values() {
        assert_eq!(
            quantize_multiplier(0.5),
            QuantizedMultiplier {
                multiplier: 1 << 30,
                shift: 0
            }
        );
        assert_eq!(
            quantize_multiplier(1.0),
            QuantizedMultiplier {
                multiplier: 1 << 30,
                shift: 1
            }
        );
        assert_eq!(
            quantize_multiplier(0.75),
            QuantizedMultiplier {
                multiplier: 1_610_612_736,
                shift: 0
            }
        );
        assert_eq!(
            quantize_multiplier(0.0),
            QuantizedMultiplier {
                multiplier: 0,
                shift: 0
            }
        );
    }

    #[test]
    fn quantize_multiplier_halves_a_significand_that_rounds_to_two_pow_31() {
        // Just below 1.0: the significand rounds up to 2^31 and is halved, shift + 1.
        let x = 1.0 - 2f64.powi(-40);
        assert_eq!(
            quantize_multiplier(x),
            QuantizedMultiplier {
                multiplier: 1 << 30,
                shift: 1
            }
        );
    }

    #[test]
    fn quantize_multiplier_flushes_tiny_values_to_zero() {
        assert_eq!(
            quantize_multiplier(2f64.powi(-32)),
            QuantizedMultiplier {
                multiplier: 1 << 30,
                shift: -31
            }
        );
        assert_eq!(
            quantize_multiplier(2f64.powi(-33)),
            QuantizedMultiplier {
                multiplier: 0,
                shift: 0
            }
        );
    }

    #[test]
    fn frexp_handles_subnormals() {
        let (m, e) = frexp(f64::MIN_POSITIVE / 4.0);
        assert_eq!(m, 0.5);
        assert_eq!(e, -1023);
    }

    #[test]
    fn relu6_range_of_a_typical_uint8_output() {
        // scale 6/255, zero point 0: RELU6 clamps to [0, 255].
        assert_eq!(
            activation_range::<u8>(Activation::Relu6, 6.0 / 255.0, 0),
            (0, 255)
        );
        // int8 scale 0.0235294, zero point -128: [-128, 127].
        assert_eq!(
            activation_range::<i8>(Activation::Relu6, 0.023_529_412, -128),
            (-128, 127)
        );
        // A wider scale cuts the top: 6 / 0.05 = 120 steps above the zero point.
        assert_eq!(
            activation_range::<i8>(Activation::Relu6, 0.05, -128),
            (-128, -8)
        );
        assert_eq!(
            activation_range::<i8>(Activation::Relu, 0.05, -3),
            (-3, 127)
        );
    }

    #[test]
    fn conv_multipliers_differ_in_where_the_product_is_rounded() {
        // Both are well-formed; the per-tensor one rounds the product to f32 first.
        let a = per_channel_conv_multiplier(0.007_874_016, 0.012_345_679, 0.023_529_412);
        let b = per_tensor_conv_multiplier(0.007_874_016, 0.012_345_679, 0.023_529_412);
        assert_eq!(a.shift, b.shift);
        assert!((a.multiplier - b.multiplier).abs() < 64);
    }

    proptest::proptest! {
        #[test]
        fn vectorizable_requantization_equals_tflite(
            x in proptest::num::i32::ANY,
            multiplier in 0_i32..=i32::MAX,
            shift in -31_i32..=31,
        ) {
            let q = QuantizedMultiplier { multiplier, shift };
            let stage = OutputStage::new(None, &[q], 0, (i32::MIN, i32::MAX));
            let (l, r, mask) = (stage.left[0], stage.right[0], stage.masks[0]);
            proptest::prop_assert_eq!(
                requantize(x, multiplier, l, r, mask),
                crate::fixedpoint::multiply_by_quantized_multiplier(x, multiplier, shift)
            );
        }
    }

    /// Any `i32`, often one at or near the ends of the range or zero.
    fn edge_i32() -> impl proptest::strategy::Strategy<Value = i32> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::num::i32::ANY,
            prop_oneof![Just(i32::MIN), Just(i32::MAX), Just(0), Just(-1), Just(1)],
            (0_i32..64).prop_map(|d| i32::MAX - d),
            (0_i32..64).prop_map(|d| i32::MIN + d),
        ]
    }

    /// A non-negative multiplier, often TFLite's range `[2^30, 2^31)` or its ends.
    fn edge_multiplier() -> impl proptest::strategy::Strategy<Value = i32> {
        use proptest::prelude::*;
        prop_oneof![
            0_i32..=i32::MAX,
            (1_i32 << 30)..=i32::MAX,
            prop_oneof![Just(0), Just(1 << 30), Just(i32::MAX), Just(i32::MAX - 1)],
        ]
    }

    proptest::proptest! {
        #[test]
        fn block_requantization_equals_tflite_on_every_isa(
            acc in proptest::collection::vec(edge_i32(), 16),
            bias in proptest::collection::vec(-100_000_i32..100_000, 16),
            params in proptest::collection::vec((edge_multiplier(), -31_i32..=31), 16),
            offset in -128_i32..=255,
            channels in 1_usize..=16,
        ) {
            let multipliers: Vec<QuantizedMultiplier> = params[..channels]
                .iter()
                .map(|&(multiplier, shift)| QuantizedMultiplier { multiplier, shift })
                .collect();
            let stage = OutputStage::new(Some(&bias[..channels]), &multipliers, offset, (-300, 300));
            let acc: [i32; REQUANT_LANES] = acc.try_into().expect("16 values");
            let bias = stage.bias_block(0);
            let mut biased = acc;
            for (a, b) in biased.iter_mut().zip(bias) {
                *a = a.wrapping_add(b);
            }
            for isa in crate::simd::available() {
                let got = stage.requantize_block(isa, 0, &biased);
                for c in 0..channels {
                    proptest::prop_assert_eq!(got[c], stage.apply(c, acc[c]), "{:?} channel {}", isa, c);
                }
            }
        }
    }

    #[test]
    fn softmax_multipliers_of_the_quant_model() {
        let p = softmax_multipliers(1.0, 0.098_892_54).expect("valid");
        assert!(p.input.shift >= 0);
        assert!(p.diff_min < 0);
        assert!(softmax_multipliers(1.0, 1e-9).is_none());
    }
}
