// SESL depthwise convolution: a dedicated streaming engine for one K x K depthwise layer
// (depth multiplier 1, as in every MobileNet-style network fibha maps).
//
// Data path: input words of t_Simd channels enter the line buffer; when a window is
// complete, each group of t_Simd channels runs K*K pipelined iterations (one tap per
// cycle, t_Simd multiply-accumulates per cycle) and emits one word of the same t_Simd
// channels.
//
// Stream format: in and out Vec<t_Simd>, t_C / t_Simd words per pixel.
// Weights: TFLite's [1][K][K][C] layout as [K*K][t_C].
#ifndef FIBHA_SESL_DW_HPP
#define FIBHA_SESL_DW_HPP

#include <cstdint>

#ifndef __SYNTHESIS__
#include <cassert>
#endif

#include "fibha/arith.hpp"
#include "fibha/latency.hpp"
#include "fibha/line_buffer.hpp"
#include "fibha/schedule.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"

namespace fibha {

/// Streaming K x K depthwise convolution with on-chip weights.
/// \tparam t_InH    input rows
/// \tparam t_InW    input columns
/// \tparam t_C      channels (input = output)
/// \tparam t_K      kernel size (square)
/// \tparam t_Stride stride (both dimensions)
/// \tparam t_Pad    SAME or VALID padding
/// \tparam t_Simd   channels computed per cycle (divides t_C); stream word width
///
/// The accumulator is int32, TFLite's definition.
template <unsigned t_InH, unsigned t_InW, unsigned t_C, unsigned t_K, unsigned t_Stride,
          Padding t_Pad, unsigned t_Simd>
struct SeslDw {
  static_assert(t_C % t_Simd == 0, "t_Simd must divide the channels");

  using Geo = WindowGeometry<t_InH, t_InW, t_K, t_Stride, t_Pad>;
  using Word = Vec<t_Simd>;
  using InWord = Word;   ///< same stream interface names as the other engines
  using OutWord = Word;

  static constexpr unsigned kOutH = Geo::kOutH;
  static constexpr unsigned kOutW = Geo::kOutW;
  static constexpr unsigned kOutC = t_C;
  static constexpr unsigned kSf = t_C / t_Simd;  ///< words per pixel
  static constexpr unsigned kTaps = Geo::kTaps;
  static constexpr unsigned kMacsPerCycle = t_Simd;
  static constexpr unsigned kLineBufferBytes = Geo::kBufPixels * t_C;
  static constexpr unsigned kWeightBytes = kTaps * t_C + t_C * kChannelQuantRows * 4;

  /// Runs one image.
  /// \param p_in      input pixels, raster order
  /// \param p_out     output pixels, raster order
  /// \param p_weights [K*K][C] weights
  /// \param p_cq      per-channel bias / multiplier / shift
  /// \param p_q       zero points and clamp
  static void run(hls::stream<Word>& p_in, hls::stream<Word>& p_out, const int8_t p_weights[kTaps][t_C],
                  const int32_t p_cq[kChannelQuantRows][t_C], const QuantParams& p_q) {
#pragma HLS ARRAY_PARTITION variable=p_weights type=cyclic factor=t_Simd dim=2
#pragma HLS ARRAY_PARTITION variable=p_cq type=complete dim=1
#pragma HLS ARRAY_PARTITION variable=p_cq type=cyclic factor=t_Simd dim=2
#ifndef __SYNTHESIS__
    assert(quant_params_valid(p_q));
#endif
    scan_image<SeslDw, Geo, t_Simd, kSf>(p_in, p_out, p_weights, p_cq, p_q);
  }

  /// The outputs of the window ending at p_head, one word per channel group (scan_image's step).
  template <class t_Buf>
  static void compute_window(const t_Buf& p_lineBuf, unsigned p_head, hls::stream<Word>& p_out,
                             const int8_t p_weights[kTaps][t_C], const int32_t p_cq[kChannelQuantRows][t_C],
                             const QuantParams& p_q) {
  group_loop:
    for (unsigned l_sf = 0; l_sf < kSf; ++l_sf) {
      p_out.write(compute_group(p_lineBuf, p_head, l_sf, p_weights, p_cq, p_q));
    }
  }

  /// One group of t_Simd channels of the window ending at p_head (shared with FIRB).
  template <class t_Buf>
  static Word compute_group(const t_Buf& p_lineBuf, unsigned p_head, unsigned p_sf, const int8_t p_weights[kTaps][t_C],
                            const int32_t p_cq[kChannelQuantRows][t_C], const QuantParams& p_q) {
    int32_t l_acc[t_Simd];
#pragma HLS ARRAY_PARTITION variable=l_acc type=complete
    bias_init<t_Simd, t_C>(l_acc, p_cq, p_sf * t_Simd);
    FIBHA_PIPELINED_FOR(tap_loop, latency::mac(1)) (unsigned l_tap = 0; l_tap < kTaps; ++l_tap) {
      FIBHA_PIPELINE(tap_loop, 1);
      const Word l_x = p_lineBuf[Ring<Geo::kBufPixels>::back(p_head, Geo::tap_distance(l_tap))][p_sf];
      for (unsigned l_s = 0; l_s < t_Simd; ++l_s) {
#pragma HLS UNROLL
        l_acc[l_s] = wrap_add(l_acc[l_s], mac_term(l_x.v[l_s], p_q.in_zp, p_weights[l_tap][p_sf * t_Simd + l_s]));
      }
    }
    FIBHA_SPEND(latency::kRequantize);
    return requantize_word<t_Simd, t_C>(l_acc, p_cq, p_sf * t_Simd, p_q);
  }
};

}  // namespace fibha

#endif  // FIBHA_SESL_DW_HPP
