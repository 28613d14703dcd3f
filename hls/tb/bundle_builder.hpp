// Builds device bundles for the testbenches, in the layout the kernel reads
// (hls/regmap.toml, version 3): little-endian words in 16-byte beats, every section and
// blob beat-aligned. Written from the format's description, independently of the
// kernel's loaders: SESL blobs from a stage's on-chip parameters as a testbench filled
// them (fibha/params.hpp's order), SEML blobs from TFLite-layout weights
// (fibha/seml.hpp's order, halves for the two loaders), SEML programs (descriptors and
// their reference outputs) and the header with its CRC-32.
#ifndef FIBHA_TB_BUNDLE_BUILDER_HPP
#define FIBHA_TB_BUNDLE_BUILDER_HPP

#include <cstdint>
#include <cstring>
#include <vector>

#include "fibha/firb.hpp"
#include "fibha/params.hpp"
#include "fibha/regmap.hpp"
#include "fibha/seml.hpp"
#include "fibha/types.hpp"
#include "ref_ops.hpp"

namespace fibha {
namespace tb {

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib) of the bytes, leaving out
/// the 32-bit word p_skipWord: the bundle header's checksum. Table-driven, unlike the
/// kernel's bitwise loop, so each checks the other.
inline uint32_t bundle_crc32(const std::vector<uint8_t>& p_bytes, size_t p_skipWord) {
  uint32_t l_table[256];
  for (uint32_t l_n = 0; l_n < 256; ++l_n) {
    uint32_t l_c = l_n;
    for (int l_k = 0; l_k < 8; ++l_k) {
      l_c = (l_c & 1u) != 0 ? 0xEDB88320u ^ (l_c >> 1) : l_c >> 1;
    }
    l_table[l_n] = l_c;
  }
  uint32_t l_crc = 0xFFFFFFFFu;
  for (size_t l_i = 0; l_i < p_bytes.size(); ++l_i) {
    if (l_i / 4 == p_skipWord) {
      continue;
    }
    l_crc = l_table[(l_crc ^ p_bytes[l_i]) & 0xFFu] ^ (l_crc >> 8);
  }
  return ~l_crc;
}

/// A sequence of 16-byte beats under construction.
class Beats {
 public:
  /// Beats so far.
  uint32_t count() const { return static_cast<uint32_t>(m_bytes.size() / kBeatBytes); }
  const std::vector<uint8_t>& bytes() const { return m_bytes; }
  std::vector<uint8_t>& bytes() { return m_bytes; }

  /// int32 entries, padded with p_pad entries to whole beats.
  void table(const std::vector<int32_t>& p_entries, int32_t p_pad = 0) {
    for (const int32_t l_v : p_entries) {
      word(static_cast<uint32_t>(l_v));
    }
    while (m_bytes.size() % kBeatBytes != 0) {
      word(static_cast<uint32_t>(p_pad));
    }
  }
  /// p_n bytes, zero-padded to whole beats.
  void bytes(const int8_t* p_values, size_t p_n) {
    for (size_t l_i = 0; l_i < p_n; ++l_i) {
      m_bytes.push_back(static_cast<uint8_t>(p_values[l_i]));
    }
    pad();
  }
  /// Appends another sequence.
  void append(const Beats& p_other) { m_bytes.insert(m_bytes.end(), p_other.m_bytes.begin(), p_other.m_bytes.end()); }
  /// Zero bytes up to the next beat.
  void pad() {
    while (m_bytes.size() % kBeatBytes != 0) {
      m_bytes.push_back(0);
    }
  }
  /// One 32-bit little-endian word.
  void word(uint32_t p_value) {
    for (int l_b = 0; l_b < 4; ++l_b) {
      m_bytes.push_back(static_cast<uint8_t>(p_value >> (8 * l_b)));
    }
  }
  /// Overwrites the word at byte p_off.
  void set_word(size_t p_off, uint32_t p_value) {
    for (int l_b = 0; l_b < 4; ++l_b) {
      m_bytes[p_off + static_cast<size_t>(l_b)] = static_cast<uint8_t>(p_value >> (8 * l_b));
    }
  }
  /// The beats as the kernel's 128-bit port sees them.
  std::vector<BundleBeat> as_beats() const {
    std::vector<BundleBeat> l_out(count());
    std::memcpy(static_cast<void*>(l_out.data()), m_bytes.data(), m_bytes.size());
    return l_out;
  }

