// The depthwise multiply-accumulate stage: t_Simd channels of one output pixel per cycle,
// one tap per cycle.
//
// Its input is a window generator's word-major stream (fibha/window.hpp): for each output
// pixel, for each group of t_Simd channels, the t_Taps window words of that group. One
// flattened loop of t_Pixels x kGroups x t_Taps iterations at II=1; every t_Taps cycles
// one Acc<t_Simd> (bias + the group's products) leaves for the requantization stage.
//
// Weights: Array<Vec<t_Simd>, kGroups * t_Taps>, word g * t_Taps + t holding
// W[t][g * t_Simd .. + t_Simd) (TFLite's [1][K][K][C] layout as [K*K][C]), aggregated.
#ifndef FIBHA_DWMAC_HPP
#define FIBHA_DWMAC_HPP

#include <cstdint>

#include "fibha/arith.hpp"
#include "fibha/latency.hpp"
#include "fibha/schedule.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"

namespace fibha {

/// Depthwise multiply-accumulate over window words.
/// \tparam t_Pixels output pixels per run
/// \tparam t_C      channels
/// \tparam t_Taps   window taps (K * K)
/// \tparam t_Simd   channels per cycle (divides t_C)
template <unsigned t_Pixels, unsigned t_C, unsigned t_Taps, unsigned t_Simd>
struct DwMac {
  static_assert(t_C % t_Simd == 0, "t_Simd must divide the channels");

  static constexpr unsigned kC = t_C;
  static constexpr unsigned kTaps = t_Taps;
  static constexpr unsigned kSimd = t_Simd;
  static constexpr unsigned kGroups = t_C / t_Simd;
  static constexpr uint64_t kIterations = uint64_t{t_Pixels} * kGroups * t_Taps;
  static constexpr unsigned kMacsPerCycle = t_Simd;
  static constexpr unsigned kDepth = latency::kStreamRead + latency::mac(1) + latency::kStreamWrite;

  using Weights = Array<Vec<t_Simd>, kGroups * t_Taps>;
  using Bias = Array<int32_t, t_C>;

  static void declare(const Weights& p_w, const Bias& p_bias) {
#pragma HLS INLINE
    FIBHA_AGGREGATE(p_w);
    FIBHA_ARRAY_PARTITION(p_bias, cyclic, t_Simd, 1);
  }

  /// Runs t_Pixels output pixels of each of p_images images. p_zp and p_wzp are the input and filter zero points.
  template <int t_InDepth, int t_OutDepth>
  static void run(hls::stream<Vec<t_Simd>, t_InDepth>& p_in, hls::stream<Acc<t_Simd>, t_OutDepth>& p_out,
                  const Weights& p_w, const Bias& p_bias, int32_t p_zp, int32_t p_wzp, uint32_t p_images = 1) {
    int32_t l_acc[t_Simd];
#pragma HLS ARRAY_PARTITION variable=l_acc type=complete
    unsigned l_t = 0;
    unsigned l_g = 0;
    FIBHA_PIPELINED_FOR(dwmac_loop, kDepth) (uint64_t l_i = 0; l_i < p_images * kIterations; ++l_i) {
      FIBHA_PIPELINE(dwmac_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=kIterations * kStreamImages
      const Vec<t_Simd> l_x = p_in.read();
      const Vec<t_Simd> l_w = p_w[l_g * t_Taps + l_t];
      for (unsigned l_s = 0; l_s < t_Simd; ++l_s) {
#pragma HLS UNROLL
        const int32_t l_start = l_t == 0 ? static_cast<int32_t>(p_bias[l_g * t_Simd + l_s]) : l_acc[l_s];
        l_acc[l_s] = wrap_add(l_start, mac_term(l_x.v[l_s], p_zp, l_w.v[l_s], p_wzp));
      }
      if (l_t + 1 == t_Taps) {
        Acc<t_Simd> l_out;
        for (unsigned l_s = 0; l_s < t_Simd; ++l_s) {
#pragma HLS UNROLL
          l_out.v[l_s] = l_acc[l_s];
        }
        p_out.write(l_out);
        l_t = 0;
        l_g = l_g + 1 == kGroups ? 0 : l_g + 1;
      } else {
        ++l_t;
      }
    }
  }
};

}  // namespace fibha

#endif  // FIBHA_DWMAC_HPP
