// The matrix-vector unit: the multiply-accumulate stage of every convolution-like engine
// (finn-hlslib's MVAU is the model).
//
// For each of t_Reps input vectors of t_MatW int8 values it computes t_MatH int32 dot
// products with a weight matrix W[t_MatH][t_MatW] held on chip: t_Pe rows at a time
// (kNf = t_MatH / t_Pe folds), t_Simd columns per cycle (kSf = t_MatW / t_Simd words per
// vector). One flattened loop of t_Reps x kNf x kSf iterations at II=1: the input vector
// is read from the stream during the first fold and kept for the others, the accumulators
// start from the bias and leave, one Acc<t_Pe> per (vector, fold), for the requantization
// stage (fibha/requant.hpp), so the pipeline never drains between pixels or folds.
//
// Weights: Array<Vec<t_Simd>, t_Pe, kNf * kSf>, word (pe, nf * kSf + sf) holding
// W[nf * t_Pe + pe][sf * t_Simd .. + t_Simd). Dimension 1 is partitioned completely (one
// memory per PE row, read every cycle) and the words aggregated (one access per word).
// For a convolution, column = tap * C + channel (TFLite's OHWI order).
#ifndef FIBHA_MVAU_HPP
#define FIBHA_MVAU_HPP

#include <cstdint>

#include "fibha/arith.hpp"
#include "fibha/latency.hpp"
#include "fibha/schedule.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"

namespace fibha {

/// Matrix-vector multiply-accumulate.
/// \tparam t_Reps  input vectors per run (output pixels)
/// \tparam t_MatW  values per input vector (K * K * input channels)
/// \tparam t_MatH  outputs per vector (output channels)
/// \tparam t_Simd  input values per cycle (divides t_MatW); input word width
/// \tparam t_Pe    outputs per cycle (divides t_MatH); accumulator vector width
template <unsigned t_Reps, unsigned t_MatW, unsigned t_MatH, unsigned t_Simd, unsigned t_Pe>
struct Mvau {
  static_assert(t_MatW % t_Simd == 0, "t_Simd must divide the input vector");
  static_assert(t_MatH % t_Pe == 0, "t_Pe must divide the outputs");

  static constexpr unsigned kMatW = t_MatW;
  static constexpr unsigned kMatH = t_MatH;
  static constexpr unsigned kSimd = t_Simd;
  static constexpr unsigned kPe = t_Pe;
  static constexpr unsigned kSf = t_MatW / t_Simd;  ///< words per input vector
  static constexpr unsigned kNf = t_MatH / t_Pe;    ///< folds per vector
  static constexpr uint64_t kIterations = uint64_t{t_Reps} * kNf * kSf;
  static constexpr unsigned kMacsPerCycle = t_Pe * t_Simd;
  static constexpr unsigned kDepth = latency::kStreamRead + latency::mac(t_Simd) + latency::kStreamWrite;

  using Weights = Array<Vec<t_Simd>, t_Pe, kNf * kSf>;
  using Bias = Array<int32_t, t_MatH>;

  /// Declares the weight memories' banks (call where the arrays are declared or first used).
  static void declare(const Weights& p_w, const Bias& p_bias) {
#pragma HLS INLINE
    FIBHA_ARRAY_COMPLETE(p_w, 1);
    FIBHA_AGGREGATE(p_w);
    FIBHA_ARRAY_PARTITION(p_bias, cyclic, t_Pe, 1);
  }

  /// Runs t_Reps vectors of each of p_images images. p_zp and p_wzp are the input and filter zero points.
  template <int t_InDepth, int t_OutDepth>
  static void run(hls::stream<Vec<t_Simd>, t_InDepth>& p_in, hls::stream<Acc<t_Pe>, t_OutDepth>& p_out,
                  const Weights& p_w, const Bias& p_bias, int32_t p_zp, int32_t p_wzp, uint32_t p_images = 1) {
    Array<Vec<t_Simd>, kSf> l_vector;
    FIBHA_AGGREGATE(l_vector);
    int32_t l_acc[t_Pe];
#pragma HLS ARRAY_PARTITION variable=l_acc type=complete
    unsigned l_sf = 0;
    unsigned l_nf = 0;
    FIBHA_PIPELINED_FOR(mvau_loop, kDepth) (uint64_t l_i = 0; l_i < p_images * kIterations; ++l_i) {
      FIBHA_PIPELINE(mvau_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=kIterations * kStreamImages
      Vec<t_Simd> l_x;
      if (l_nf == 0) {
        l_x = p_in.read();
        l_vector[l_sf] = l_x;
      } else {
        l_x = l_vector[l_sf];
      }
      for (unsigned l_pe = 0; l_pe < t_Pe; ++l_pe) {
#pragma HLS UNROLL
        const Vec<t_Simd> l_w = p_w[l_pe][l_nf * kSf + l_sf];
        int32_t l_sum = l_sf == 0 ? static_cast<int32_t>(p_bias[l_nf * t_Pe + l_pe]) : l_acc[l_pe];
        for (unsigned l_s = 0; l_s < t_Simd; ++l_s) {
#pragma HLS UNROLL
          l_sum = wrap_add(l_sum, mac_term(l_x.v[l_s], p_zp, l_w.v[l_s], p_wzp));
        }
        l_acc[l_pe] = l_sum;
      }
      if (l_sf + 1 == kSf) {
        Acc<t_Pe> l_out;
        for (unsigned l_pe = 0; l_pe < t_Pe; ++l_pe) {
#pragma HLS UNROLL
          l_out.v[l_pe] = l_acc[l_pe];
        }
        p_out.write(l_out);
        l_sf = 0;
        l_nf = l_nf + 1 == kNf ? 0 : l_nf + 1;
      } else {
        ++l_sf;
      }
    }
  }
};

}  // namespace fibha

#endif  // FIBHA_MVAU_HPP
