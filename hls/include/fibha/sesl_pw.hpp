// SESL pointwise (1x1) convolution: a dedicated streaming engine for one PW layer.
//
// Data path: no line buffer, a pixel is its own window. For each pixel the engine runs
// t_OutC / t_Pe passes of t_InC / t_Simd pipelined iterations (t_Pe x t_Simd MACs per
// cycle); the first pass reads the pixel from the stream and keeps it in a small buffer
// of t_InC / t_Simd words that the later passes reuse (finn's MVAU input buffer).
//
// Stream format: in  Vec<t_Simd>, t_InC / t_Simd words per pixel;
//                out Vec<t_Pe>,   t_OutC / t_Pe words per pixel.
// Weights: TFLite's [t_OutC][1][1][t_InC] as [t_OutC][t_InC].
#ifndef FIBHA_SESL_PW_HPP
#define FIBHA_SESL_PW_HPP

#include <cstdint>

#ifndef __SYNTHESIS__
#include <cassert>
#endif

#include "fibha/arith.hpp"
#include "fibha/latency.hpp"
#include "fibha/schedule.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"

namespace fibha {

/// Streaming pointwise convolution with on-chip weights.
/// \tparam t_H    rows (input = output)
/// \tparam t_W    columns (input = output)
/// \tparam t_InC  input channels
/// \tparam t_OutC output channels
/// \tparam t_Simd input channels multiplied per cycle (divides t_InC); input word width
/// \tparam t_Pe   output channels computed per cycle (divides t_OutC); output word width
///
/// The accumulator is int32, TFLite's definition.
template <unsigned t_H, unsigned t_W, unsigned t_InC, unsigned t_OutC, unsigned t_Simd, unsigned t_Pe>
struct SeslPw {
  static_assert(t_H > 0 && t_W > 0, "empty feature map");
  static_assert(t_InC % t_Simd == 0, "t_Simd must divide the input channels");
  static_assert(t_OutC % t_Pe == 0, "t_Pe must divide the output channels");

  using InWord = Vec<t_Simd>;
  using OutWord = Vec<t_Pe>;

  static constexpr unsigned kOutH = t_H;
  static constexpr unsigned kOutW = t_W;
  static constexpr unsigned kOutC = t_OutC;
  static constexpr unsigned kSf = t_InC / t_Simd;
  static constexpr unsigned kNf = t_OutC / t_Pe;
  static constexpr unsigned kMacsPerCycle = t_Pe * t_Simd;
  /// The pixel kept for reuse across passes (no line buffer).
  static constexpr unsigned kInputBufferBytes = t_InC;
  static constexpr unsigned kWeightBytes = t_OutC * t_InC + t_OutC * kChannelQuantRows * 4;

  /// Runs one image.
  /// \param p_in      input pixels, raster order
  /// \param p_out     output pixels, raster order
  /// \param p_weights [t_OutC][t_InC] weights
  /// \param p_cq      per-output-channel bias / multiplier / shift
  /// \param p_q       zero points and clamp
  static void run(hls::stream<InWord>& p_in, hls::stream<OutWord>& p_out,
                  const int8_t p_weights[t_OutC][t_InC],
                  const int32_t p_cq[kChannelQuantRows][t_OutC], const QuantParams& p_q) {
#pragma HLS ARRAY_PARTITION variable=p_weights type=cyclic factor=t_Pe dim=1
#pragma HLS ARRAY_PARTITION variable=p_weights type=cyclic factor=t_Simd dim=2
#pragma HLS ARRAY_PARTITION variable=p_cq type=complete dim=1
#pragma HLS ARRAY_PARTITION variable=p_cq type=cyclic factor=t_Pe dim=2
#ifndef __SYNTHESIS__
    assert(quant_params_valid(p_q));
#endif
  pixel_loop:
    for (unsigned l_pix = 0; l_pix < t_H * t_W; ++l_pix) {
      InWord l_inBuf[kSf];
    fold_loop:
      for (unsigned l_nf = 0; l_nf < kNf; ++l_nf) {
        int32_t l_acc[t_Pe];
#pragma HLS ARRAY_PARTITION variable=l_acc type=complete
        bias_init<t_Pe, t_OutC>(l_acc, p_cq, l_nf * t_Pe);
        FIBHA_PIPELINED_FOR(mac_loop, latency::kStreamRead + latency::mac(t_Simd)) (unsigned l_sf = 0; l_sf < kSf;
                                                                                      ++l_sf) {
          FIBHA_PIPELINE(mac_loop, 1);
          InWord l_x;
          if (l_nf == 0) {
            l_x = p_in.read();
            l_inBuf[l_sf] = l_x;
          } else {
            l_x = l_inBuf[l_sf];
          }
          mac_block<t_Pe, t_Simd, t_OutC, t_InC>(l_acc, l_x.v, p_q.in_zp, p_weights, l_nf * t_Pe, l_sf * t_Simd);
        }
        FIBHA_SPEND(latency::kRequantize);
        p_out.write(requantize_word<t_Pe, t_OutC>(l_acc, p_cq, l_nf * t_Pe, p_q));
      }
    }
  }
};

/// Re-packs a stream of Vec<t_InW> words into Vec<t_OutW> words carrying the same bytes
/// in the same order (finn's StreamingDataWidthConverter), so engines with different
/// parallelism can be chained. One width must divide the other, and both must divide
/// the channels per pixel so words never straddle pixels.
/// \tparam t_InWords input words per image
/// \tparam t_InW     input word width (channels)
/// \tparam t_OutW    output word width (channels)
template <unsigned t_InWords, unsigned t_InW, unsigned t_OutW>
struct StreamResize {
  static_assert(t_InW % t_OutW == 0 || t_OutW % t_InW == 0, "one word width must divide the other");
  static_assert((uint64_t{t_InWords} * t_InW) % t_OutW == 0, "the image must fill whole output words");

  static constexpr unsigned kOutWords = static_cast<unsigned>(uint64_t{t_InWords} * t_InW / t_OutW);

  static void run(hls::stream<Vec<t_InW>>& p_in, hls::stream<Vec<t_OutW>>& p_out) {
    if (t_InW >= t_OutW) {
    split_loop:
      for (unsigned l_i = 0; l_i < t_InWords; ++l_i) {
        const Vec<t_InW> l_in = p_in.read();
        FIBHA_PIPELINED_FOR(split_part_loop, latency::kStreamWrite) (unsigned l_part = 0; l_part < t_InW / t_OutW;
                                                                     ++l_part) {
          FIBHA_PIPELINE(split_part_loop, 1);
          Vec<t_OutW> l_out;
          for (unsigned l_k = 0; l_k < t_OutW; ++l_k) {
#pragma HLS UNROLL
            l_out.v[l_k] = l_in.v[l_part * t_OutW + l_k];
          }
          p_out.write(l_out);
        }
      }
    } else {
    merge_loop:
      for (unsigned l_o = 0; l_o < kOutWords; ++l_o) {
        Vec<t_OutW> l_out;
        FIBHA_PIPELINED_FOR(merge_part_loop, latency::kStreamRead) (unsigned l_part = 0; l_part < t_OutW / t_InW;
                                                                    ++l_part) {
          FIBHA_PIPELINE(merge_part_loop, 1);
          const Vec<t_InW> l_in = p_in.read();
          for (unsigned l_k = 0; l_k < t_InW; ++l_k) {
#pragma HLS UNROLL
            l_out.v[l_part * t_InW + l_k] = l_in.v[l_k];
          }
        }
        p_out.write(l_out);
      }
    }
  }
};

}  // namespace fibha

#endif  // FIBHA_SESL_PW_HPP
