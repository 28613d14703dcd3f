// TensorFlow Lite's int8 arithmetic, exactly as its reference kernels compute it with the
// default build (double rounding; TFLITE_SINGLE_ROUNDING not defined).
//
// A conv-like layer accumulates in int32: acc = bias + sum((x - in_zp) * (w - w_zp)): TFLite's
// int8 scheme has symmetric per-channel weights (w_zp = 0); a per-tensor uint8 model runs
// with every 8-bit value and zero point stored minus 128 (mac_term). The accumulator is scaled by
// a real multiplier M = mult / 2^31 * 2^shift (mult a Q31 value in [2^30, 2^31),
// shift positive = left): the left part of the shift is applied before gemmlowp's
// saturating rounding doubling high multiply (its sign-dependent nudge and truncating
// division round exact halves up, toward +infinity), the right part after it as
// gemmlowp's rounding division by a power of two (exact halves away from zero). Then
// the output zero point is added and the result clamped to [act_min, act_max]
// (ReLU/ReLU6 are clamps) and narrowed to int8.
//
// ADD rescales each offset input by 2^left_shift (20 for int8), multiplies it by its
// share of twice the larger input scale (shift <= 0, same primitive), adds the two,
// rescales the sum to the output scale, adds the output zero point and clamps.
//
// Every function here is total: it has defined behaviour for every int32 input (where
// TFLite's C++ would overflow a signed int, these wrap as the hardware's adders do, so
// results agree with TFLite wherever TFLite itself is defined). Preconditions that the
// compiler guarantees (shift ranges) are asserted in C simulation only; the SEML engines
// check the same ranges on data from the weight bundle before using it.
#ifndef FIBHA_ARITH_HPP
#define FIBHA_ARITH_HPP

#include <cstdint>

#ifndef __SYNTHESIS__
#include <cassert>
#endif

#include "fibha/types.hpp"

namespace fibha {

/// Smallest and largest per-channel shift TFLite produces (and the engines accept).
constexpr int32_t kMinShift = -31;
constexpr int32_t kMaxShift = 30;
/// Largest ADD left shift for which the shifted int8 differences cannot overflow int32.
constexpr int32_t kMaxAddLeftShift = 20;

/// int32 addition with two's-complement wrap-around (the hardware adder), defined in C++.
inline int32_t wrap_add(int32_t p_a, int32_t p_b) {
  return static_cast<int32_t>(static_cast<uint32_t>(p_a) + static_cast<uint32_t>(p_b));
}

/// a * b / 2^31 rounded to nearest (exact halves up), saturating the one overflow case
/// (INT32_MIN * INT32_MIN). gemmlowp's SaturatingRoundingDoublingHighMul.
inline int32_t saturating_rounding_doubling_high_mul(int32_t p_a, int32_t p_b) {
  if (p_a == INT32_MIN && p_b == INT32_MIN) {
    return INT32_MAX;
  }
  const int64_t l_product = static_cast<int64_t>(p_a) * static_cast<int64_t>(p_b);
  const int64_t l_nudge = l_product >= 0 ? (int64_t{1} << 30) : (int64_t{1} - (int64_t{1} << 30));
  // C++ division truncates toward zero; gemmlowp computes it exactly this way.
  return static_cast<int32_t>((l_product + l_nudge) / (int64_t{1} << 31));
}

/// x / 2^exponent rounded to nearest, halves away from zero. gemmlowp's
/// RoundingDivideByPOT. p_exponent in 0..31.
inline int32_t rounding_divide_by_pot(int32_t p_x, int32_t p_exponent) {
#ifndef __SYNTHESIS__
  assert(p_exponent >= 0 && p_exponent <= 31);
#endif
  const int32_t l_mask = static_cast<int32_t>((int64_t{1} << p_exponent) - 1);
  const int32_t l_remainder = p_x & l_mask;
  const int32_t l_threshold = (l_mask >> 1) + (p_x < 0 ? 1 : 0);
  // Arithmetic right shift of a negative value (guaranteed by C++20, done by every
  // compiler fibha targets).
  return (p_x >> p_exponent) + (l_remainder > l_threshold ? 1 : 0);
}

/// x * mult / 2^31 * 2^shift with TFLite's double rounding (MultiplyByQuantizedMultiplier).
/// p_shift in kMinShift..kMaxShift; positive shifts are applied before the multiply and
/// wrap on overflow as TFLite's int32 multiply would on the hardware.
inline int32_t multiply_by_quantized_multiplier(int32_t p_x, int32_t p_mult, int32_t p_shift) {
#ifndef __SYNTHESIS__
  assert(p_shift >= kMinShift && p_shift <= kMaxShift);
#endif
  const int32_t l_left = p_shift > 0 ? p_shift : 0;
  const int32_t l_right = p_shift > 0 ? 0 : -p_shift;
  const int32_t l_shifted = static_cast<int32_t>(static_cast<uint32_t>(p_x) << l_left);
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(l_shifted, p_mult), l_right);
}

