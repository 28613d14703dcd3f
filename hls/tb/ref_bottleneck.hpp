// A bottleneck (expand PW -> DW -> project PW, optional residual ADD) in reference form:
// its parameters as flat TFLite-layout arrays, the nested-loop reference computation, and
// random parameters with consistent zero points (each layer's input zero point is its
// producer's output zero point, as in a real model).
#ifndef FIBHA_TB_REF_BOTTLENECK_HPP
#define FIBHA_TB_REF_BOTTLENECK_HPP

#include <cstdint>
#include <vector>

#include "fibha/firb.hpp"
#include "fibha/types.hpp"
#include "ref_ops.hpp"
#include "tb_common.hpp"

namespace fibha {
namespace tb {

/// A bottleneck's shapes and parameters.
struct Bottleneck {
  int in_h = 0, in_w = 0, in_c = 0, expand = 1, out_c = 0, k = 3, stride = 1;
  bool skip = false;
  std::vector<int8_t> exp_w, dw_w, proj_w;
  ref::ChannelQuant exp_cq, dw_cq, proj_cq;
  QuantParams exp_q{}, dw_q{}, proj_q{};
  AddParams add{};
  int exp_c() const { return in_c * expand; }
  int out_h() const { return (in_h + stride - 1) / stride; }
  int out_w() const { return (in_w + stride - 1) / stride; }
};

/// expand (if t > 1) -> depthwise (SAME) -> project -> ADD with the input (if skip).
inline std::vector<int8_t> run_reference(const Bottleneck& p_b, const std::vector<int8_t>& p_in) {
  std::vector<int8_t> l_x = p_in;
  if (p_b.expand != 1) {
    l_x = ref::conv(ref::make_shape(p_b.in_h, p_b.in_w, p_b.in_c, p_b.exp_c(), 1, 1, Padding::kSame), l_x, p_b.exp_w,
                    p_b.exp_cq, p_b.exp_q);
  }
  const ref::ConvShape l_dw =
      ref::make_shape(p_b.in_h, p_b.in_w, p_b.exp_c(), p_b.exp_c(), p_b.k, p_b.stride, Padding::kSame);
  l_x = ref::depthwise(l_dw, l_x, p_b.dw_w, p_b.dw_cq, p_b.dw_q);
  l_x = ref::conv(ref::make_shape(l_dw.out_h, l_dw.out_w, p_b.exp_c(), p_b.out_c, 1, 1, Padding::kSame), l_x,
                  p_b.proj_w, p_b.proj_cq, p_b.proj_q);
  return p_b.skip ? ref::add(l_x, p_in, p_b.add) : l_x;
}

/// Random parameters for a bottleneck whose input has zero point p_inZp.
inline Bottleneck random_bottleneck(Rng& p_rng, int p_inH, int p_inW, int p_inC, int p_expand, int p_outC, int p_k,
                                    int p_stride, bool p_skip, int32_t p_inZp) {
  Bottleneck l_b;
  l_b.in_h = p_inH;
  l_b.in_w = p_inW;
  l_b.in_c = p_inC;
  l_b.expand = p_expand;
  l_b.out_c = p_outC;
  l_b.k = p_k;
  l_b.stride = p_stride;
  l_b.skip = p_skip;
  int32_t l_zp = p_inZp;
  if (p_expand != 1) {
    l_b.exp_w = random_bytes(p_rng, static_cast<size_t>(l_b.exp_c()) * p_inC, -127, 127);
    l_b.exp_cq = random_channel_quant(p_rng, l_b.exp_c(), p_inC);
    l_b.exp_q = random_quant(p_rng, true);
    l_b.exp_q.in_zp = l_zp;
    l_zp = l_b.exp_q.out_zp;
  }
  l_b.dw_w = random_bytes(p_rng, static_cast<size_t>(p_k) * p_k * l_b.exp_c(), -127, 127);
  l_b.dw_cq = random_channel_quant(p_rng, l_b.exp_c(), p_k * p_k);
  l_b.dw_q = random_quant(p_rng, true);
  l_b.dw_q.in_zp = l_zp;
  l_b.proj_w = random_bytes(p_rng, static_cast<size_t>(p_outC) * l_b.exp_c(), -127, 127);
  l_b.proj_cq = random_channel_quant(p_rng, p_outC, l_b.exp_c());
  l_b.proj_q = random_quant(p_rng, false);
  l_b.proj_q.in_zp = l_b.dw_q.out_zp;
  if (p_skip) {
    l_b.add = random_add_params(p_rng, l_b.proj_q.out_zp, p_inZp);
  } else {
    l_b.add = AddParams{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -128, 127};
  }
  return l_b;
}

/// The expand stage's parameters (a FIRB without expansion has none).
template <class t_M, class t_Rq>
void fill_expand(MvauParams<t_M, t_Rq>& p_exp, const Bottleneck& p_b) {
  fill(p_exp, p_b.exp_w, p_b.exp_cq, p_b.exp_q);
}
inline void fill_expand(NoStage&, const Bottleneck&) {}

/// A FIRB engine's parameters from a bottleneck.
template <class t_P>
void fill_firb(t_P& p_p, const Bottleneck& p_b) {
  fill_expand(p_p.exp, p_b);
  fill(p_p.dw, p_b.dw_w, p_b.dw_cq, p_b.dw_q);
  fill(p_p.proj, p_b.proj_w, p_b.proj_cq, p_b.proj_q);
  p_p.add = p_b.add;
}

}  // namespace tb
}  // namespace fibha

#endif  // FIBHA_TB_REF_BOTTLENECK_HPP
