// The SESL weight section of the device bundle and its loaders.
//
// The SESL engines keep their weights on chip; the kernel copies them from the bundle at
// the start of every run (a few kilobytes for the first layers of a MobileNet), so one
// bitstream runs any weights of the same plan. The section is a sequence of layer blobs
// in chain order, all little-endian 32-bit words (described once in hls/regmap.toml, whose
// generated regmap.hpp and runtime/model/src/device.rs give both sides the same structs):
//   conv-like layer: regmap::SeslLayerHead                      (4 words)
//                    bias[C], multiplier[C], shift[C]           (3 x C words)
//                    weights, int8, the engine's layout, padded with zeros to 4 bytes
//   FIRB:            [expand layer if t > 1], dw layer, project layer, [ADD if skip]
//   ADD:             regmap::SeslAdd                            (12 words)
// The loaders read exactly the bytes sesl_layer_bytes() / kSeslAddBytes count; the
// caller has checked that the whole section lies inside the bundle. A loader returns
// false when a zero point, clamp, multiplier or shift is out of TFLite's range.
#ifndef FIBHA_BUNDLE_HPP
#define FIBHA_BUNDLE_HPP

#include <cstdint>

#include "fibha/arith.hpp"
#include "fibha/axi.hpp"
#include "fibha/latency.hpp"
#include "fibha/regmap.hpp"
#include "fibha/schedule.hpp"
#include "fibha/seml.hpp"
#include "fibha/types.hpp"

namespace fibha {

/// Bytes of a conv-like layer blob with p_weights int8 weights and p_channels outputs.
constexpr uint32_t sesl_layer_bytes(uint32_t p_weights, uint32_t p_channels) {
  return regmap::kSeslLayerHeadWords * 4 + 3 * 4 * p_channels + ((p_weights + 3) / 4) * 4;
}

/// Bytes of an ADD blob.
constexpr uint32_t kSeslAddBytes = regmap::kSeslAddWords * 4;

/// Loads one conv-like layer blob at p_off (advanced past it).
/// \tparam t_Rows weight rows (first dimension of the engine's array)
/// \tparam t_Cols weights per row
/// \tparam t_C    output channels (per-channel table length)
template <unsigned t_Rows, unsigned t_Cols, unsigned t_C>
bool load_sesl_layer(AxiIn<uint32_t> p_bundle, uint32_t& p_off, int8_t p_w[t_Rows][t_Cols],
                     int32_t p_cq[kChannelQuantRows][t_C], QuantParams& p_q) {
  const regmap::SeslLayerHead l_head = regmap::sesl_layer_head_from_words(p_bundle + p_off / 4);
  p_q = QuantParams{l_head.in_zp, l_head.out_zp, l_head.act_min, l_head.act_max};
  bool l_ok = quant_params_valid(p_q);
  p_off += regmap::kSeslLayerHeadWords * 4;
  FIBHA_PIPELINED_FOR(table_load_loop, latency::kCopy) (unsigned l_c = 0; l_c < t_C; ++l_c) {
    FIBHA_PIPELINE(table_load_loop, 1);
    const int32_t l_mult = bundle_word(p_bundle, p_off + 4 * (t_C + l_c));
    const int32_t l_shift = bundle_word(p_bundle, p_off + 4 * (2 * t_C + l_c));
    l_ok = l_ok && channel_quant_valid(l_mult, l_shift);
    p_cq[kBiasRow][l_c] = bundle_word(p_bundle, p_off + 4 * l_c);
    p_cq[kMultRow][l_c] = l_mult;
    p_cq[kShiftRow][l_c] = channel_quant_valid(l_mult, l_shift) ? l_shift : 0;
  }
  p_off += 3 * 4 * t_C;
  FIBHA_PIPELINED_FOR(weight_load_loop, latency::kCopy) (unsigned l_i = 0; l_i < t_Rows * t_Cols; ++l_i) {
    FIBHA_PIPELINE(weight_load_loop, 1);
    p_w[l_i / t_Cols][l_i % t_Cols] = bundle_byte(p_bundle, p_off + l_i);
  }
  p_off += ((t_Rows * t_Cols + 3) / 4) * 4;
  return l_ok;
}

/// Loads an ADD blob at p_off (advanced past it).
inline bool load_sesl_add(AxiIn<uint32_t> p_bundle, uint32_t& p_off, AddParams& p_p) {
  const regmap::SeslAdd l_a = regmap::sesl_add_from_words(p_bundle + p_off / 4);
  p_p = AddParams{l_a.a_zp,       l_a.a_mult,   l_a.a_shift,   l_a.b_zp,   l_a.b_mult,  l_a.b_shift,
                  l_a.left_shift, l_a.out_mult, l_a.out_shift, l_a.out_zp, l_a.act_min, l_a.act_max};
  p_off += kSeslAddBytes;
  return add_params_valid(p_p);
}

/// On-chip parameters of one FIRB engine, in the shapes Firb::run takes.
/// \tparam t_Firb a Firb instantiation
template <class t_Firb>
struct FirbParams {
  int8_t exp_w[t_Firb::kExpRows][t_Firb::kExpCols];
  int32_t exp_cq[kChannelQuantRows][t_Firb::kExpRows];
  QuantParams exp_q;
  int8_t dw_w[t_Firb::kTaps][t_Firb::kExpC];
  int32_t dw_cq[kChannelQuantRows][t_Firb::kExpC];
  QuantParams dw_q;
  int8_t proj_w[t_Firb::kOutC][t_Firb::kExpC];
  int32_t proj_cq[kChannelQuantRows][t_Firb::kOutC];
  QuantParams proj_q;
  AddParams add;

