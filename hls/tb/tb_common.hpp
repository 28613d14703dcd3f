// Testbench support: seeded random data, TFLite-style quantization parameters, stream
// packing, byte-for-byte comparison that prints the first mismatch, and a failure count.
//
// Randomness is std::mt19937 (its sequence is fixed by the C++ standard) mapped to ranges
// by our own arithmetic, so a seed gives the same data with every standard library.
#ifndef FIBHA_TB_COMMON_HPP
#define FIBHA_TB_COMMON_HPP

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fibha/stream.hpp"
#include "fibha/types.hpp"
#include "fill_params.hpp"
#include "ref_ops.hpp"

namespace fibha {
namespace tb {

/// Failures counted by every check of the testbench; main returns non-zero if any.
inline int& failures() {
  static int l_failures = 0;
  return l_failures;
}

/// Records a failed check with a message.
inline void fail(const std::string& p_what) {
  std::fprintf(stderr, "FAIL: %s\n", p_what.c_str());
  ++failures();
}

/// Prints the summary line and returns main's exit status.
inline int finish(const char* p_bench) {
  if (!csim::streams_clean()) {
    fail(std::string(p_bench) + ": streams left holding data");
  }
  if (failures() == 0) {
    std::printf("%s: PASS\n", p_bench);
    return 0;
  }
  std::printf("%s: FAIL (%d check(s) failed)\n", p_bench, failures());
  return 1;
}

/// Deterministic random source.
class Rng {
 public:
  explicit Rng(uint32_t p_seed) : m_gen(p_seed) {}
  /// Uniform integer in [p_lo, p_hi] (p_hi - p_lo < 2^32).
  int64_t uniform(int64_t p_lo, int64_t p_hi) {
    const uint64_t l_span = static_cast<uint64_t>(p_hi - p_lo) + 1;
    const uint64_t l_draw = (static_cast<uint64_t>(m_gen()) << 32) | m_gen();
    return p_lo + static_cast<int64_t>(l_draw % l_span);
  }
  /// Uniform real in [p_lo, p_hi).
  double real(double p_lo, double p_hi) {
    return p_lo + (p_hi - p_lo) * (static_cast<double>(m_gen()) / 4294967296.0);
  }

