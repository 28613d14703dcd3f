// Testbench of the SESL pointwise engine (fibha/sesl_pw.hpp) and of StreamResize: random
// layers (odd sizes, several PE/SIMD foldings) and the MobileNetV2 block-0 project
// instance, each compared byte for byte with the nested-loop reference; plus goldens
// given with --golden DIR (op pointwise).
#include <cstdio>
#include <string>
#include <vector>

#include "fibha/sesl_pw.hpp"
#include "golden.hpp"
#include "instances.hpp"
#include "ref_ops.hpp"
#include "tb_common.hpp"

namespace {

using namespace fibha;

template <class E, class t_Run>
void check_case(const std::string& p_name, const ref::ConvShape& p_shape, const std::vector<int8_t>& p_in,
                const std::vector<int8_t>& p_w, const ref::ChannelQuant& p_cq, const QuantParams& p_q,
                const std::vector<int8_t>& p_want, t_Run p_run) {
  auto l_w = tb::make_box<int8_t[E::kOutC][E::kSf * sizeof(typename E::InWord)]>();
  auto l_cq = tb::make_box<int32_t[kChannelQuantRows][E::kOutC]>();
  tb::fill_array(l_w->value, p_w);
  tb::fill_channel_quant(l_cq->value, p_cq);
  const std::vector<int8_t> l_got = tb::run_streaming<sizeof(typename E::InWord), sizeof(typename E::OutWord)>(
      p_name, p_in, p_want.size(), E::kModelledCycles,
      [&](auto& p_i, auto& p_o) { p_run(p_i, p_o, l_w->value, l_cq->value, p_q); });
  tb::compare(p_name, l_got, p_want, p_shape.out_w, p_shape.out_c);
}

template <unsigned t_H, unsigned t_W, unsigned t_InC, unsigned t_OutC, unsigned t_Simd, unsigned t_Pe>
void random_case(const std::string& p_name, uint32_t p_seed, bool p_relu6) {
  using E = SeslPw<t_H, t_W, t_InC, t_OutC, t_Simd, t_Pe>;
  tb::Rng l_rng(p_seed);
  const ref::ConvShape l_shape = ref::make_shape(t_H, t_W, t_InC, t_OutC, 1, 1, Padding::kSame);
  const std::vector<int8_t> l_in = tb::random_bytes(l_rng, size_t{t_H} * t_W * t_InC);
  const std::vector<int8_t> l_w = tb::random_bytes(l_rng, size_t{t_OutC} * t_InC, -127, 127);
  const ref::ChannelQuant l_cq = tb::random_channel_quant(l_rng, t_OutC, static_cast<int>(t_InC));
  const QuantParams l_q = tb::random_quant(l_rng, p_relu6);
  check_case<E>(p_name, l_shape, l_in, l_w, l_cq, l_q, ref::conv(l_shape, l_in, l_w, l_cq, l_q),
                [](auto& p_i, auto& p_o, auto p_wa, auto p_ca, const QuantParams& p_qq) { E::run(p_i, p_o, p_wa, p_ca, p_qq); });
}

/// StreamResize must carry the bytes unchanged in both directions.
template <unsigned t_Words, unsigned t_InW, unsigned t_OutW>
void resize_case(uint32_t p_seed) {
  using R = StreamResize<t_Words, t_InW, t_OutW>;
  tb::Rng l_rng(p_seed);
  const std::vector<int8_t> l_data = tb::random_bytes(l_rng, size_t{t_Words} * t_InW);
  const std::string l_name = "resize " + std::to_string(t_InW) + "->" + std::to_string(t_OutW);
  const std::vector<int8_t> l_got = tb::run_streaming<t_InW, t_OutW>(
      l_name, l_data, l_data.size(), R::kModelledCycles, [](auto& p_i, auto& p_o) { R::run(p_i, p_o); });
  tb::compare(l_name, l_got, l_data, 1, static_cast<int>(t_OutW));
}

void golden_case(const std::string& p_dir) {
  tb::Golden l_g(p_dir);
  if (!l_g.ok()) {
    return;
  }
  if (l_g.text("op") != "pointwise") {
    tb::fail("golden " + p_dir + ": op is '" + l_g.text("op") + "', tb_sesl_pw takes pointwise");
    return;
  }
  const ref::ConvShape l_s = l_g.shape();
  const std::vector<int8_t> l_in = l_g.bytes("input.bin", static_cast<size_t>(l_s.in_h) * l_s.in_w * l_s.in_c);
  const std::vector<int8_t> l_w = l_g.bytes("weights.bin", static_cast<size_t>(l_s.out_c) * l_s.in_c);
  const ref::ChannelQuant l_cq = l_g.channel_quant("", static_cast<size_t>(l_s.out_c));
  const QuantParams l_q = l_g.quant("");
  const std::vector<int8_t> l_want = l_g.bytes("expected.bin", static_cast<size_t>(l_s.out_h) * l_s.out_w * l_s.out_c);
  if (!l_g.ok()) {
    return;
  }
  tb::compare("golden " + p_dir + " (reference)", ref::conv(l_s, l_in, l_w, l_cq, l_q), l_want, l_s.out_w, l_s.out_c);
  if (l_s.in_h != 112 || l_s.in_w != 112 || l_s.in_c != 32 || l_s.out_c != 16 || l_s.k != 1) {
    tb::fail("golden " + p_dir + ": shapes differ from sesl_pw_top's (112x112x32 -> 16)");
    return;
  }
  check_case<inst::MnV2Pw1>("golden " + p_dir + " (sesl_pw_top)", l_s, l_in, l_w, l_cq, l_q, l_want, sesl_pw_top);
}

}  // namespace

