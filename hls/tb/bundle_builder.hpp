// Builds device bundles and SEML descriptors for the testbenches, in the layout the
// kernel reads (hls/regmap.toml): 32-bit little-endian words, int8 arrays packed four
// to a word, 4-byte aligned sections.
#ifndef FIBHA_TB_BUNDLE_BUILDER_HPP
#define FIBHA_TB_BUNDLE_BUILDER_HPP

#include <cstdint>
#include <vector>

#include "fibha/regmap.hpp"
#include "fibha/types.hpp"
#include "ref_ops.hpp"

namespace fibha {
namespace tb {

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib) of the words' bytes in
/// little-endian order, leaving out word p_skip: the bundle header's checksum. Table-driven,
/// unlike the kernel's bitwise loop, so each checks the other.
inline uint32_t bundle_crc32(const std::vector<uint32_t>& p_words, size_t p_skip) {
  uint32_t l_table[256];
  for (uint32_t l_n = 0; l_n < 256; ++l_n) {
    uint32_t l_c = l_n;
    for (int l_k = 0; l_k < 8; ++l_k) {
      l_c = (l_c & 1u) != 0 ? 0xEDB88320u ^ (l_c >> 1) : l_c >> 1;
    }
    l_table[l_n] = l_c;
  }
  uint32_t l_crc = 0xFFFFFFFFu;
  for (size_t l_i = 0; l_i < p_words.size(); ++l_i) {
    if (l_i == p_skip) {
      continue;
    }
    for (int l_b = 0; l_b < 4; ++l_b) {
      l_crc = l_table[(l_crc ^ (p_words[l_i] >> (8 * l_b))) & 0xFFu] ^ (l_crc >> 8);
    }
  }
  return ~l_crc;
}

/// A growing bundle image.
class BundleBuilder {
 public:
  /// Current size in bytes (always a multiple of 4).
  uint32_t size() const { return static_cast<uint32_t>(m_bytes.size()); }

  /// Appends int8 values (padded to 4 bytes); returns their offset.
  uint32_t add_bytes(const std::vector<int8_t>& p_values) {
    const uint32_t l_off = size();
    for (const int8_t l_v : p_values) {
      m_bytes.push_back(static_cast<uint8_t>(l_v));
    }
    pad();
    return l_off;
  }

  /// Appends int32 values; returns their offset.
  uint32_t add_words(const std::vector<int32_t>& p_values) {
    const uint32_t l_off = size();
    for (const int32_t l_v : p_values) {
      put_le(static_cast<uint32_t>(l_v));
    }
    return l_off;
  }

  /// Appends p_bytes zero bytes (rounded up to 4); returns their offset.
  uint32_t reserve(uint32_t p_bytes) {
    const uint32_t l_off = size();
    m_bytes.resize(m_bytes.size() + (p_bytes + 3) / 4 * 4, 0);
    return l_off;
  }

  /// Overwrites the word at byte offset p_off.
  void set_word(uint32_t p_off, uint32_t p_value) {
    for (int l_b = 0; l_b < 4; ++l_b) {
      m_bytes[p_off + static_cast<uint32_t>(l_b)] = static_cast<uint8_t>(p_value >> (8 * l_b));
    }
  }

  /// The image as 32-bit words (what the kernel's bundle pointer sees).
  std::vector<uint32_t> words() const {
    std::vector<uint32_t> l_words(m_bytes.size() / 4);
    for (size_t l_i = 0; l_i < l_words.size(); ++l_i) {
      l_words[l_i] = static_cast<uint32_t>(m_bytes[4 * l_i]) | (static_cast<uint32_t>(m_bytes[4 * l_i + 1]) << 8) |
                     (static_cast<uint32_t>(m_bytes[4 * l_i + 2]) << 16) |
                     (static_cast<uint32_t>(m_bytes[4 * l_i + 3]) << 24);
    }
    return l_words;
  }

  /// Appends a conv-like layer's per-channel tables and weights and fills the descriptor's
  /// weight/bias/multiplier/shift offsets.
  void add_layer_params(regmap::LayerDesc& p_d, const std::vector<int8_t>& p_w, const ref::ChannelQuant& p_cq) {
    p_d.weight_off = add_bytes(p_w);
    p_d.bias_off = add_words(p_cq.bias);
    p_d.mult_off = add_words(p_cq.mult);
    p_d.shift_off = add_words(p_cq.shift);
  }

  /// Appends a SESL conv-like layer blob (see fibha/bundle.hpp).
  void add_sesl_layer(const std::vector<int8_t>& p_w, const ref::ChannelQuant& p_cq, const QuantParams& p_q) {
    add_words({p_q.in_zp, p_q.out_zp, p_q.act_min, p_q.act_max});
    add_words(p_cq.bias);
    add_words(p_cq.mult);
    add_words(p_cq.shift);
    add_bytes(p_w);
  }