  /// Bytes of this engine's blob in the SESL section.
  static constexpr uint32_t kBlobBytes =
      (t_Firb::kHasExpand ? sesl_layer_bytes(t_Firb::kExpC * t_Firb::kExpCols, t_Firb::kExpC) : 0) +
      sesl_layer_bytes(t_Firb::kTaps * t_Firb::kExpC, t_Firb::kExpC) +
      sesl_layer_bytes(t_Firb::kOutC * t_Firb::kExpC, t_Firb::kOutC) + (t_Firb::kSkip ? kSeslAddBytes : 0);

  /// Loads the blob at p_off (advanced past it); false on out-of-range parameters.
  bool load(AxiIn<uint32_t> p_bundle, uint32_t& p_off) {
    bool l_ok = true;
    if (t_Firb::kHasExpand) {
      l_ok = load_sesl_layer<t_Firb::kExpRows, t_Firb::kExpCols, t_Firb::kExpRows>(p_bundle, p_off, exp_w, exp_cq,
                                                                                    exp_q) &&
             l_ok;
    } else {
      exp_q = QuantParams{0, 0, -128, 127};
    }
    l_ok = load_sesl_layer<t_Firb::kTaps, t_Firb::kExpC, t_Firb::kExpC>(p_bundle, p_off, dw_w, dw_cq, dw_q) && l_ok;
    l_ok = load_sesl_layer<t_Firb::kOutC, t_Firb::kExpC, t_Firb::kOutC>(p_bundle, p_off, proj_w, proj_cq, proj_q) &&
           l_ok;
    if (t_Firb::kSkip) {
      l_ok = load_sesl_add(p_bundle, p_off, add) && l_ok;
    } else {
      add = AddParams{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -128, 127};
    }
    return l_ok;
  }

  /// Runs the engine with these parameters.
  void run(hls::stream<typename t_Firb::InWord>& p_in, hls::stream<typename t_Firb::OutWord>& p_out) const {
    t_Firb::run(p_in, p_out, exp_w, exp_cq, exp_q, dw_w, dw_cq, dw_q, proj_w, proj_cq, proj_q, add);
  }
};

/// On-chip parameters of one SESL conv-like engine (SeslConv, SeslDw or SeslPw).
/// \tparam t_Rows weight rows of the engine's array
/// \tparam t_Cols weights per row
/// \tparam t_C    output channels
template <unsigned t_Rows, unsigned t_Cols, unsigned t_C>
struct LayerParams {
  int8_t w[t_Rows][t_Cols];
  int32_t cq[kChannelQuantRows][t_C];
  QuantParams q;

  static constexpr uint32_t kBlobBytes = sesl_layer_bytes(t_Rows * t_Cols, t_C);

  bool load(AxiIn<uint32_t> p_bundle, uint32_t& p_off) {
    return load_sesl_layer<t_Rows, t_Cols, t_C>(p_bundle, p_off, w, cq, q);
  }
};

}  // namespace fibha

#endif  // FIBHA_BUNDLE_HPP