int main(int p_argc, char** p_argv) {
  const std::vector<std::string> l_goldens = tb::golden_dirs(p_argc, p_argv);
  if (!l_goldens.empty()) {
    // Golden mode: only the given layers.
    for (const std::string& l_dir : l_goldens) {
      golden_case(l_dir);
    }
    return tb::finish("tb_sesl_pw");
  }
  std::printf("tb_sesl_pw: random layers against the reference\n");
  random_case<5, 7, 12, 20, 4, 5>("pw 5x7x12->20 (odd sizes)", 21, true);
  random_case<4, 4, 16, 96, 8, 8>("pw 4x4x16->96 (expand form)", 22, true);
  random_case<3, 5, 96, 24, 16, 4>("pw 3x5x96->24 (project form)", 23, false);
  random_case<2, 3, 7, 5, 1, 1>("pw 2x3x7->5, SIMD=PE=1", 24, false);
  random_case<1, 1, 64, 64, 64, 64>("pw 1x1x64->64, fully parallel", 25, true);
  resize_case<30, 8, 2>(26);
  resize_case<32, 2, 8>(27);
  resize_case<7, 3, 3>(28);

  std::printf("tb_sesl_pw: instance sesl_pw_top (MobileNetV2 block 0 project)\n");
  {
    tb::Rng l_rng(102);
    const ref::ConvShape l_shape = ref::make_shape(112, 112, 32, 16, 1, 1, Padding::kSame);
    const std::vector<int8_t> l_in = tb::random_bytes(l_rng, 112 * 112 * 32);
    const std::vector<int8_t> l_w = tb::random_bytes(l_rng, 16 * 32, -127, 127);
    const ref::ChannelQuant l_cq = tb::random_channel_quant(l_rng, 16, 32);
    const QuantParams l_q = tb::random_quant(l_rng, false);
    check_case<inst::MnV2Pw1>("sesl_pw_top 112x112x32->16", l_shape, l_in, l_w, l_cq, l_q,
                              ref::conv(l_shape, l_in, l_w, l_cq, l_q), sesl_pw_top);
  }
  return tb::finish("tb_sesl_pw");
}
