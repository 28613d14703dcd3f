// The on-chip parameters of one multiply-accumulate stage and its requantizer, and how
// they arrive from the weight bundle.
//
// A stage keeps its weights in the layout its MAC reads (fibha/mvau.hpp, fibha/dwmac.hpp),
// its biases beside the MAC and its multipliers and shifts beside the requantizer
// (fibha/requant.hpp): separate memories, because in a DATAFLOW region each array has
// one process that reads it.
//
// In the bundle (`fibha-compile build`'s packer writes it in exactly this order), a stage
// is a blob of 16-byte beats, the width of the bundle's m_axi port:
//   1 beat                         regmap::SeslLayerHead (zero points, clamp)
//   ceil(C / 4) beats, three times  bias, multiplier, shift: int32 per output channel
//   W x ceil(S / 16) beats          the weight words in the Weights array's own order
//                                   (row-major over its dimensions), S bytes of each word
//                                   in the first beats, the rest zero
// and an ADD (a bottleneck's residual) is regmap::SeslAdd in 3 beats. The loaders read a
// blob as one burst, one beat or table entry per cycle.
#ifndef FIBHA_PARAMS_HPP
#define FIBHA_PARAMS_HPP

#include <cstdint>

#include "fibha/arith.hpp"
#include "fibha/axi.hpp"
#include "fibha/latency.hpp"
#include "fibha/regmap.hpp"
#include "fibha/schedule.hpp"
#include "fibha/types.hpp"

