// SESL standard convolution: a dedicated streaming engine for one K x K conv layer
// (MobileNetV2's first layer: 3x3, stride 2, 3 -> 32 channels).
//
// Data path: input words of t_Simd channels enter the line buffer (one scan position at
// a time); when a window is complete, the engine folds the t_OutC output channels into
// t_OutC / t_Pe passes; each pass runs K*K * (t_InC / t_Simd) pipelined iterations of
// t_Pe x t_Simd multiply-accumulates and emits one word of t_Pe output channels.
//
// Stream format: in  Vec<t_Simd>, t_InC / t_Simd words per input pixel;
//                out Vec<t_Pe>,   t_OutC / t_Pe words per output pixel.
// Weights: TFLite's OHWI layout, [t_OutC][K][K][t_InC] flattened to [t_OutC][K*K*t_InC].
#ifndef FIBHA_SESL_CONV_HPP
#define FIBHA_SESL_CONV_HPP

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

/// Streaming K x K convolution with on-chip weights.
/// \tparam t_InH    input rows
/// \tparam t_InW    input columns
/// \tparam t_InC    input channels
/// \tparam t_OutC   output channels
/// \tparam t_K      kernel size (square)
/// \tparam t_Stride stride (both dimensions)
/// \tparam t_Pad    SAME or VALID padding
/// \tparam t_Simd   input channels multiplied per cycle (divides t_InC); input word width
/// \tparam t_Pe     output channels computed per cycle (divides t_OutC); output word width
///
/// The accumulator is int32, TFLite's definition (no narrower type is exact in general).
template <unsigned t_InH, unsigned t_InW, unsigned t_InC, unsigned t_OutC, unsigned t_K,
          unsigned t_Stride, Padding t_Pad, unsigned t_Simd, unsigned t_Pe>
struct SeslConv {
  static_assert(t_InC % t_Simd == 0, "t_Simd must divide the input channels");
  static_assert(t_OutC % t_Pe == 0, "t_Pe must divide the output channels");

  using Geo = WindowGeometry<t_InH, t_InW, t_K, t_Stride, t_Pad>;
  using InWord = Vec<t_Simd>;
  using OutWord = Vec<t_Pe>;

  static constexpr unsigned kOutH = Geo::kOutH;
  static constexpr unsigned kOutW = Geo::kOutW;
  static constexpr unsigned kOutC = t_OutC;
  static constexpr unsigned kSf = t_InC / t_Simd;   ///< input words per pixel
  static constexpr unsigned kNf = t_OutC / t_Pe;    ///< output passes per window
  static constexpr unsigned kDepth = Geo::kTaps * t_InC;  ///< weights per output channel
  /// Multipliers the template instantiates (MACs per cycle).
  static constexpr unsigned kMacsPerCycle = t_Pe * t_Simd;
  /// Line buffer: (K - 1) scan rows + K pixels of t_InC bytes.
  static constexpr unsigned kLineBufferBytes = Geo::kBufPixels * t_InC;
  /// On-chip weight and per-channel table bytes.
  static constexpr unsigned kWeightBytes = t_OutC * kDepth + t_OutC * kChannelQuantRows * 4;

  /// Runs one image.
  /// \param p_in     input pixels, raster order
  /// \param p_out    output pixels, raster order
  /// \param p_weights OHWI weights
  /// \param p_cq     per-output-channel bias / multiplier / shift
  /// \param p_q      zero points and clamp
  static void run(hls::stream<InWord>& p_in, hls::stream<OutWord>& p_out,
                  const int8_t p_weights[t_OutC][kDepth],
                  const int32_t p_cq[kChannelQuantRows][t_OutC], const QuantParams& p_q) {
#pragma HLS ARRAY_PARTITION variable=p_weights type=cyclic factor=t_Pe dim=1
#pragma HLS ARRAY_PARTITION variable=p_weights type=cyclic factor=t_Simd dim=2
#pragma HLS ARRAY_PARTITION variable=p_cq type=complete dim=1
#pragma HLS ARRAY_PARTITION variable=p_cq type=cyclic factor=t_Pe dim=2
#ifndef __SYNTHESIS__
    assert(quant_params_valid(p_q));
#endif
    scan_image<SeslConv, Geo, t_Simd, kSf>(p_in, p_out, p_weights, p_cq, p_q);
  }

  /// The outputs of the window ending at p_head (scan_image's step).
  template <class t_Buf>
  static void compute_window(const t_Buf& p_lineBuf, unsigned p_head, hls::stream<OutWord>& p_out,
                             const int8_t p_weights[t_OutC][kDepth], const int32_t p_cq[kChannelQuantRows][t_OutC],
                             const QuantParams& p_q) {
  fold_loop:
    for (unsigned l_nf = 0; l_nf < kNf; ++l_nf) {
      int32_t l_acc[t_Pe];
#pragma HLS ARRAY_PARTITION variable=l_acc type=complete
      bias_init<t_Pe, t_OutC>(l_acc, p_cq, l_nf * t_Pe);
      FIBHA_PIPELINED_FOR(mac_loop, latency::mac(t_Simd)) (unsigned l_i = 0; l_i < Geo::kTaps * kSf; ++l_i) {
        FIBHA_PIPELINE(mac_loop, 1);
        const unsigned l_tap = l_i / kSf;
        const unsigned l_sf = l_i % kSf;
        const InWord l_x = p_lineBuf[Ring<Geo::kBufPixels>::back(p_head, Geo::tap_distance(l_tap))][l_sf];
        mac_block<t_Pe, t_Simd, t_OutC, kDepth>(l_acc, l_x.v, p_q.in_zp, p_weights, l_nf * t_Pe,
                                                l_tap * t_InC + l_sf * t_Simd);
      }
      FIBHA_SPEND(latency::kRequantize);
      p_out.write(requantize_word<t_Pe, t_OutC>(l_acc, p_cq, l_nf * t_Pe, p_q));
    }
  }
};

}  // namespace fibha

#endif  // FIBHA_SESL_CONV_HPP