 private:
  std::vector<uint8_t> m_bytes;
};

// ---------------------------------------------------------------------------------------
// SESL blobs.

inline void sesl_head(Beats& p_b, const QuantParams& p_q) {
  p_b.table({p_q.in_zp, p_q.out_zp, p_q.act_min, p_q.act_max, p_q.w_zp});
}

/// The on-chip words of a filled weight array, each padded to whole beats.
template <class t_Array>
void sesl_words(Beats& p_b, const t_Array& p_w) {
  using Word = typename t_Array::Element;
  for (size_t l_i = 0; l_i < t_Array::kSize; ++l_i) {
    const Word& l_word = p_w.data()[l_i];
    p_b.bytes(l_word.v, sizeof(l_word.v));
  }
}

template <class t_Table>
std::vector<int32_t> table_of(const t_Table& p_t) {
  return std::vector<int32_t>(p_t.data(), p_t.data() + t_Table::kSize);
}

/// An MVAU stage's blob.
template <class t_M, class t_Rq>
void add_sesl(Beats& p_b, const MvauParams<t_M, t_Rq>& p_p) {
  sesl_head(p_b, p_p.q);
  p_b.table(table_of(p_p.bias));
  p_b.table(table_of(p_p.mult));
  p_b.table(table_of(p_p.shift));
  sesl_words(p_b, p_p.w);
}

/// A depthwise stage's blob.
template <class t_D, class t_Rq>
void add_sesl(Beats& p_b, const DwParams<t_D, t_Rq>& p_p) {
  sesl_head(p_b, p_p.q);
  p_b.table(table_of(p_p.bias));
  p_b.table(table_of(p_p.mult));
  p_b.table(table_of(p_p.shift));
  sesl_words(p_b, p_p.w);
}

inline void add_sesl(Beats&, const NoStage&) {}

/// An ADD blob.
inline void add_sesl(Beats& p_b, const AddParams& p_p) {
  p_b.table({p_p.a_zp, p_p.a_mult, p_p.a_shift, p_p.b_zp, p_p.b_mult, p_p.b_shift, p_p.left_shift, p_p.out_mult,
             p_p.out_shift, p_p.out_zp, p_p.act_min, p_p.act_max});
}

/// A FIRB engine's blobs.
template <class t_F>
void add_sesl_firb(Beats& p_b, const typename t_F::Params& p_p) {
  add_sesl(p_b, p_p.exp);
  add_sesl(p_b, p_p.dw);
  add_sesl(p_b, p_p.proj);
  if (t_F::kSkip) {
    add_sesl(p_b, p_p.add);
  }
}

// ---------------------------------------------------------------------------------------
// SEML blobs and programs.

/// One 16-byte beat of weights W[row][col0 .. col0 + 16): zero past p_rows, p_fill past p_cols.
inline void weight_beat(Beats& p_b, const std::vector<int8_t>& p_w, size_t p_rows, size_t p_cols, size_t p_row,
                        size_t p_col0, int8_t p_fill = 0) {
  int8_t l_beat[kBeatBytes] = {};
  for (size_t l_i = 0; l_i < kBeatBytes && p_row < p_rows; ++l_i) {
    l_beat[l_i] = p_col0 + l_i < p_cols ? p_w[p_row * p_cols + p_col0 + l_i] : p_fill;
  }
  p_b.bytes(l_beat, kBeatBytes);
}

/// p_v[first .. first + n), zero past its end.
inline std::vector<int32_t> slice(const std::vector<int32_t>& p_v, size_t p_first, size_t p_n) {
  std::vector<int32_t> l_out;
  l_out.reserve(p_n);
  for (size_t l_i = p_first; l_i < p_first + p_n; ++l_i) {
    l_out.push_back(l_i < p_v.size() ? p_v[l_i] : 0);
  }
  return l_out;
}

/// A pointwise layer's logical blob (before the split into halves): per fold of p_pe
/// channels, the tables and the weight beats, for W[out_c][in_c] (inputs past in_c hold p_wZp).
inline Beats pw_blob(const std::vector<int8_t>& p_w, const ref::ChannelQuant& p_cq, size_t p_inC, size_t p_outC,
                     unsigned p_pe, int32_t p_wZp) {
  Beats l_b;
  const size_t l_cf = fm_words(static_cast<uint32_t>(p_inC));
  for (size_t l_f = 0; l_f * p_pe < p_outC; ++l_f) {
    l_b.table(slice(p_cq.bias, l_f * p_pe, p_pe));
    l_b.table(slice(p_cq.mult, l_f * p_pe, p_pe));
    l_b.table(slice(p_cq.shift, l_f * p_pe, p_pe));
    for (size_t l_c = 0; l_c < l_cf; ++l_c) {
      for (size_t l_pe = 0; l_pe < p_pe; ++l_pe) {
        weight_beat(l_b, p_w, p_outC, p_inC, l_f * p_pe + l_pe, l_c * kFmLanes, static_cast<int8_t>(p_wZp));
      }
    }
  }
  return l_b;
}

/// A depthwise layer's logical blob, for W[taps][C].
inline Beats dw_blob(const std::vector<int8_t>& p_w, const ref::ChannelQuant& p_cq, size_t p_c, size_t p_taps) {
  Beats l_b;
  const size_t l_words = fm_words(static_cast<uint32_t>(p_c));
  l_b.table(slice(p_cq.bias, 0, l_words * kFmLanes));
  l_b.table(slice(p_cq.mult, 0, l_words * kFmLanes));
  l_b.table(slice(p_cq.shift, 0, l_words * kFmLanes));
  for (size_t l_t = 0; l_t < p_taps; ++l_t) {
    for (size_t l_j = 0; l_j < l_words; ++l_j) {
      weight_beat(l_b, p_w, p_taps, p_c, l_t, l_j * kFmLanes);
    }
  }
  if (l_b.count() % 2 != 0) {
    const int8_t l_zero[kBeatBytes] = {};
    l_b.bytes(l_zero, kBeatBytes);
  }
  return l_b;
}

/// A logical blob as stored: its even beats (loader A), then its odd beats (loader B).
inline Beats split_halves(const Beats& p_logical) {
  Beats l_out;
  for (unsigned l_half = 0; l_half < 2; ++l_half) {
    for (uint32_t l_i = l_half; l_i < p_logical.count(); l_i += 2) {
      l_out.bytes(reinterpret_cast<const int8_t*>(p_logical.bytes().data()) + l_i * kBeatBytes, kBeatBytes);
    }
  }
  return l_out;
}

/// One SEML layer of a test program: its shape, parameters and where its maps live.
struct SemlSpec {
  regmap::LayerKind kind = regmap::LayerKind::kPointwise;
  ref::ConvShape shape;
  std::vector<int8_t> w;
  ref::ChannelQuant cq;
  QuantParams q{};
  bool residual = false;
  bool divide = false;  ///< a pool layer: AVERAGE_POOL_2D's rounding division (else MEAN's rescale)
  AddParams add{};  ///< with a residual (a = the conv's output, b = the residual)
  uint32_t in_buf = 0, out_buf = 1, res_buf = 0;
};

/// A layer's descriptor with its blob at p_paramsBeat.
inline regmap::LayerDesc seml_desc(const SemlSpec& p_l, uint32_t p_paramsBeat, uint32_t p_paramsBeats) {
  regmap::LayerDesc l_d{};
  const ref::ConvShape& l_s = p_l.shape;
  l_d.magic = regmap::kDescMagic;
  l_d.kind = static_cast<uint32_t>(p_l.kind);
  l_d.flags = (p_l.residual ? regmap::kFlagResidual : 0) | (p_l.divide ? regmap::kFlagRoundDivide : 0);
  l_d.in_h = static_cast<uint32_t>(l_s.in_h);
  l_d.in_w = static_cast<uint32_t>(l_s.in_w);
  l_d.in_c = static_cast<uint32_t>(l_s.in_c);
  l_d.out_h = static_cast<uint32_t>(l_s.out_h);
  l_d.out_w = static_cast<uint32_t>(l_s.out_w);
  l_d.out_c = static_cast<uint32_t>(l_s.out_c);
  l_d.kernel = static_cast<uint32_t>(l_s.k);
  l_d.stride = static_cast<uint32_t>(l_s.stride);
  l_d.pad_top = static_cast<uint32_t>(l_s.pad_top);
  l_d.pad_left = static_cast<uint32_t>(l_s.pad_left);
  l_d.in_buf = p_l.in_buf;
  l_d.res_buf = p_l.residual ? p_l.res_buf : 0;
  l_d.out_buf = p_l.out_buf;
  l_d.params_off = p_paramsBeat;
  l_d.params_beats = p_paramsBeats;
  l_d.in_zp = p_l.q.in_zp;
  l_d.filter_zp = p_l.q.w_zp;
  if (p_l.residual) {
    l_d.out_zp = p_l.add.out_zp;
    l_d.act_min = p_l.add.act_min;
    l_d.act_max = p_l.add.act_max;
    l_d.conv_zp = p_l.q.out_zp;
    l_d.res_zp = p_l.add.b_zp;
    l_d.left_shift = p_l.add.left_shift;
    l_d.a_mult = p_l.add.a_mult;
    l_d.a_shift = p_l.add.a_shift;
    l_d.b_mult = p_l.add.b_mult;
    l_d.b_shift = p_l.add.b_shift;
    l_d.add_mult = p_l.add.out_mult;
    l_d.add_shift = p_l.add.out_shift;
  } else {
    l_d.out_zp = p_l.q.out_zp;
    l_d.act_min = p_l.q.act_min;
    l_d.act_max = p_l.q.act_max;
  }
  return l_d;
}

/// A program's descriptors and parameter section, for an engine of p_pe output channels
/// per fold, with blobs placed from beat p_firstBeat of the bundle on.
struct SemlProgram {
  std::vector<regmap::LayerDesc> descs;
  Beats params;
};

inline SemlProgram seml_program(const std::vector<SemlSpec>& p_layers, unsigned p_pe, uint32_t p_firstBeat) {
  SemlProgram l_p;
  for (const SemlSpec& l_l : p_layers) {
    const bool l_pool = l_l.kind == regmap::LayerKind::kPool;
    const size_t l_taps = l_pool ? 0 : static_cast<size_t>(l_l.shape.k) * l_l.shape.k;
    const Beats l_logical = l_l.kind == regmap::LayerKind::kDepthwise || l_pool
                                ? dw_blob(l_l.w, l_l.cq, static_cast<size_t>(l_l.shape.in_c), l_taps)
                                : pw_blob(l_l.w, l_l.cq, static_cast<size_t>(l_l.shape.in_c),
                                          static_cast<size_t>(l_l.shape.out_c), p_pe, l_l.q.w_zp);
    l_p.descs.push_back(seml_desc(l_l, p_firstBeat + l_p.params.count(), l_logical.count()));
    l_p.params.append(split_halves(l_logical));
  }
  return l_p;
}

/// The program's output by the reference operators, from the hand-off map p_in.
inline std::vector<int8_t> seml_reference(const std::vector<SemlSpec>& p_layers, const std::vector<int8_t>& p_in) {
  std::vector<int8_t> l_maps[kFmCount];
  l_maps[0] = p_in;
  std::vector<int8_t> l_last = p_in;
  for (const SemlSpec& l_l : p_layers) {
    const std::vector<int8_t>& l_x = l_maps[l_l.in_buf];
    std::vector<int8_t> l_y = l_l.kind == regmap::LayerKind::kPool ? ref::global_pool(l_l.shape, l_x, l_l.cq, l_l.q, l_l.divide)
                              : l_l.kind == regmap::LayerKind::kDepthwise
                                  ? ref::depthwise(l_l.shape, l_x, l_l.w, l_l.cq, l_l.q)
                                  : ref::conv(l_l.shape, l_x, l_l.w, l_l.cq, l_l.q);
    if (l_l.residual) {
      l_y = ref::add(l_y, l_maps[l_l.res_buf], l_l.add);
    }
    l_maps[l_l.out_buf] = l_y;
    l_last = l_y;
  }
  return l_last;
}

/// A map of h x w pixels of c channels as 16-channel words, lanes past c zero.
inline std::vector<FmWord> to_fm_words(const std::vector<int8_t>& p_map, size_t p_pixels, size_t p_c) {
  const size_t l_words = fm_words(static_cast<uint32_t>(p_c));
  std::vector<FmWord> l_out(p_pixels * l_words, FmWord{});
  for (size_t l_p = 0; l_p < p_pixels; ++l_p) {
    for (size_t l_c = 0; l_c < p_c; ++l_c) {
      l_out[l_p * l_words + l_c / kFmLanes].v[l_c % kFmLanes] = p_map[l_p * p_c + l_c];
    }
  }
  return l_out;
}

/// A bundle: header, descriptors, SESL section, SEML parameter section.
struct BundleParts {
  uint64_t plan_hash = 0;
  Beats sesl;
  std::vector<regmap::LayerDesc> descs;
  Beats params;
  uint32_t input_bytes = 0;
  uint32_t output_bytes = 0;
  uint32_t handoff_bytes = 0;
};

/// Beat of the bundle where the SEML parameter section starts for p_layers descriptors and
/// a SESL section of p_seslBeats.
inline uint32_t params_beat(size_t p_layers, uint32_t p_seslBeats) {
  return regmap::kBundleHeaderWords / 4 + static_cast<uint32_t>(p_layers) * (regmap::kLayerDescWords / 4) + p_seslBeats;
}

/// Recomputes the header's CRC-32 after an edit.
inline void seal(Beats& p_b) {
  p_b.set_word(4 * regmap::kBundleCrcWord, bundle_crc32(p_b.bytes(), regmap::kBundleCrcWord));
}

/// Lays the parts out (header, descriptors, SESL section, parameters) and seals the CRC.
inline Beats build_bundle(const BundleParts& p_parts) {
  Beats l_b;
  const uint32_t l_descOff = regmap::kBundleHeaderWords * 4;
  const uint32_t l_seslOff = l_descOff + static_cast<uint32_t>(p_parts.descs.size()) * regmap::kLayerDescWords * 4;
  const uint32_t l_paramsOff = l_seslOff + static_cast<uint32_t>(p_parts.sesl.bytes().size());
  const uint32_t l_total = l_paramsOff + static_cast<uint32_t>(p_parts.params.bytes().size());
  regmap::BundleHeader l_h{};
  l_h.magic = regmap::kBundleMagic;
  l_h.version = regmap::kBundleVersion;
  l_h.plan_hash_lo = static_cast<uint32_t>(p_parts.plan_hash);
  l_h.plan_hash_hi = static_cast<uint32_t>(p_parts.plan_hash >> 32);
  l_h.total_bytes = l_total;
  l_h.layer_count = static_cast<uint32_t>(p_parts.descs.size());
  l_h.desc_off = l_descOff;
  l_h.sesl_off = l_seslOff;
  l_h.sesl_bytes = static_cast<uint32_t>(p_parts.sesl.bytes().size());
  l_h.params_off = l_paramsOff;
  l_h.params_bytes = static_cast<uint32_t>(p_parts.params.bytes().size());
  l_h.input_bytes = p_parts.input_bytes;
  l_h.output_bytes = p_parts.output_bytes;
  l_h.handoff_bytes = p_parts.handoff_bytes;
  uint32_t l_words[regmap::kBundleHeaderWords];
  regmap::bundle_header_to_words(l_h, l_words);
  for (const uint32_t l_w : l_words) {
    l_b.word(l_w);
  }
  for (const regmap::LayerDesc& l_d : p_parts.descs) {
    uint32_t l_dw[regmap::kLayerDescWords];
    regmap::layer_desc_to_words(l_d, l_dw);
    for (const uint32_t l_w : l_dw) {
      l_b.word(l_w);
    }
  }
  l_b.append(p_parts.sesl);
  l_b.append(p_parts.params);
  seal(l_b);
  return l_b;
}

}  // namespace tb
}  // namespace fibha

#endif  // FIBHA_TB_BUNDLE_BUILDER_HPP