namespace fibha {

/// One beat of the bundle's m_axi port (128 bits).
using BundleBeat = Vec<16>;

/// Bytes per bundle beat.
constexpr unsigned kBeatBytes = 16;

/// The fewest requantizers (a divisor of p_lanes) that keep up with one vector of p_lanes
/// every p_cycles cycles.
constexpr unsigned requant_lanes(unsigned p_lanes, unsigned p_cycles, unsigned p_r = 1) {
  return p_r >= p_lanes || (p_lanes % p_r == 0 && (p_lanes / p_r) <= p_cycles) ? (p_r >= p_lanes ? p_lanes : p_r)
                                                                                 : requant_lanes(p_lanes, p_cycles, p_r + 1);
}

/// Beats of a table of p_n int32 entries.
constexpr uint32_t table_beats(uint32_t p_n) { return (p_n + 3) / 4; }
/// Beats of one weight word of p_bytes.
constexpr uint32_t word_beats(uint32_t p_bytes) { return (p_bytes + kBeatBytes - 1) / kBeatBytes; }

/// The int32 at byte p_byte of a beat (little-endian).
inline int32_t beat_word(const BundleBeat& p_beat, unsigned p_word) {
  uint32_t l_v = 0;
  for (unsigned l_b = 0; l_b < 4; ++l_b) {
#pragma HLS UNROLL
    l_v |= static_cast<uint32_t>(static_cast<uint8_t>(p_beat.v[4 * p_word + l_b])) << (8 * l_b);
  }
  return static_cast<int32_t>(l_v);
}

/// Reads p_n 32-bit words starting at beat p_beat into p_out (a burst, a beat per cycle).
template <unsigned t_N>
void read_words(AxiIn<BundleBeat> p_bundle, uint32_t p_beat, uint32_t p_out[t_N]) {
  constexpr uint32_t kBeats = table_beats(t_N);
#ifndef __SYNTHESIS__
  csim::BurstRead l_burst(p_bundle.port(), kBeatBytes, kBeats);
#endif
  FIBHA_PIPELINED_FOR(read_words_loop, latency::kCopy) (uint32_t l_i = 0; l_i < kBeats; ++l_i) {
    FIBHA_PIPELINE(read_words_loop, 1);
    FIBHA_AXI_ARRIVE(l_burst, l_i);
    const BundleBeat l_beat = FIBHA_AXI_RAW(p_bundle)[p_beat + l_i];
    for (unsigned l_k = 0; l_k < 4; ++l_k) {
#pragma HLS UNROLL
      if (4 * l_i + l_k < t_N) {
        p_out[4 * l_i + l_k] = static_cast<uint32_t>(beat_word(l_beat, l_k));
      }
    }
  }
}

/// Loads p_n int32 entries from beat p_beat on into p_table, one entry per cycle.
/// Returns the beat after them.
template <class t_Table>
uint32_t load_table(AxiIn<BundleBeat> p_bundle, uint32_t p_beat, uint32_t p_n, t_Table& p_table) {
#ifndef __SYNTHESIS__
  csim::BurstRead l_burst(p_bundle.port(), kBeatBytes, table_beats(p_n));
#endif
  BundleBeat l_beat = {};
  FIBHA_PIPELINED_FOR(table_loop, latency::kCopy) (uint32_t l_i = 0; l_i < p_n; ++l_i) {
    FIBHA_PIPELINE(table_loop, 1);
    if (l_i % 4 == 0) {
      FIBHA_AXI_ARRIVE(l_burst, l_i / 4);
      l_beat = FIBHA_AXI_RAW(p_bundle)[p_beat + l_i / 4];
    }
    p_table[l_i] = beat_word(l_beat, l_i % 4);
  }
  return p_beat + table_beats(p_n);
}

/// Loads p_words weight words of t_Simd bytes (word_beats each) into the flat array
/// p_w (a Weights array seen as [p_words]). Returns the beat after them.
template <unsigned t_Simd, class t_Store>
uint32_t load_weight_words(AxiIn<BundleBeat> p_bundle, uint32_t p_beat, uint32_t p_words, t_Store p_store) {
  constexpr uint32_t kPerWord = word_beats(t_Simd);
#ifndef __SYNTHESIS__
  csim::BurstRead l_burst(p_bundle.port(), kBeatBytes, p_words * kPerWord);
#endif
  Vec<t_Simd> l_word = {};
  uint32_t l_part = 0;
  uint32_t l_index = 0;
  FIBHA_PIPELINED_FOR(weight_loop, latency::kCopy) (uint32_t l_i = 0; l_i < p_words * kPerWord; ++l_i) {
    FIBHA_PIPELINE(weight_loop, 1);
    FIBHA_AXI_ARRIVE(l_burst, l_i);
    const BundleBeat l_beat = FIBHA_AXI_RAW(p_bundle)[p_beat + l_i];
    for (unsigned l_b = 0; l_b < kBeatBytes; ++l_b) {
#pragma HLS UNROLL
      if (l_part * kBeatBytes + l_b < t_Simd) {
        l_word.v[l_part * kBeatBytes + l_b] = l_beat.v[l_b];
      }
    }
    if (l_part + 1 == kPerWord) {
      p_store(l_index, l_word);
      ++l_index;
      l_part = 0;
    } else {
      ++l_part;
    }
  }
  return p_beat + p_words * kPerWord;
}

/// Stores weight word i of a flat order into a one-dimensional Weights array.
template <class t_Array>
struct FlatStore {
  t_Array& array;
  template <class t_Word>
  void operator()(uint32_t p_i, const t_Word& p_word) const {
    array[p_i] = p_word;
  }
};

/// Stores weight word i of a row-major order into a [rows][t_Cols] Weights array.
template <class t_Array, unsigned t_Cols>
struct RowStore {
  t_Array& array;
  template <class t_Word>
  void operator()(uint32_t p_i, const t_Word& p_word) const {
    array[p_i / t_Cols][p_i % t_Cols] = p_word;
  }
};

/// Beats of a conv-like stage's head.
constexpr uint32_t kHeadBeats = table_beats(regmap::kSeslLayerHeadWords);

/// Reads and checks a layer head (zero points and clamp) at beat p_beat.
inline bool load_head(AxiIn<BundleBeat> p_bundle, uint32_t p_beat, QuantParams& p_q) {
  uint32_t l_words[regmap::kSeslLayerHeadWords];
  read_words<regmap::kSeslLayerHeadWords>(p_bundle, p_beat, l_words);
  const regmap::SeslLayerHead l_head = regmap::sesl_layer_head_from_words(l_words);
  p_q = QuantParams{l_head.in_zp, l_head.out_zp, l_head.act_min, l_head.act_max, l_head.filter_zp};
  return quant_params_valid(p_q);
}

/// True when every (multiplier, shift) pair of a stage is in TFLite's range.
template <class t_Table>
bool channel_quant_ok(const t_Table& p_mult, const t_Table& p_shift, uint32_t p_n) {
  bool l_ok = true;
  FIBHA_PIPELINED_FOR(quant_check_loop, latency::kCopy) (uint32_t l_c = 0; l_c < p_n; ++l_c) {
    FIBHA_PIPELINE(quant_check_loop, 1);
    l_ok = l_ok && channel_quant_valid(p_mult[l_c], p_shift[l_c]);
  }
  return l_ok;
}

/// On-chip parameters of an MVAU stage (t_M, a Mvau) and its requantizer (t_Rq).
template <class t_M, class t_Rq>
struct MvauParams {
  typename t_M::Weights w;
  typename t_M::Bias bias;
  typename t_Rq::Table mult;
  typename t_Rq::Table shift;
  QuantParams q;

