// Reader of golden layer directories (format "fibha-golden-1", defined in tb/README.md):
// a meta.txt of "key value" lines plus raw little-endian binary tensors, written for real
// MobileNetV2 layers by scripts/export_tflite_goldens.py from TFLite's reference kernels.
//
// Every read is checked: a missing key or file, or a file whose size is not the size the
// shapes imply, is a test failure naming the directory, the file and both sizes.
#ifndef FIBHA_TB_GOLDEN_HPP
#define FIBHA_TB_GOLDEN_HPP

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <stdexcept>
#include <sstream>
#include <string>
#include <vector>

#include "fibha/types.hpp"
#include "ref_ops.hpp"
#include "tb_common.hpp"

namespace fibha {
namespace tb {

/// One golden directory: its metadata and accessors for its tensors.
class Golden {
 public:
  /// Loads DIR/meta.txt; ok() is false (and a failure recorded) when it is unusable.
  explicit Golden(const std::string& p_dir) : m_dir(p_dir) {
    std::ifstream l_file(p_dir + "/meta.txt");
    if (!l_file) {
      fail("golden " + p_dir + ": cannot open meta.txt");
      m_ok = false;
      return;
    }
    std::string l_line;
    int l_lineNo = 0;
    while (std::getline(l_file, l_line)) {
      ++l_lineNo;
      const size_t l_hash = l_line.find('#');
      if (l_hash != std::string::npos) {
        l_line.erase(l_hash);
      }
      std::istringstream l_words(l_line);
      std::string l_key;
      std::string l_value;
      std::string l_extra;
      if (!(l_words >> l_key)) {
        continue;
      }
      if (!(l_words >> l_value) || (l_words >> l_extra)) {
        fail("golden " + p_dir + "/meta.txt:" + std::to_string(l_lineNo) + ": expected 'key value'");
        m_ok = false;
        continue;
      }
      m_meta[l_key] = l_value;
    }
    if (text("format") != "fibha-golden-1") {
      fail("golden " + p_dir + ": format is '" + text("format") + "', expected fibha-golden-1");
      m_ok = false;
    }
  }

  bool ok() const { return m_ok; }
  const std::string& dir() const { return m_dir; }

  /// A text value ("" and a failure when missing).
  std::string text(const std::string& p_key) {
    const auto l_it = m_meta.find(p_key);
    if (l_it == m_meta.end()) {
      fail("golden " + m_dir + ": meta.txt has no key '" + p_key + "'");
      m_ok = false;
      return "";
    }
    return l_it->second;
  }

  /// True when the key is present.
  bool has(const std::string& p_key) const { return m_meta.count(p_key) != 0; }

  /// An integer value (decimal, or hex with 0x).
  int64_t integer(const std::string& p_key) {
    const std::string l_text = text(p_key);
    if (l_text.empty()) {
      return 0;
    }
    try {
      size_t l_used = 0;
      const long long l_value = std::stoll(l_text, &l_used, 0);
      if (l_used != l_text.size()) {
        throw std::invalid_argument(l_text);
      }
      return l_value;
    } catch (const std::exception&) {
      fail("golden " + m_dir + ": key '" + p_key + "' is '" + l_text + "', expected an integer");
      m_ok = false;
      return 0;
    }
  }

  int32_t i32(const std::string& p_key) { return static_cast<int32_t>(integer(p_key)); }

  /// p_count int8 values from DIR/p_file.
  std::vector<int8_t> bytes(const std::string& p_file, size_t p_count) {
    const std::vector<char> l_raw = read(p_file, p_count);
    return std::vector<int8_t>(l_raw.begin(), l_raw.end());
  }

  /// p_count little-endian int32 values from DIR/p_file.
  std::vector<int32_t> words(const std::string& p_file, size_t p_count) {
    const std::vector<char> l_raw = read(p_file, p_count * 4);
    std::vector<int32_t> l_words(l_raw.size() / 4);
    for (size_t l_i = 0; l_i < l_words.size(); ++l_i) {
      uint32_t l_u = 0;
      for (int l_b = 3; l_b >= 0; --l_b) {
        l_u = (l_u << 8) | static_cast<uint8_t>(l_raw[l_i * 4 + static_cast<size_t>(l_b)]);
      }
      l_words[l_i] = static_cast<int32_t>(l_u);
    }
    return l_words;
  }

  /// The per-channel tables PREFIXbias.bin, PREFIXmultiplier.bin, PREFIXshift.bin.
  ref::ChannelQuant channel_quant(const std::string& p_prefix, size_t p_channels) {
    ref::ChannelQuant l_cq;
    l_cq.bias = words(p_prefix + "bias.bin", p_channels);
    l_cq.mult = words(p_prefix + "multiplier.bin", p_channels);
    l_cq.shift = words(p_prefix + "shift.bin", p_channels);
    return l_cq;
  }

  /// Zero points and clamp PREFIXin_zp, PREFIXout_zp, PREFIXact_min, PREFIXact_max.
  QuantParams quant(const std::string& p_prefix) {
    QuantParams l_q{};  // the int8 goldens' filters are symmetric: w_zp = 0
    l_q.in_zp = i32(p_prefix + "in_zp");
    l_q.out_zp = i32(p_prefix + "out_zp");
    l_q.act_min = i32(p_prefix + "act_min");
    l_q.act_max = i32(p_prefix + "act_max");
    return l_q;
  }

