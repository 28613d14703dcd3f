// Data types shared by every fibha engine: stream words, quantization parameters and
// the padding modes.
//
// Invariants: feature maps are NHWC with N = 1, int8, channels innermost. A stream word
// (Vec<N>) carries N consecutive channels of one pixel; a pixel of C channels is C / N
// words, in channel order, and pixels follow in raster order (row by row, left to right).
// Zero points are the tensors' own zero points (TFLite stores offsets = -zero point).
#ifndef FIBHA_TYPES_HPP
#define FIBHA_TYPES_HPP

#include <cstdint>

namespace fibha {

/// One stream beat: t_N consecutive int8 channel values of one pixel.
/// \tparam t_N channels per word (the producer's PE or the consumer's SIMD).
template <unsigned t_N>
struct Vec {
  static_assert(t_N > 0, "a stream word carries at least one channel");
  int8_t v[t_N];
};

#ifndef __SYNTHESIS__
}  // namespace fibha
#include "fibha/csim/memory.hpp"
namespace fibha {
namespace csim {
/// Vitis splits an array of Vec<N> into N lanes unless the array is aggregated.
template <unsigned t_N>
struct ElementLanes<Vec<t_N>> {
  static constexpr unsigned kValue = t_N;
};
}  // namespace csim
#endif

/// t_N int32 accumulators of consecutive output channels: what a multiply-accumulate
/// stage hands its requantization stage.
/// \tparam t_N lanes
template <unsigned t_N>
struct Acc {
  static_assert(t_N > 0, "an accumulator vector has at least one lane");
  int32_t v[t_N];
};

/// A word whose every lane holds p_value (used for padding with the zero point).
/// \tparam t_N channels per word
template <unsigned t_N>
inline Vec<t_N> splat(int32_t p_value) {
  Vec<t_N> l_word;
  for (unsigned l_i = 0; l_i < t_N; ++l_i) {
#pragma HLS UNROLL
    l_word.v[l_i] = static_cast<int8_t>(p_value);
  }
  return l_word;
}

/// Images one kernel call streams at most (the SESL engines' loop trip counts for Vitis;
/// the input and output buffers' capacity, `fibha-compile`'s overlay::STREAM_IMAGES).
constexpr unsigned kStreamImages = 4;

/// How a convolution window treats the border, as TFLite's SAME and VALID.
enum class Padding : uint8_t {
  kSame,   ///< output = ceil(input / stride); the missing rows/columns split top/left first.
  kValid,  ///< output = (input - kernel) / stride + 1; no padding.
};

/// Scalar quantization of one conv-like layer, as runtime values (the same bitstream
/// serves other weights). act_min/act_max implement ReLU, ReLU6 or none as a clamp.
struct QuantParams {
  int32_t in_zp;    ///< input zero point, -128..127
  int32_t out_zp;   ///< output zero point, -128..127
  int32_t act_min;  ///< lower clamp of the output, -128..act_max
  int32_t act_max;  ///< upper clamp of the output, act_min..127
  int32_t w_zp;     ///< filter zero point, -128..127: 0 for TFLite's int8 scheme
};

/// Rows of a per-output-channel table `int32_t [kChannelQuantRows][C]`: the int32 bias,
/// the Q31 multiplier and the shift (positive = left) of each output channel. One 2-D
/// array instead of three keeps engine signatures short; dimension 1 is partitioned
/// completely, so each row is its own memory.
enum ChannelQuantRow : unsigned {
  kBiasRow = 0,
  kMultRow = 1,
  kShiftRow = 2,
  kChannelQuantRows = 3,
};

/// Parameters of TFLite's int8 ADD as used for a residual connection: input a is the
/// layer output being added to, input b the skip (or second) operand.
struct AddParams {
  int32_t a_zp;        ///< zero point of input a
  int32_t a_mult;      ///< Q31 multiplier of input a (its share of twice the larger scale)
  int32_t a_shift;     ///< shift of input a, -31..0
  int32_t b_zp;        ///< zero point of input b
  int32_t b_mult;      ///< Q31 multiplier of input b
  int32_t b_shift;     ///< shift of input b, -31..0
  int32_t left_shift;  ///< common left shift of both offset inputs (20 for int8), 0..20
  int32_t out_mult;    ///< Q31 multiplier of the raw sum to the output scale
  int32_t out_shift;   ///< shift of the raw sum, -31..0
  int32_t out_zp;      ///< output zero point
  int32_t act_min;     ///< lower clamp of the output
  int32_t act_max;     ///< upper clamp of the output
};

}  // namespace fibha

#endif  // FIBHA_TYPES_HPP