  static constexpr uint32_t kWords = t_M::kPe * t_M::kNf * t_M::kSf;
  static constexpr uint32_t kBlobBeats = kHeadBeats + 3 * table_beats(t_M::kMatH) + kWords * word_beats(t_M::kSimd);

  /// Declares the memories' banks (the engines call it where they use them).
  void declare() const {
    t_M::declare(w, bias);
    t_Rq::declare(mult, shift);
  }

  /// Loads the blob at p_beat (advanced past it); false on out-of-range parameters.
  bool load(AxiIn<BundleBeat> p_bundle, uint32_t& p_beat) {
    bool l_ok = load_head(p_bundle, p_beat, q);
    uint32_t l_beat = p_beat + kHeadBeats;
    l_beat = load_table(p_bundle, l_beat, t_M::kMatH, bias);
    l_beat = load_table(p_bundle, l_beat, t_M::kMatH, mult);
    l_beat = load_table(p_bundle, l_beat, t_M::kMatH, shift);
    l_ok = channel_quant_ok(mult, shift, t_M::kMatH) && l_ok;
    using Store = RowStore<typename t_M::Weights, t_M::kNf * t_M::kSf>;
    p_beat = load_weight_words<t_M::kSimd>(p_bundle, l_beat, kWords, Store{w});
    return l_ok;
  }
};

/// On-chip parameters of a depthwise stage (t_D, a DwMac) and its requantizer (t_Rq).
template <class t_D, class t_Rq>
struct DwParams {
  typename t_D::Weights w;
  typename t_D::Bias bias;
  typename t_Rq::Table mult;
  typename t_Rq::Table shift;
  QuantParams q;

  static constexpr uint32_t kWords = t_D::kGroups * t_D::kTaps;
  static constexpr uint32_t kBlobBeats = kHeadBeats + 3 * table_beats(t_D::kC) + kWords * word_beats(t_D::kSimd);

  void declare() const {
    t_D::declare(w, bias);
    t_Rq::declare(mult, shift);
  }

  bool load(AxiIn<BundleBeat> p_bundle, uint32_t& p_beat) {
    bool l_ok = load_head(p_bundle, p_beat, q);
    uint32_t l_beat = p_beat + kHeadBeats;
    l_beat = load_table(p_bundle, l_beat, t_D::kC, bias);
    l_beat = load_table(p_bundle, l_beat, t_D::kC, mult);
    l_beat = load_table(p_bundle, l_beat, t_D::kC, shift);
    l_ok = channel_quant_ok(mult, shift, t_D::kC) && l_ok;
    p_beat = load_weight_words<t_D::kSimd>(p_bundle, l_beat, kWords, FlatStore<typename t_D::Weights>{w});
    return l_ok;
  }
};

/// Beats of an ADD blob.
constexpr uint32_t kAddBlobBeats = table_beats(regmap::kSeslAddWords);

/// Loads an ADD blob at p_beat (advanced past it).
inline bool load_add(AxiIn<BundleBeat> p_bundle, uint32_t& p_beat, AddParams& p_p) {
  uint32_t l_words[regmap::kSeslAddWords];
  read_words<regmap::kSeslAddWords>(p_bundle, p_beat, l_words);
  const regmap::SeslAdd l_a = regmap::sesl_add_from_words(l_words);
  p_p = AddParams{l_a.a_zp,       l_a.a_mult,   l_a.a_shift,   l_a.b_zp,   l_a.b_mult,  l_a.b_shift,
                  l_a.left_shift, l_a.out_mult, l_a.out_shift, l_a.out_zp, l_a.act_min, l_a.act_max};
  p_beat += kAddBlobBeats;
  return add_params_valid(p_p);
}

}  // namespace fibha

#endif  // FIBHA_PARAMS_HPP