  /// ADD parameters with keys PREFIXa_zp ... PREFIXact_max.
  AddParams add_params(const std::string& p_prefix) {
    AddParams l_p;
    l_p.a_zp = i32(p_prefix + "a_zp");
    l_p.a_mult = i32(p_prefix + "a_mult");
    l_p.a_shift = i32(p_prefix + "a_shift");
    l_p.b_zp = i32(p_prefix + "b_zp");
    l_p.b_mult = i32(p_prefix + "b_mult");
    l_p.b_shift = i32(p_prefix + "b_shift");
    l_p.left_shift = i32(p_prefix + "left_shift");
    l_p.out_mult = i32(p_prefix + "out_mult");
    l_p.out_shift = i32(p_prefix + "out_shift");
    l_p.out_zp = i32(p_prefix + "out_zp");
    l_p.act_min = i32(p_prefix + "act_min");
    l_p.act_max = i32(p_prefix + "act_max");
    return l_p;
  }

  /// The conv geometry keys (in_h ... pad_left).
  ref::ConvShape shape() {
    ref::ConvShape l_s;
    l_s.in_h = i32("in_h");
    l_s.in_w = i32("in_w");
    l_s.in_c = i32("in_c");
    l_s.out_h = i32("out_h");
    l_s.out_w = i32("out_w");
    l_s.out_c = i32("out_c");
    l_s.k = i32("kernel");
    l_s.stride = i32("stride");
    l_s.pad_top = i32("pad_top");
    l_s.pad_left = i32("pad_left");
    return l_s;
  }

 private:
  std::vector<char> read(const std::string& p_file, size_t p_bytes) {
    const std::string l_path = m_dir + "/" + p_file;
    std::ifstream l_file(l_path, std::ios::binary | std::ios::ate);
    if (!l_file) {
      fail("golden: cannot open " + l_path);
      m_ok = false;
      return std::vector<char>(p_bytes, 0);
    }
    const std::streamoff l_size = l_file.tellg();
    if (l_size < 0 || static_cast<size_t>(l_size) != p_bytes) {
      fail("golden: " + l_path + " has " + std::to_string(l_size) + " bytes, the shapes say " +
           std::to_string(p_bytes));
      m_ok = false;
      return std::vector<char>(p_bytes, 0);
    }
    std::vector<char> l_raw(p_bytes);
    l_file.seekg(0);
    l_file.read(l_raw.data(), static_cast<std::streamsize>(p_bytes));
    return l_raw;
  }

  std::string m_dir;
  std::map<std::string, std::string> m_meta;
  bool m_ok = true;
};

/// True when golden p_g loaded and its op is p_op; otherwise records why (p_bench is the
/// testbench that takes p_op).
inline bool expect_op(Golden& p_g, const std::string& p_op, const std::string& p_bench) {
  if (!p_g.ok()) {
    return false;
  }
  const std::string l_op = p_g.text("op");
  if (l_op != p_op) {
    fail("golden " + p_g.dir() + ": op is '" + l_op + "', " + p_bench + " takes " + p_op);
    return false;
  }
  return true;
}

/// The tensors of a single-layer golden (op conv, depthwise or pointwise).
struct LayerGolden {
  ref::ConvShape shape;
  std::vector<int8_t> input;
  std::vector<int8_t> weights;
  ref::ChannelQuant cq;
  QuantParams q;
  std::vector<int8_t> expected;
};

/// Reads a conv-like golden layer (depthwise weights are [K*K][C], the others
/// [out_c][K*K*in_c]) and checks the nested-loop reference reproduces expected.bin;
/// false when any of it was unreadable.
inline bool read_layer(Golden& p_g, bool p_depthwise, LayerGolden& p_out) {
  const ref::ConvShape l_s = p_g.shape();
  const size_t l_taps = static_cast<size_t>(l_s.k) * l_s.k;
  const size_t l_weights = p_depthwise ? l_taps * l_s.out_c : l_taps * static_cast<size_t>(l_s.in_c) * l_s.out_c;
  p_out.shape = l_s;
  p_out.input = p_g.bytes("input.bin", static_cast<size_t>(l_s.in_h) * l_s.in_w * l_s.in_c);
  p_out.weights = p_g.bytes("weights.bin", l_weights);
  p_out.cq = p_g.channel_quant("", static_cast<size_t>(l_s.out_c));
  p_out.q = p_g.quant("");
  p_out.expected = p_g.bytes("expected.bin", static_cast<size_t>(l_s.out_h) * l_s.out_w * l_s.out_c);
  if (!p_g.ok()) {
    return false;
  }
  const std::vector<int8_t> l_ref = p_depthwise
                                        ? ref::depthwise(l_s, p_out.input, p_out.weights, p_out.cq, p_out.q)
                                        : ref::conv(l_s, p_out.input, p_out.weights, p_out.cq, p_out.q);
  compare("golden " + p_g.dir() + " (reference)", l_ref, p_out.expected, l_s.out_w, l_s.out_c);
  return true;
}

}  // namespace tb
}  // namespace fibha

#endif  // FIBHA_TB_GOLDEN_HPP