/// The ADD's scaling by a multiplier below one (MultiplyByQuantizedMultiplierSmallerThanOneExp):
/// p_shift in kMinShift..0.
inline int32_t multiply_by_quantized_multiplier_smaller_than_one(int32_t p_x, int32_t p_mult,
                                                                int32_t p_shift) {
#ifndef __SYNTHESIS__
  assert(p_shift >= kMinShift && p_shift <= 0);
#endif
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(p_x, p_mult), -p_shift);
}

/// Clamps to [p_min, p_max] and narrows to int8 (the callers guarantee -128 <= min <= max <= 127).
inline int8_t clamp_to_int8(int64_t p_value, int32_t p_min, int32_t p_max) {
  const int64_t l_low = p_value < p_min ? p_min : p_value;
  const int64_t l_high = l_low > p_max ? p_max : l_low;
  return static_cast<int8_t>(l_high);
}

/// int32 accumulator -> int8 output of a conv-like layer: scale, add the output zero
/// point, clamp. The zero-point addition is done in 64 bits so no input overflows.
inline int8_t requantize(int32_t p_acc, int32_t p_mult, int32_t p_shift, const QuantParams& p_q) {
  const int64_t l_scaled = multiply_by_quantized_multiplier(p_acc, p_mult, p_shift);
  return clamp_to_int8(l_scaled + p_q.out_zp, p_q.act_min, p_q.act_max);
}

/// Largest pixel count a pool layer with round_divide averages exactly: every |sum| + n / 2
/// of n int8 (or raw uint8) values stays below 2^23, the range divide_round is exact on.
constexpr uint32_t kMaxRoundDividePixels = 1u << 15;

/// ceil(2^(23 + s) / n) and s = ceil(log2 n): the reciprocal divide_round multiplies by, as
/// the compiler writes it into a pool layer's tables (and the testbenches compute it).
inline void round_divide_reciprocal(uint32_t p_n, int32_t* p_recip, int32_t* p_log2) {
  int32_t l_s = 0;
  while ((uint64_t{1} << l_s) < p_n) {
    ++l_s;
  }
  const uint64_t l_pow = uint64_t{1} << (23 + l_s);
  *p_recip = static_cast<int32_t>((l_pow + p_n - 1) / p_n);
  *p_log2 = l_s;
}

/// AVERAGE_POOL_2D's average of p_n values whose sum is p_sum: p_sum / p_n rounded half away
/// from zero (TFLite divides (sum + n / 2) or (sum - n / 2) by n, truncating). A divider per
/// lane would cost thousands of LUTs, so the hardware multiplies |sum| + floor(n / 2) by
/// p_recip = ceil(2^(23 + s) / n) and shifts right by 23 + s, s = p_log2 = ceil(log2 n):
/// exactly floor(a / n) for every 0 <= a < 2^23 (Granlund and Montgomery, "Division by
/// Invariant Integers using Multiplication", PLDI 1994, theorem 4.2), which
/// p_n <= kMaxRoundDividePixels guarantees for 8-bit inputs. Defined for every input.
inline int32_t divide_round(int32_t p_sum, uint32_t p_n, int32_t p_recip, int32_t p_log2) {
  const uint64_t l_abs = p_sum < 0 ? uint64_t{0} - static_cast<uint64_t>(static_cast<int64_t>(p_sum))
                                   : static_cast<uint64_t>(p_sum);
  const uint64_t l_a = (l_abs + p_n / 2) & ((uint64_t{1} << 32) - 1);
  const uint32_t l_shift = 23 + (static_cast<uint32_t>(p_log2) & 31);
  const uint64_t l_q = (l_a * static_cast<uint32_t>(p_recip)) >> l_shift;
  const int32_t l_mag = static_cast<int32_t>(l_q & 0x7FFFFFFF);
  return p_sum < 0 ? -l_mag : l_mag;
}

