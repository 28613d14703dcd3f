// Testbench of the SESL chain instance (src/sesl_tops.cpp: sesl_chain_top): MobileNetV2's
// layer 0 conv, block-0 depthwise and block-0 project as three engines under DATAFLOW,
// joined by named streams with a 16 -> 8 channel word-width change, compared byte for
// byte with the three reference layers applied in sequence.
#include <cstdio>
#include <string>
#include <vector>

#include "instances.hpp"
#include "ref_ops.hpp"
#include "tb_common.hpp"

namespace {

using namespace fibha;

void chain_case(uint32_t p_seed) {
  using Conv = inst::ChainConv0;
  tb::Rng l_rng(p_seed);
  const ref::ConvShape l_convShape = ref::make_shape(224, 224, 3, 32, 3, 2, Padding::kSame);
  const ref::ConvShape l_dwShape = ref::make_shape(112, 112, 32, 32, 3, 1, Padding::kSame);
  const ref::ConvShape l_pwShape = ref::make_shape(112, 112, 32, 16, 1, 1, Padding::kSame);
  const std::vector<int8_t> l_in = tb::random_bytes(l_rng, 224 * 224 * 3);
  const std::vector<int8_t> l_convW = tb::random_bytes(l_rng, 32 * Conv::kDepth, -127, 127);
  const ref::ChannelQuant l_convCq = tb::random_channel_quant(l_rng, 32, static_cast<int>(Conv::kDepth));
  const QuantParams l_convQ = tb::random_quant(l_rng, true);
  const std::vector<int8_t> l_dwW = tb::random_bytes(l_rng, 9 * 32, -127, 127);
  const ref::ChannelQuant l_dwCq = tb::random_channel_quant(l_rng, 32, 9);
  QuantParams l_dwQ = tb::random_quant(l_rng, true);
  l_dwQ.in_zp = l_convQ.out_zp;  // a layer's input zero point is its producer's output zero point
  const std::vector<int8_t> l_pwW = tb::random_bytes(l_rng, 16 * 32, -127, 127);
  const ref::ChannelQuant l_pwCq = tb::random_channel_quant(l_rng, 16, 32);
  QuantParams l_pwQ = tb::random_quant(l_rng, false);
  l_pwQ.in_zp = l_dwQ.out_zp;

  const std::vector<int8_t> l_want = ref::conv(
      l_pwShape,
      ref::depthwise(l_dwShape, ref::conv(l_convShape, l_in, l_convW, l_convCq, l_convQ), l_dwW, l_dwCq, l_dwQ),
      l_pwW, l_pwCq, l_pwQ);

  auto l_cp = tb::make_box<Conv::Params>();
  auto l_dp = tb::make_box<inst::MnV2Dw1::Params>();
  auto l_pp = tb::make_box<inst::MnV2Pw1::Params>();
  tb::fill(l_cp->value, l_convW, l_convCq, l_convQ);
  tb::fill(l_dp->value, l_dwW, l_dwCq, l_dwQ);
  tb::fill(l_pp->value, l_pwW, l_pwCq, l_pwQ);
  const std::vector<int8_t> l_got = tb::run_streaming<3, 4>(
      "sesl_chain_top", l_in, l_want.size(),
      [&](auto& p_i, auto& p_o) { sesl_chain_top(p_i, p_o, l_cp->value, l_dp->value, l_pp->value); });
  tb::compare("sesl_chain_top conv0 -> dw1 -> pw1, 224x224x3 -> 112x112x16", l_got, l_want, 112, 16);
}

}  // namespace

int main(int p_argc, char** p_argv) {
  if (p_argc > 1) {
    tb::fail(std::string("tb_sesl_chain takes no arguments (got '") + p_argv[1] + "')");
  }
  std::printf("tb_sesl_chain: instance sesl_chain_top (MobileNetV2 layers 0-2 under DATAFLOW)\n");
  chain_case(200);
  return tb::finish("tb_sesl_chain");
}
