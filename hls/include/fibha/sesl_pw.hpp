// SESL pointwise (1x1) convolution, and the stream width converters between engines.
//
// A pointwise layer is an MVAU (fibha/mvau.hpp) over the pixels and its requantizer
// (fibha/requant.hpp), two DATAFLOW processes: a pixel is its own window, so no window
// generator. The engine takes t_H x t_W x kSf words in and gives kNf words per pixel out.
//
// Stream format: in  Vec<t_Simd>, t_InC / t_Simd words per pixel;
//                out Vec<t_Pe>,   t_OutC / t_Pe words per pixel.
// Weights: W[t_OutC][t_InC] (TFLite's [out][1][1][in]) in the MVAU's layout.
#ifndef FIBHA_SESL_PW_HPP
#define FIBHA_SESL_PW_HPP

#include <cstdint>

#include "fibha/latency.hpp"
#include "fibha/mvau.hpp"
#include "fibha/repack.hpp"
#include "fibha/params.hpp"
#include "fibha/requant.hpp"
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
/// \tparam t_R    requantizers (divides t_Pe); by default as few as keep up
template <unsigned t_H, unsigned t_W, unsigned t_InC, unsigned t_OutC, unsigned t_Simd, unsigned t_Pe,
          unsigned t_R = requant_lanes(t_Pe, t_InC / t_Simd)>
struct SeslPw {
  static_assert(t_H > 0 && t_W > 0, "empty feature map");

  using M = Mvau<t_H * t_W, t_InC, t_OutC, t_Simd, t_Pe>;
  using Rq = Requant<t_H * t_W * M::kNf, t_OutC, t_Pe, t_R>;
  using InWord = Vec<t_Simd>;
  using OutWord = Vec<t_Pe>;
  using Params = MvauParams<M, Rq>;

  static constexpr unsigned kOutH = t_H;
  static constexpr unsigned kOutW = t_W;
  static constexpr unsigned kOutC = t_OutC;
  static constexpr unsigned kMacsPerCycle = M::kMacsPerCycle;
  /// FIFO depth an engine in front of this one should give its output.
  static constexpr unsigned kInputFifoDepth = 2;
  static constexpr unsigned kRequantizers = Rq::kMultipliersPerCycle;
  /// The pixel kept for the later folds (no line buffer).
  static constexpr unsigned kInputBufferBytes = t_InC;
  static constexpr unsigned kWeightBytes = t_OutC * t_InC + t_OutC * kChannelQuantRows * 4;

  /// Runs p_images images, one after the other.
  template <int t_InDepth, int t_OutDepth>
  static void run(hls::stream<InWord, t_InDepth>& p_in, hls::stream<OutWord, t_OutDepth>& p_out, const Params& p_p,
                  uint32_t p_images = 1) {
    p_p.declare();
    FIBHA_DATAFLOW(sesl_pw);
    hls::stream<Acc<t_Pe>> l_acc("pw.acc");
    FIBHA_PROCESS(sesl_pw, "mvau", M::run(p_in, l_acc, p_p.w, p_p.bias, p_p.q.in_zp, p_p.q.w_zp, p_images));
    FIBHA_PROCESS(sesl_pw, "requant", Rq::run(l_acc, p_out, p_p.mult, p_p.shift, p_p.q, p_images));
    FIBHA_DATAFLOW_RUN(sesl_pw);
  }
};

/// Re-packs a stream of Vec<t_InW> words into Vec<t_OutW> words carrying the same bytes
/// in the same order (finn's StreamingDataWidthConverter), one word per cycle on the wider
/// side. One width must divide the other, and both must divide the channels per pixel so
/// words never straddle pixels.
/// \tparam t_InWords input words per image
/// \tparam t_InW     input word width (channels)
/// \tparam t_OutW    output word width (channels)
template <unsigned t_InWords, unsigned t_InW, unsigned t_OutW>
struct StreamResize {
  static_assert(t_InW % t_OutW == 0 || t_OutW % t_InW == 0, "one word width must divide the other");
  static_assert((uint64_t{t_InWords} * t_InW) % t_OutW == 0, "the image must fill whole output words");

