// Testbench of the SESL standard-convolution engine (fibha/sesl_conv.hpp): random layers
// of several shapes (odd sizes, stride 1 and 2, K = 1, 3, 5, SAME and VALID, ReLU6 and no
// clamp) and the MobileNetV2 layer-0 instance, each compared byte for byte with the
// nested-loop reference; plus goldens given with --golden DIR (op conv).
#include <cstdio>
#include <string>
#include <vector>

#include "fibha/sesl_conv.hpp"
#include "golden.hpp"
#include "instances.hpp"
#include "ref_ops.hpp"
#include "tb_common.hpp"

namespace {

using namespace fibha;

/// A random layer for template instance E.
template <unsigned t_H, unsigned t_W, unsigned t_InC, unsigned t_OutC, unsigned t_K, unsigned t_S, Padding t_Pad,
          unsigned t_Simd, unsigned t_Pe>
void random_case(const std::string& p_name, uint32_t p_seed, bool p_relu6) {
  using E = SeslConv<t_H, t_W, t_InC, t_OutC, t_K, t_S, t_Pad, t_Simd, t_Pe>;
  tb::Rng l_rng(p_seed);
  const ref::ConvShape l_shape = ref::make_shape(t_H, t_W, t_InC, t_OutC, t_K, t_S, t_Pad);
  if (l_shape.out_h != static_cast<int>(E::kOutH) || l_shape.out_w != static_cast<int>(E::kOutW)) {
    tb::fail(p_name + ": engine and reference disagree on the output size");
    return;
  }
  const std::vector<int8_t> l_in = tb::random_bytes(l_rng, size_t{t_H} * t_W * t_InC);
  const std::vector<int8_t> l_w = tb::random_bytes(l_rng, size_t{t_OutC} * E::kDepth, -127, 127);
  const ref::ChannelQuant l_cq = tb::random_channel_quant(l_rng, t_OutC, static_cast<int>(E::kDepth));
  const QuantParams l_q = tb::random_quant(l_rng, p_relu6);
  const std::vector<int8_t> l_want = ref::conv(l_shape, l_in, l_w, l_cq, l_q);
  tb::check_layer<E>(p_name, l_shape, l_in, l_w, l_cq, l_q, l_want,
                                 [](auto&... p_args) { E::run(p_args...); });
}

/// Runs a golden layer: the reference must reproduce it, and the MobileNetV2 instance
/// must too when the shapes are its own.
void golden_case(const std::string& p_dir) {
  tb::Golden l_g(p_dir);
  tb::LayerGolden l_l;
  if (!tb::expect_op(l_g, "conv", "tb_sesl_conv") || !tb::read_layer(l_g, false, l_l)) {
    return;
  }
  const ref::ConvShape& l_s = l_l.shape;
  using E = inst::MnV2Conv0;
  const ref::ConvShape l_inst = ref::make_shape(224, 224, 3, 32, 3, 2, Padding::kSame);
  if (l_s.in_h != l_inst.in_h || l_s.in_w != l_inst.in_w || l_s.in_c != l_inst.in_c || l_s.out_c != l_inst.out_c ||
      l_s.k != l_inst.k || l_s.stride != l_inst.stride || l_s.pad_top != l_inst.pad_top ||
      l_s.pad_left != l_inst.pad_left) {
    tb::fail("golden " + p_dir + ": shapes differ from sesl_conv_top's (224x224x3 -> 32, 3x3/2 SAME)");
    return;
  }
  tb::check_layer<E>("golden " + p_dir + " (sesl_conv_top)", l_s, l_l.input, l_l.weights, l_l.cq, l_l.q,
                                 l_l.expected, sesl_conv_top);
}

}  // namespace

int main(int p_argc, char** p_argv) {
  return tb::run_bench(p_argc, p_argv, "tb_sesl_conv", golden_case, [] {
    std::printf("tb_sesl_conv: random layers against the reference\n");
    random_case<16, 16, 3, 8, 3, 2, Padding::kSame, 3, 4>("conv 16x16x3->8 k3 s2 same (first-layer form)", 1, true);
    random_case<7, 9, 4, 6, 3, 1, Padding::kSame, 2, 3>("conv 7x9x4->6 k3 s1 same (odd sizes)", 2, false);
    random_case<11, 10, 6, 4, 5, 2, Padding::kSame, 3, 2>("conv 11x10x6->4 k5 s2 same", 3, true);
    random_case<9, 9, 4, 4, 3, 2, Padding::kValid, 4, 1>("conv 9x9x4->4 k3 s2 valid", 4, false);
    random_case<8, 7, 5, 3, 3, 2, Padding::kValid, 5, 3>("conv 8x7x5->3 k3 s2 valid (drops last row)", 5, false);
    random_case<6, 5, 8, 8, 1, 1, Padding::kSame, 4, 8>("conv 6x5x8->8 k1 s1", 6, true);
    random_case<5, 5, 2, 2, 5, 1, Padding::kSame, 1, 1>("conv 5x5x2->2 k5 s1 same, SIMD=PE=1", 7, false);

    std::printf("tb_sesl_conv: instance sesl_conv_top (MobileNetV2 layer 0)\n");
    {
      using E = inst::MnV2Conv0;
      tb::Rng l_rng(100);
      const ref::ConvShape l_shape = ref::make_shape(224, 224, 3, 32, 3, 2, Padding::kSame);
      const std::vector<int8_t> l_in = tb::random_bytes(l_rng, 224 * 224 * 3);
      const std::vector<int8_t> l_w = tb::random_bytes(l_rng, 32 * E::kDepth, -127, 127);
      const ref::ChannelQuant l_cq = tb::random_channel_quant(l_rng, 32, static_cast<int>(E::kDepth));
      const QuantParams l_q = tb::random_quant(l_rng, true);
      tb::check_layer<E>("sesl_conv_top 224x224x3->112x112x32", l_shape, l_in, l_w, l_cq, l_q,
                                     ref::conv(l_shape, l_in, l_w, l_cq, l_q), sesl_conv_top);
    }
  });
}