 private:
  std::mt19937 m_gen;
};

/// A heap-allocated value (large weight arrays do not belong on the stack).
template <class T>
struct Box {
  T value;
};

/// A zero-initialised Box<T> on the heap.
template <class T>
std::unique_ptr<Box<T>> make_box() {
  return std::unique_ptr<Box<T>>(new Box<T>());
}

/// Copies a flat vector into a (multi-dimensional) array of the same byte size.
template <class t_Array, class t_Elem>
void fill_array(t_Array& p_array, const std::vector<t_Elem>& p_flat) {
  if (p_flat.size() * sizeof(t_Elem) != sizeof(t_Array)) {
    fail("fill_array: size mismatch (" + std::to_string(p_flat.size() * sizeof(t_Elem)) + " bytes into " +
         std::to_string(sizeof(t_Array)) + ")");
    return;
  }
  std::memcpy(&p_array, p_flat.data(), sizeof(t_Array));
}

/// Copies a ChannelQuant into an engine's [3][C] table.
template <unsigned t_C>
void fill_channel_quant(int32_t (&p_table)[kChannelQuantRows][t_C], const ref::ChannelQuant& p_cq) {
  for (unsigned l_c = 0; l_c < t_C; ++l_c) {
    p_table[kBiasRow][l_c] = p_cq.bias[l_c];
    p_table[kMultRow][l_c] = p_cq.mult[l_c];
    p_table[kShiftRow][l_c] = p_cq.shift[l_c];
  }
}

/// n random int8 values (full range).
inline std::vector<int8_t> random_bytes(Rng& p_rng, size_t p_n, int p_lo = -128, int p_hi = 127) {
  std::vector<int8_t> l_v(p_n);
  for (int8_t& l_b : l_v) {
    l_b = static_cast<int8_t>(p_rng.uniform(p_lo, p_hi));
  }
  return l_v;
}

/// TFLite's QuantizeMultiplier: real = mult / 2^31 * 2^shift, mult in [2^30, 2^31).
inline void quantize_multiplier(double p_real, int32_t& p_mult, int32_t& p_shift) {
  if (p_real == 0.0) {
    p_mult = 0;
    p_shift = 0;
    return;
  }
  int l_exp = 0;
  const double l_q = std::frexp(p_real, &l_exp);
  int64_t l_qFixed = static_cast<int64_t>(std::round(l_q * 2147483648.0));
  if (l_qFixed == (int64_t{1} << 31)) {
    l_qFixed /= 2;
    ++l_exp;
  }
  if (l_exp < -31) {
    l_exp = 0;
    l_qFixed = 0;
  }
  p_mult = static_cast<int32_t>(l_qFixed);
  p_shift = l_exp;
}

/// Random zero points and clamp; p_relu6 gives a ReLU6-like clamp [zp, zp + span]. Half the
/// layers get a filter zero point (a per-tensor uint8 layer's, stored minus 128).
inline QuantParams random_quant(Rng& p_rng, bool p_relu6) {
  QuantParams l_q{};
  l_q.in_zp = static_cast<int32_t>(p_rng.uniform(-128, 127));
  l_q.w_zp = p_rng.uniform(0, 1) == 0 ? 0 : static_cast<int32_t>(p_rng.uniform(-128, 127));
  if (p_relu6) {
    l_q.out_zp = static_cast<int32_t>(p_rng.uniform(-128, -32));
    l_q.act_min = l_q.out_zp;
    const int64_t l_top = l_q.out_zp + p_rng.uniform(96, 255);
    l_q.act_max = static_cast<int32_t>(l_top > 127 ? 127 : l_top);
  } else {
    l_q.out_zp = static_cast<int32_t>(p_rng.uniform(-128, 127));
    l_q.act_min = -128;
    l_q.act_max = 127;
  }
  return l_q;
}

/// Random per-channel bias and requantization scaled so outputs spread over int8 for a
/// fan-in of p_fanIn products; a few channels get a positive (left) shift.
inline ref::ChannelQuant random_channel_quant(Rng& p_rng, int p_channels, int p_fanIn) {
  ref::ChannelQuant l_cq;
  const double l_typical = std::sqrt(static_cast<double>(p_fanIn)) * 73.0 * 73.0;
  for (int l_c = 0; l_c < p_channels; ++l_c) {
    l_cq.bias.push_back(static_cast<int32_t>(p_rng.uniform(-20000, 20000)));
    double l_real = p_rng.real(40.0, 160.0) / l_typical;
    if (p_rng.uniform(0, 15) == 0) {
      l_real = p_rng.real(1.0, 4.0);  // shift 1 or 2: exercises the left-shift path
    }
    int32_t l_mult = 0;
    int32_t l_shift = 0;
    quantize_multiplier(l_real, l_mult, l_shift);
    l_cq.mult.push_back(l_mult);
    l_cq.shift.push_back(l_shift);
  }
  return l_cq;
}

/// ADD parameters derived from random scales exactly as TFLite's Prepare does
/// (left shift 20, inputs scaled by their share of twice the larger scale).
inline AddParams random_add_params(Rng& p_rng, int32_t p_aZp, int32_t p_bZp) {
  const double l_aScale = p_rng.real(0.01, 0.1);
  const double l_bScale = p_rng.real(0.01, 0.1);
  const double l_outScale = p_rng.real(0.02, 0.2);
  const double l_twiceMax = 2.0 * (l_aScale > l_bScale ? l_aScale : l_bScale);
  AddParams l_p;
  l_p.left_shift = 20;
  l_p.a_zp = p_aZp;
  l_p.b_zp = p_bZp;
  quantize_multiplier(l_aScale / l_twiceMax, l_p.a_mult, l_p.a_shift);
  quantize_multiplier(l_bScale / l_twiceMax, l_p.b_mult, l_p.b_shift);
  quantize_multiplier(l_twiceMax / ((1 << 20) * l_outScale), l_p.out_mult, l_p.out_shift);
  l_p.out_zp = static_cast<int32_t>(p_rng.uniform(-128, 127));
  l_p.act_min = -128;
  l_p.act_max = 127;
  return l_p;
}

/// Pushes a flat NHWC tensor into a stream of t_N-channel words.
template <unsigned t_N, class t_Stream>
void push_words(t_Stream& p_stream, const std::vector<int8_t>& p_data) {
  for (size_t l_i = 0; l_i + t_N <= p_data.size(); l_i += t_N) {
    Vec<t_N> l_word;
    std::memcpy(l_word.v, &p_data[l_i], t_N);
    p_stream.write(l_word);
  }
}

/// Pops p_bytes bytes out of a stream of t_N-channel words (fails if it runs dry).
template <unsigned t_N, class t_Stream>
std::vector<int8_t> pop_words(t_Stream& p_stream, size_t p_bytes) {
  std::vector<int8_t> l_data;
  l_data.reserve(p_bytes);
  while (l_data.size() < p_bytes) {
    if (p_stream.empty()) {
      fail("output stream ran dry after " + std::to_string(l_data.size()) + " of " + std::to_string(p_bytes) +
           " bytes");
      break;
    }
    const Vec<t_N> l_word = p_stream.read();
    l_data.insert(l_data.end(), l_word.v, l_word.v + t_N);
  }
  return l_data;
}

/// Compares an NHWC output byte for byte; prints the first mismatch and the count.
inline bool compare(const std::string& p_what, const std::vector<int8_t>& p_got, const std::vector<int8_t>& p_want,
                    int p_w, int p_c) {
  if (p_got.size() != p_want.size()) {
    fail(p_what + ": " + std::to_string(p_got.size()) + " bytes, expected " + std::to_string(p_want.size()));
    return false;
  }
  size_t l_bad = 0;
  size_t l_first = 0;
  for (size_t l_i = 0; l_i < p_got.size(); ++l_i) {
    if (p_got[l_i] != p_want[l_i]) {
      if (l_bad == 0) {
        l_first = l_i;
      }
      ++l_bad;
    }
  }
  if (l_bad == 0) {
    // The number of distinct values shows the comparison is not between saturated maps.
    bool l_seen[256] = {};
    unsigned l_distinct = 0;
    for (const int8_t l_v : p_want) {
      const unsigned l_idx = static_cast<uint8_t>(l_v);
      l_distinct += l_seen[l_idx] ? 0 : 1;
      l_seen[l_idx] = true;
    }
    std::printf("  ok   %-58s %8zu bytes equal (%3u distinct values)\n", p_what.c_str(), p_got.size(), l_distinct);
    return true;
  }
  const size_t l_pix = l_first / static_cast<size_t>(p_c);
  char l_msg[256];
  std::snprintf(l_msg, sizeof l_msg, "%s: %zu of %zu bytes differ; first at byte %zu (y=%zu x=%zu c=%zu): got %d, expected %d",
                p_what.c_str(), l_bad, p_got.size(), l_first, l_pix / static_cast<size_t>(p_w),
                l_pix % static_cast<size_t>(p_w), l_first % static_cast<size_t>(p_c), p_got[l_first], p_want[l_first]);
  fail(l_msg);
  return false;
}

/// With FIBHA_TB_TIMING set, prints every process of a run and its three largest charges.
inline void print_processes(const csim::Kernel& p_kernel) {
  if (std::getenv("FIBHA_TB_TIMING") == nullptr) {
    return;
  }
  for (const csim::ProcessReport& l_p : p_kernel.processes()) {
    std::printf("    %*s%-40s %10llu ..%10llu", 2 * l_p.depth, "", l_p.path.substr(l_p.path.rfind('/') + 1).c_str(),
                static_cast<unsigned long long>(l_p.start), static_cast<unsigned long long>(l_p.end));
    for (std::size_t l_i = 0; l_i < l_p.charges.size() && l_i < 3; ++l_i) {
      std::printf("  %s %s %llu", csim::cause_name(l_p.charges[l_i].cause), l_p.charges[l_i].what.c_str(),
                  static_cast<unsigned long long>(l_p.charges[l_i].cycles));
    }
    std::printf("\n");
  }
}

/// The platform the testbenches time engines on: the ZCU102's m_axi figures
/// (tools/compiler/boards/zcu102.toml).
inline csim::Platform bench_platform() { return csim::Platform{}; }

/// Streams p_in through an engine (p_run(in_stream, out_stream)) run as a timed kernel and
/// returns p_outBytes of output; fails when the engine leaves input unread or writes too
/// much. The input tokens are all available at cycle 0 (an ideal producer); the timed
/// cycles are printed.
template <unsigned t_InW, unsigned t_OutW, class t_Run>
std::vector<int8_t> run_streaming(const std::string& p_name, const std::vector<int8_t>& p_in, size_t p_outBytes,
                                  t_Run p_run) {
  hls::stream<Vec<t_InW>> l_in("tb.in");
  hls::stream<Vec<t_OutW>> l_out("tb.out");
  push_words<t_InW>(l_in, p_in);
  csim::Kernel l_kernel(p_name, bench_platform());
  const csim::Cycle l_cycles = l_kernel.run([&] { p_run(l_in, l_out); });
  std::printf("  cycles %-57s %10llu (timed C simulation)\n", p_name.c_str(), static_cast<unsigned long long>(l_cycles));
  print_processes(l_kernel);
  if (!l_in.empty()) {
    fail(p_name + ": the engine left " + std::to_string(l_in.size()) + " input word(s) unread");
    while (!l_in.empty()) {
      l_in.read();
    }
  }
  std::vector<int8_t> l_got = pop_words<t_OutW>(l_out, p_outBytes);
  if (!l_out.empty()) {
    fail(p_name + ": the engine wrote " + std::to_string(l_out.size()) + " word(s) more than the layer has");
    while (!l_out.empty()) {
      l_out.read();
    }
  }
  return l_got;
}

/// The golden directories named on a testbench's command line ("--golden DIR", repeatable).
inline std::vector<std::string> golden_dirs(int p_argc, char** p_argv) {
  std::vector<std::string> l_dirs;
  for (int l_i = 1; l_i < p_argc; ++l_i) {
    const std::string l_arg = p_argv[l_i];
    if (l_arg == "--golden" && l_i + 1 < p_argc) {
      l_dirs.push_back(p_argv[++l_i]);
    } else {
      fail(std::string("unknown argument '") + l_arg + "' (usage: " + p_argv[0] + " [--golden DIR]...)");
    }
  }
  return l_dirs;
}

/// A testbench's main: with --golden DIR arguments runs p_golden(DIR) on each (only those
/// layers); otherwise p_builtin() (the random and instance cases). Returns finish()'s status.
template <class t_Golden, class t_Builtin>
int run_bench(int p_argc, char** p_argv, const char* p_bench, t_Golden p_golden, t_Builtin p_builtin) {
  const std::vector<std::string> l_goldens = golden_dirs(p_argc, p_argv);
  if (l_goldens.empty()) {
    p_builtin();
  }
  for (const std::string& l_dir : l_goldens) {
    p_golden(l_dir);
  }
  return finish(p_bench);
}

/// Fills engine E's parameters from one layer (weights in TFLite's layout, per-channel
/// tables), streams p_in through it with p_run(in, out, params) and compares the output
/// with p_want (p_shape locates a mismatch).
template <class E, class t_Run>
void check_layer(const std::string& p_name, const ref::ConvShape& p_shape, const std::vector<int8_t>& p_in,
                 const std::vector<int8_t>& p_w, const ref::ChannelQuant& p_cq, const QuantParams& p_q,
                 const std::vector<int8_t>& p_want, t_Run p_run) {
  auto l_p = make_box<typename E::Params>();
  fill(l_p->value, p_w, p_cq, p_q);
  const std::vector<int8_t> l_got = run_streaming<sizeof(typename E::InWord), sizeof(typename E::OutWord)>(
      p_name, p_in, p_want.size(), [&](auto& p_i, auto& p_o) { p_run(p_i, p_o, l_p->value); });
  compare(p_name, l_got, p_want, p_shape.out_w, p_shape.out_c);
}

}  // namespace tb
}  // namespace fibha

#endif  // FIBHA_TB_COMMON_HPP
