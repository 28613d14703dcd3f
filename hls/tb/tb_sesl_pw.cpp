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

template <unsigned t_H, unsigned t_W, unsigned t_InC, unsigned t_OutC, unsigned t_Simd, unsigned t_Pe>
void random_case(const std::string& p_name, uint32_t p_seed, bool p_relu6) {
  using E = SeslPw<t_H, t_W, t_InC, t_OutC, t_Simd, t_Pe>;
  tb::Rng l_rng(p_seed);
  const ref::ConvShape l_shape = ref::make_shape(t_H, t_W, t_InC, t_OutC, 1, 1, Padding::kSame);
  const std::vector<int8_t> l_in = tb::random_bytes(l_rng, size_t{t_H} * t_W * t_InC);
  const std::vector<int8_t> l_w = tb::random_bytes(l_rng, size_t{t_OutC} * t_InC, -127, 127);
  const ref::ChannelQuant l_cq = tb::random_channel_quant(l_rng, t_OutC, static_cast<int>(t_InC));
  const QuantParams l_q = tb::random_quant(l_rng, p_relu6);
  tb::check_layer<E>(p_name, l_shape, l_in, l_w, l_cq, l_q, ref::conv(l_shape, l_in, l_w, l_cq, l_q),
                                 [](auto&... p_args) { E::run(p_args...); });
}

/// StreamResize must carry the bytes unchanged in both directions.
template <unsigned t_Words, unsigned t_InW, unsigned t_OutW>
void resize_case(uint32_t p_seed) {
  using R = StreamResize<t_Words, t_InW, t_OutW>;
  tb::Rng l_rng(p_seed);
  const std::vector<int8_t> l_data = tb::random_bytes(l_rng, size_t{t_Words} * t_InW);
  const std::string l_name = "resize " + std::to_string(t_InW) + "->" + std::to_string(t_OutW);
  const std::vector<int8_t> l_got = tb::run_streaming<t_InW, t_OutW>(
      l_name, l_data, l_data.size(), [](auto& p_i, auto& p_o) { R::run(p_i, p_o); });
  tb::compare(l_name, l_got, l_data, 1, static_cast<int>(t_OutW));
}

/// Regroup between widths neither of which divides the other (records of their lcm through
/// a Repack), over several images in one call: the bytes come out unchanged and in order.
template <unsigned t_Words, unsigned t_InW, unsigned t_OutW>
void regroup_case(uint32_t p_seed) {
  constexpr uint32_t kImages = 3;
  tb::Rng l_rng(p_seed);
  const std::vector<int8_t> l_data = tb::random_bytes(l_rng, size_t{kImages} * t_Words * t_InW);
  const std::string l_name = "regroup " + std::to_string(t_InW) + "->" + std::to_string(t_OutW);
  const std::vector<int8_t> l_got = tb::run_streaming<t_InW, t_OutW>(
      l_name, l_data, l_data.size(),
      [](auto& p_i, auto& p_o) { Regroup<t_Words, t_InW, t_OutW>::run(p_i, p_o, kImages); });
  tb::compare(l_name, l_got, l_data, 1, static_cast<int>(t_OutW));
}

void golden_case(const std::string& p_dir) {
  tb::Golden l_g(p_dir);
  tb::LayerGolden l_l;
  if (!tb::expect_op(l_g, "pointwise", "tb_sesl_pw") || !tb::read_layer(l_g, false, l_l)) {
    return;
  }
  const ref::ConvShape& l_s = l_l.shape;
  if (l_s.in_h != 112 || l_s.in_w != 112 || l_s.in_c != 32 || l_s.out_c != 16 || l_s.k != 1) {
    tb::fail("golden " + p_dir + ": shapes differ from sesl_pw_top's (112x112x32 -> 16)");
    return;
  }
  tb::check_layer<inst::MnV2Pw1>("golden " + p_dir + " (sesl_pw_top)", l_s, l_l.input,
                                                         l_l.weights, l_l.cq, l_l.q, l_l.expected, sesl_pw_top);
}

}  // namespace

int main(int p_argc, char** p_argv) {
  return tb::run_bench(p_argc, p_argv, "tb_sesl_pw", golden_case, [] {
    std::printf("tb_sesl_pw: random layers against the reference\n");
    random_case<5, 7, 12, 20, 4, 5>("pw 5x7x12->20 (odd sizes)", 21, true);
    random_case<4, 4, 16, 96, 8, 8>("pw 4x4x16->96 (expand form)", 22, true);
    random_case<3, 5, 96, 24, 16, 4>("pw 3x5x96->24 (project form)", 23, false);
    random_case<2, 3, 7, 5, 1, 1>("pw 2x3x7->5, SIMD=PE=1", 24, false);
    random_case<1, 1, 64, 64, 64, 64>("pw 1x1x64->64, fully parallel", 25, true);
    resize_case<30, 8, 2>(26);
    resize_case<32, 2, 8>(27);
    resize_case<7, 3, 3>(28);
    regroup_case<12, 16, 3>(29);
    regroup_case<64, 3, 16>(30);
    regroup_case<9, 8, 12>(31);
    regroup_case<5, 7, 5>(32);

    std::printf("tb_sesl_pw: instance sesl_pw_top (MobileNetV2 block 0 project)\n");
    {
      tb::Rng l_rng(102);
      const ref::ConvShape l_shape = ref::make_shape(112, 112, 32, 16, 1, 1, Padding::kSame);
      const std::vector<int8_t> l_in = tb::random_bytes(l_rng, 112 * 112 * 32);
      const std::vector<int8_t> l_w = tb::random_bytes(l_rng, 16 * 32, -127, 127);
      const ref::ChannelQuant l_cq = tb::random_channel_quant(l_rng, 16, 32);
      const QuantParams l_q = tb::random_quant(l_rng, false);
      tb::check_layer<inst::MnV2Pw1>("sesl_pw_top 112x112x32->16", l_shape, l_in, l_w, l_cq,
                                                             l_q, ref::conv(l_shape, l_in, l_w, l_cq, l_q),
                                                             sesl_pw_top);
    }
  });
}