  /// Appends a SESL ADD blob.
  void add_sesl_add(const AddParams& p_p) {
    add_words({p_p.a_zp, p_p.a_mult, p_p.a_shift, p_p.b_zp, p_p.b_mult, p_p.b_shift, p_p.left_shift, p_p.out_mult,
               p_p.out_shift, p_p.out_zp, p_p.act_min, p_p.act_max});
  }

  /// Appends a descriptor; returns its offset.
  uint32_t add_descriptor(const regmap::LayerDesc& p_d) {
    uint32_t l_words[regmap::kLayerDescWords];
    regmap::layer_desc_to_words(p_d, l_words);
    return add_words(std::vector<int32_t>(l_words, l_words + regmap::kLayerDescWords));
  }

 private:
  void pad() {
    while (m_bytes.size() % 4 != 0) {
      m_bytes.push_back(0);
    }
  }
  void put_le(uint32_t p_value) {
    for (int l_b = 0; l_b < 4; ++l_b) {
      m_bytes.push_back(static_cast<uint8_t>(p_value >> (8 * l_b)));
    }
  }

  std::vector<uint8_t> m_bytes;
};

/// A descriptor for a conv-like layer (weights and tables filled by add_layer_params).
inline regmap::LayerDesc conv_desc(regmap::LayerKind p_kind, const ref::ConvShape& p_s, regmap::BufferId p_inBuf,
                                   uint32_t p_inOff, regmap::BufferId p_outBuf, uint32_t p_outOff,
                                   const QuantParams& p_q) {
  regmap::LayerDesc l_d{};
  l_d.magic = regmap::kDescMagic;
  l_d.kind = static_cast<uint32_t>(p_kind);
  l_d.in_h = static_cast<uint32_t>(p_s.in_h);
  l_d.in_w = static_cast<uint32_t>(p_s.in_w);
  l_d.in_c = static_cast<uint32_t>(p_s.in_c);
  l_d.out_h = static_cast<uint32_t>(p_s.out_h);
  l_d.out_w = static_cast<uint32_t>(p_s.out_w);
  l_d.out_c = static_cast<uint32_t>(p_s.out_c);
  l_d.kernel = static_cast<uint32_t>(p_s.k);
  l_d.stride = static_cast<uint32_t>(p_s.stride);
  l_d.pad_top = static_cast<uint32_t>(p_s.pad_top);
  l_d.pad_left = static_cast<uint32_t>(p_s.pad_left);
  l_d.in_buf = static_cast<uint32_t>(p_inBuf);
  l_d.in_off = p_inOff;
  l_d.out_buf = static_cast<uint32_t>(p_outBuf);
  l_d.out_off = p_outOff;
  l_d.in_zp = p_q.in_zp;
  l_d.out_zp = p_q.out_zp;
  l_d.act_min = p_q.act_min;
  l_d.act_max = p_q.act_max;
  return l_d;
}

/// A descriptor for an ADD of two h x w x c regions.
inline regmap::LayerDesc add_desc(int p_h, int p_w, int p_c, regmap::BufferId p_aBuf, uint32_t p_aOff,
                                  regmap::BufferId p_bBuf, uint32_t p_bOff, regmap::BufferId p_outBuf,
                                  uint32_t p_outOff, const AddParams& p_p) {
  regmap::LayerDesc l_d{};
  l_d.magic = regmap::kDescMagic;
  l_d.kind = static_cast<uint32_t>(regmap::LayerKind::kAdd);
  l_d.in_h = l_d.out_h = static_cast<uint32_t>(p_h);
  l_d.in_w = l_d.out_w = static_cast<uint32_t>(p_w);
  l_d.in_c = l_d.out_c = static_cast<uint32_t>(p_c);
  l_d.kernel = 1;
  l_d.stride = 1;
  l_d.in_buf = static_cast<uint32_t>(p_aBuf);
  l_d.in_off = p_aOff;
  l_d.in2_buf = static_cast<uint32_t>(p_bBuf);
  l_d.in2_off = p_bOff;
  l_d.out_buf = static_cast<uint32_t>(p_outBuf);
  l_d.out_off = p_outOff;
  l_d.in_zp = p_p.a_zp;
  l_d.in2_zp = p_p.b_zp;
  l_d.out_zp = p_p.out_zp;
  l_d.act_min = p_p.act_min;
  l_d.act_max = p_p.act_max;
  l_d.left_shift = p_p.left_shift;
  l_d.in1_mult = p_p.a_mult;
  l_d.in1_shift = p_p.a_shift;
  l_d.in2_mult = p_p.b_mult;
  l_d.in2_shift = p_p.b_shift;
  l_d.out_mult = p_p.out_mult;
  l_d.out_shift = p_p.out_shift;
  return l_d;
}

}  // namespace tb
}  // namespace fibha

#endif  // FIBHA_TB_BUNDLE_BUILDER_HPP
