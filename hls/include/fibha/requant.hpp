// The requantization stage: int32 accumulators to int8 words, with as many requantizers
// as the rate needs.
//
// A multiply-accumulate stage hands over one Acc<t_N> every few cycles (an MVAU every kSf,
// a depthwise stage every K*K); requantizing all t_N lanes at once would instantiate t_N
// 32 x 32-bit multipliers that idle most of the time. This stage requantizes t_R lanes per
// cycle over t_N / t_R cycles (t_R divides t_N): the engine's plan picks t_R so the stage
// keeps up (t_R >= t_N / kSf), and charges 4 DSP48E2 per requantizer
// (kMultipliersPerCycle). With t_Add it also applies TFLite's ADD against a skip word of
// the same channels (the residual of a bottleneck): three more multiplies per lane.
//
// Channels cycle through t_C / t_N groups: vector k holds channels (k mod groups) * t_N ..
// + t_N, which is the order the MVAU's folds and the depthwise stage's groups produce.
#ifndef FIBHA_REQUANT_HPP
#define FIBHA_REQUANT_HPP

#include <cstdint>

#include "fibha/arith.hpp"
#include "fibha/latency.hpp"
#include "fibha/schedule.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"

namespace fibha {

/// Requantizes accumulator vectors t_R lanes per cycle.
/// \tparam t_Words vectors per run
/// \tparam t_C     channels (t_N divides it)
/// \tparam t_N     lanes per vector (output word width)
/// \tparam t_R     lanes requantized per cycle (divides t_N)
/// \tparam t_Add   also add a skip word (TFLite ADD) to each output word
template <unsigned t_Words, unsigned t_C, unsigned t_N, unsigned t_R, bool t_Add = false>
struct Requant {
  static_assert(t_C % t_N == 0, "the vector width must divide the channels");
  static_assert(t_N % t_R == 0, "t_R must divide the vector width");

  static constexpr unsigned kSteps = t_N / t_R;
  static constexpr unsigned kGroups = t_C / t_N;
  static constexpr uint64_t kIterations = uint64_t{t_Words} * kSteps;
  /// 32 x 32-bit multiplies instantiated: one per requantizer, three more per ADD lane.
  static constexpr unsigned kMultipliersPerCycle = t_R * (t_Add ? 4 : 1);
  static constexpr unsigned kDepth = latency::kStreamRead + latency::kRequantize +
                                     (t_Add ? latency::kAddRequantize : 0) + latency::kStreamWrite;

  using Table = Array<int32_t, t_C>;

  static void declare(const Table& p_mult, const Table& p_shift) {
#pragma HLS INLINE
    FIBHA_ARRAY_PARTITION(p_mult, cyclic, t_R, 1);
    FIBHA_ARRAY_PARTITION(p_shift, cyclic, t_R, 1);
  }

  /// Requantizes t_Words vectors of each of p_images images.
  template <int t_InDepth, int t_OutDepth>
  static void run(hls::stream<Acc<t_N>, t_InDepth>& p_in, hls::stream<Vec<t_N>, t_OutDepth>& p_out,
                  const Table& p_mult, const Table& p_shift, const QuantParams& p_q, uint32_t p_images = 1) {
    static_assert(!t_Add, "an ADD stage takes a skip stream: run_add");
    hls::stream<Vec<t_N>> l_unused("requant.no_skip");  // never accessed without t_Add
    core(p_in, p_out, p_mult, p_shift, p_q, l_unused, AddParams{}, p_images);
  }

  /// Requantizes t_Words vectors and adds the skip words.
  template <int t_InDepth, int t_SkipDepth, int t_OutDepth>
  static void run_add(hls::stream<Acc<t_N>, t_InDepth>& p_in, hls::stream<Vec<t_N>, t_SkipDepth>& p_skip,
                      hls::stream<Vec<t_N>, t_OutDepth>& p_out, const Table& p_mult, const Table& p_shift,
                      const QuantParams& p_q, const AddParams& p_add, uint32_t p_images = 1) {
    static_assert(t_Add, "run_add needs t_Add");
    core(p_in, p_out, p_mult, p_shift, p_q, p_skip, p_add, p_images);
  }

 private:
  template <class t_In, class t_Skip, class t_Out>
  static void core(t_In& p_in, t_Out& p_out, const Table& p_mult, const Table& p_shift, const QuantParams& p_q,
                   t_Skip& p_skip, const AddParams& p_add, uint32_t p_images) {
#pragma HLS INLINE
    Acc<t_N> l_acc = {};
    Vec<t_N> l_skip = {};
    Vec<t_N> l_word = {};
    unsigned l_step = 0;
    unsigned l_g = 0;
    FIBHA_PIPELINED_FOR(requant_loop, kDepth) (uint64_t l_i = 0; l_i < p_images * kIterations; ++l_i) {
      FIBHA_PIPELINE(requant_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=kIterations * kStreamImages
      if (l_step == 0) {
        l_acc = p_in.read();
        if (t_Add) {
          l_skip = p_skip.read();
        }
      }
      for (unsigned l_r = 0; l_r < t_R; ++l_r) {
#pragma HLS UNROLL
        const unsigned l_lane = l_step * t_R + l_r;
        const unsigned l_c = l_g * t_N + l_lane;
        const int8_t l_y = requantize(l_acc.v[l_lane], p_mult[l_c], p_shift[l_c], p_q);
        l_word.v[l_lane] = t_Add ? add_requantize(l_y, l_skip.v[l_lane], p_add) : l_y;
      }
      if (l_step + 1 == kSteps) {
        p_out.write(l_word);
        l_step = 0;
        l_g = l_g + 1 == kGroups ? 0 : l_g + 1;
      } else {
        ++l_step;
      }
    }
  }
};

}  // namespace fibha

#endif  // FIBHA_REQUANT_HPP