  static constexpr unsigned kOutWords = static_cast<unsigned>(uint64_t{t_InWords} * t_InW / t_OutW);
  static constexpr bool kSplit = t_InW >= t_OutW;
  /// Output words per input word (splitting) or input words per output word (merging).
  static constexpr unsigned kRatio = kSplit ? t_InW / t_OutW : t_OutW / t_InW;
  static constexpr unsigned kIterations = kSplit ? kOutWords : t_InWords;

  template <int t_InDepth, int t_OutDepth>
  static void run(hls::stream<Vec<t_InW>, t_InDepth>& p_in, hls::stream<Vec<t_OutW>, t_OutDepth>& p_out,
                  uint32_t p_images = 1) {
    Vec<t_InW> l_in = {};
    Vec<t_OutW> l_out = {};
    unsigned l_part = 0;
    FIBHA_PIPELINED_FOR(resize_loop, latency::kCopy) (uint64_t l_i = 0; l_i < p_images * kIterations; ++l_i) {
      FIBHA_PIPELINE(resize_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=kIterations * kStreamImages
      if (kSplit) {
        if (l_part == 0) {
          l_in = p_in.read();
        }
        for (unsigned l_k = 0; l_k < t_OutW; ++l_k) {
#pragma HLS UNROLL
          l_out.v[l_k] = l_in.v[(l_part * t_OutW + l_k) % t_InW];
        }
        p_out.write(l_out);
      } else {
        l_in = p_in.read();
        for (unsigned l_k = 0; l_k < t_InW; ++l_k) {
#pragma HLS UNROLL
          l_out.v[(l_part * t_InW + l_k) % t_OutW] = l_in.v[l_k];
        }
        if (l_part + 1 == kRatio) {
          p_out.write(l_out);
        }
      }
      l_part = l_part + 1 == kRatio ? 0 : l_part + 1;
    }
  }
};

constexpr unsigned const_gcd(unsigned p_a, unsigned p_b) { return p_b == 0 ? p_a : const_gcd(p_b, p_a % p_b); }

/// Any width change: one StreamResize where one width divides the other, else a Repack
/// (fibha/repack.hpp) of records of lcm(t_InW, t_OutW) channels, each whole words on both
/// sides, so about max(input words, output words) cycles. (Going through the widths'
/// greatest common divisor moved a 16 -> 3 regroup one channel a cycle: 48 cycles a
/// 48-channel pixel instead of 16, and a FIRB of Keras's MobileNetV2 0.35 1.5x its plan.)
template <unsigned t_InWords, unsigned t_InW, unsigned t_OutW,
          bool t_Direct = (t_InW % t_OutW == 0 || t_OutW % t_InW == 0)>
struct Regroup {
  template <int t_InDepth, int t_OutDepth>
  static void run(hls::stream<Vec<t_InW>, t_InDepth>& p_in, hls::stream<Vec<t_OutW>, t_OutDepth>& p_out,
                  uint32_t p_images = 1) {
    StreamResize<t_InWords, t_InW, t_OutW>::run(p_in, p_out, p_images);
  }
};

template <unsigned t_InWords, unsigned t_InW, unsigned t_OutW>
struct Regroup<t_InWords, t_InW, t_OutW, false> {
  static constexpr unsigned kLcm = t_InW / const_gcd(t_InW, t_OutW) * t_OutW;
  static_assert((uint64_t{t_InWords} * t_InW) % kLcm == 0, "the image must be whole records of lcm(in, out)");
  static constexpr unsigned kRecords = static_cast<unsigned>(uint64_t{t_InWords} * t_InW / kLcm);

  template <int t_InDepth, int t_OutDepth>
  static void run(hls::stream<Vec<t_InW>, t_InDepth>& p_in, hls::stream<Vec<t_OutW>, t_OutDepth>& p_out,
                  uint32_t p_images = 1) {
    Repack<kRecords, kLcm, t_InW, t_OutW>::run(p_in, p_out, p_images);
  }
};

}  // namespace fibha

#endif  // FIBHA_SESL_PW_HPP
