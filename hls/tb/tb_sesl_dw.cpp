// Testbench of the SESL depthwise engine (fibha/sesl_dw.hpp): random layers (odd sizes,
// stride 1 and 2, K = 3 and 5, SAME and VALID) and the MobileNetV2 block-0 depthwise
// instance, each compared byte for byte with the nested-loop reference; plus goldens
// given with --golden DIR (op depthwise).
#include <cstdio>
#include <string>
#include <vector>

#include "fibha/sesl_dw.hpp"
#include "golden.hpp"
#include "instances.hpp"
#include "ref_ops.hpp"
#include "tb_common.hpp"

namespace {

using namespace fibha;

template <unsigned t_H, unsigned t_W, unsigned t_C, unsigned t_K, unsigned t_S, Padding t_Pad, unsigned t_Simd>
void random_case(const std::string& p_name, uint32_t p_seed, bool p_relu6) {
  using E = SeslDw<t_H, t_W, t_C, t_K, t_S, t_Pad, t_Simd>;
  tb::Rng l_rng(p_seed);
  const ref::ConvShape l_shape = ref::make_shape(t_H, t_W, t_C, t_C, t_K, t_S, t_Pad);
  const std::vector<int8_t> l_in = tb::random_bytes(l_rng, size_t{t_H} * t_W * t_C);
  const std::vector<int8_t> l_w = tb::random_bytes(l_rng, size_t{t_K} * t_K * t_C, -127, 127);
  const ref::ChannelQuant l_cq = tb::random_channel_quant(l_rng, t_C, static_cast<int>(t_K * t_K));
  const QuantParams l_q = tb::random_quant(l_rng, p_relu6);
  tb::check_layer<E>(p_name, l_shape, l_in, l_w, l_cq, l_q, ref::depthwise(l_shape, l_in, l_w, l_cq, l_q),
                                 [](auto&... p_args) { E::run(p_args...); });
}

void golden_case(const std::string& p_dir) {
  tb::Golden l_g(p_dir);
  tb::LayerGolden l_l;
  if (!tb::expect_op(l_g, "depthwise", "tb_sesl_dw") || !tb::read_layer(l_g, true, l_l)) {
    return;
  }
  const ref::ConvShape& l_s = l_l.shape;
  const ref::ConvShape l_inst = ref::make_shape(112, 112, 32, 32, 3, 1, Padding::kSame);
  if (l_s.in_h != l_inst.in_h || l_s.in_w != l_inst.in_w || l_s.in_c != l_inst.in_c || l_s.k != l_inst.k ||
      l_s.stride != l_inst.stride || l_s.pad_top != l_inst.pad_top || l_s.pad_left != l_inst.pad_left) {
    tb::fail("golden " + p_dir + ": shapes differ from sesl_dw_top's (112x112x32, 3x3/1 SAME)");
    return;
  }
  tb::check_layer<inst::MnV2Dw1>("golden " + p_dir + " (sesl_dw_top)", l_s, l_l.input,
                                                         l_l.weights, l_l.cq, l_l.q, l_l.expected, sesl_dw_top);
}

}  // namespace

int main(int p_argc, char** p_argv) {
  return tb::run_bench(p_argc, p_argv, "tb_sesl_dw", golden_case, [] {
    std::printf("tb_sesl_dw: random layers against the reference\n");
    random_case<9, 7, 8, 3, 1, Padding::kSame, 4>("dw 9x7x8 k3 s1 same (odd sizes)", 11, true);
    random_case<10, 10, 6, 3, 2, Padding::kSame, 3>("dw 10x10x6 k3 s2 same", 12, false);
    random_case<11, 9, 4, 3, 2, Padding::kSame, 2>("dw 11x9x4 k3 s2 same (odd, stride 2)", 13, true);
    random_case<9, 8, 8, 5, 1, Padding::kSame, 8>("dw 9x8x8 k5 s1 same", 14, false);
    random_case<13, 12, 4, 5, 2, Padding::kSame, 4>("dw 13x12x4 k5 s2 same", 15, true);
    random_case<8, 9, 3, 3, 2, Padding::kValid, 1>("dw 8x9x3 k3 s2 valid, SIMD=1", 16, false);
    random_case<3, 3, 16, 3, 1, Padding::kSame, 16>("dw 3x3x16 k3 s1 same (image = kernel)", 17, true);

    std::printf("tb_sesl_dw: instance sesl_dw_top (MobileNetV2 block 0 depthwise)\n");
    {
      tb::Rng l_rng(101);
      const ref::ConvShape l_shape = ref::make_shape(112, 112, 32, 32, 3, 1, Padding::kSame);
      const std::vector<int8_t> l_in = tb::random_bytes(l_rng, 112 * 112 * 32);
      const std::vector<int8_t> l_w = tb::random_bytes(l_rng, 9 * 32, -127, 127);
      const ref::ChannelQuant l_cq = tb::random_channel_quant(l_rng, 32, 9);
      const QuantParams l_q = tb::random_quant(l_rng, true);
      tb::check_layer<inst::MnV2Dw1>("sesl_dw_top 112x112x32 k3 s1", l_shape, l_in, l_w, l_cq,
                                                             l_q, ref::depthwise(l_shape, l_in, l_w, l_cq, l_q),
                                                             sesl_dw_top);
    }
  });
}