/// The pool layer's output for a sum of p_n values: averaged as AVERAGE_POOL_2D does
/// (p_divide) or rescaled as MEAN does, then the output zero point and the clamp.
inline int8_t pool_output(int32_t p_sum, bool p_divide, uint32_t p_n, int32_t p_mult, int32_t p_shift,
                          const QuantParams& p_q) {
  if (!p_divide) {
    return requantize(p_sum, p_mult, p_shift, p_q);
  }
  return clamp_to_int8(int64_t{divide_round(p_sum, p_n, p_mult, p_shift)} + p_q.out_zp, p_q.act_min, p_q.act_max);
}

/// One product of the accumulation: (x - input zero point) * (w - filter zero point), exact
/// in int32 (both factors lie in -255..255). The filter zero point is 0 in TFLite's int8
/// scheme. For a per-tensor uint8 layer, activations, weights and zero points are all
/// stored minus 128, which leaves every difference, and so every product, as TFLite's
/// uint8 kernel computes it. On the DSP48E2 the weight difference is the pre-adder's
/// D - A (27 bits wide) and the activation difference is formed once per input lane and
/// shared by the t_Pe rows, so neither adds a multiplier (AMD UG579, the pre-adder).
inline int32_t mac_term(int8_t p_x, int32_t p_zp, int8_t p_w, int32_t p_wzp) {
  return (static_cast<int32_t>(p_x) - p_zp) * (static_cast<int32_t>(p_w) - p_wzp);
}

/// TFLite int8 ADD of one element pair.
inline int8_t add_requantize(int8_t p_a, int8_t p_b, const AddParams& p_p) {
  const int32_t l_a = (static_cast<int32_t>(p_a) - p_p.a_zp) * (int32_t{1} << p_p.left_shift);
  const int32_t l_b = (static_cast<int32_t>(p_b) - p_p.b_zp) * (int32_t{1} << p_p.left_shift);
  const int32_t l_aScaled = multiply_by_quantized_multiplier_smaller_than_one(l_a, p_p.a_mult, p_p.a_shift);
  const int32_t l_bScaled = multiply_by_quantized_multiplier_smaller_than_one(l_b, p_p.b_mult, p_p.b_shift);
  // |scaled| <= |shifted| < 2^29 for left_shift <= 20, so the sum cannot overflow.
  const int32_t l_sum = l_aScaled + l_bScaled;
  const int64_t l_out =
      multiply_by_quantized_multiplier_smaller_than_one(l_sum, p_p.out_mult, p_p.out_shift);
  return clamp_to_int8(l_out + p_p.out_zp, p_p.act_min, p_p.act_max);
}

/// True when a per-channel requantization pair is one TFLite can produce; the SEML
/// engines reject anything else read from a bundle.
inline bool channel_quant_valid(int32_t p_mult, int32_t p_shift) {
  return p_mult >= 0 && p_shift >= kMinShift && p_shift <= kMaxShift;
}

/// True when the scalars of a conv-like layer are in range (zero points and clamp in int8).
inline bool quant_params_valid(const QuantParams& p_q) {
  return p_q.in_zp >= -128 && p_q.in_zp <= 127 && p_q.out_zp >= -128 && p_q.out_zp <= 127 && p_q.w_zp >= -128 &&
         p_q.w_zp <= 127 &&
         p_q.act_min >= -128 && p_q.act_max <= 127 && p_q.act_min <= p_q.act_max;
}

/// True when ADD parameters are in the ranges add_requantize needs to be exact.
inline bool add_params_valid(const AddParams& p_p) {
  const bool l_zps = p_p.a_zp >= -128 && p_p.a_zp <= 127 && p_p.b_zp >= -128 && p_p.b_zp <= 127 &&
                     p_p.out_zp >= -128 && p_p.out_zp <= 127;
  const bool l_clamp = p_p.act_min >= -128 && p_p.act_max <= 127 && p_p.act_min <= p_p.act_max;
  const bool l_mults = p_p.a_mult >= 0 && p_p.b_mult >= 0 && p_p.out_mult >= 0;
  const bool l_shifts = p_p.a_shift >= kMinShift && p_p.a_shift <= 0 && p_p.b_shift >= kMinShift &&
                        p_p.b_shift <= 0 && p_p.out_shift >= kMinShift && p_p.out_shift <= 0 &&
                        p_p.left_shift >= 0 && p_p.left_shift <= kMaxAddLeftShift;
  return l_zps && l_clamp && l_mults && l_shifts;
}

}  // namespace fibha

#endif  // FIBHA_ARITH_HPP
