// Testbench of the SEML engines (fibha/seml.hpp) driven directly by descriptors: random
// layers of every kind, on a small instance whose tiles force ragged channel, pixel and
// row tiles, and on a MobileNetV2-sized instance with realistic layer shapes; each output
// compared byte for byte with the nested-loop reference, and every byte of the buffers
// outside the layer's output region checked unchanged. Goldens (op conv, depthwise,
// pointwise, add) run on the MobileNetV2-sized instance with --golden DIR.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bundle_builder.hpp"
#include "fibha/seml.hpp"
#include "golden.hpp"
#include "instances.hpp"
#include "ref_ops.hpp"
#include "tb_common.hpp"

namespace {

using namespace fibha;
using regmap::BufferId;
using regmap::LayerKind;

/// Tiles small enough that every shape below spans several tiles with ragged edges.
using Small = SemlEngines<SemlConv<8, 12, 5, 4, 2, 4, 2>, SemlDw<12, 5, 8, 2, 4>, SemlPw<24, 8, 5, 4, 4>, SemlAdd<3>>;
/// Maximums that hold every MobileNetV2 1.0/224 layer (widest rows 224, deepest input 960).
using MnV2 = inst::MnV2Seml;

constexpr int8_t kFill = 0x5A;  ///< pattern of every buffer byte no layer should touch

/// The three feature-map buffers of one test, pre-filled with kFill.
struct Buffers {
  std::vector<int8_t> input, output, scratch;
  Buffers(size_t p_in, size_t p_out, size_t p_scratch)
      : input(p_in, kFill), output(p_out, kFill), scratch(p_scratch, kFill) {}
  FmapPorts ports() {
    return FmapPorts{input.data(), output.data(), scratch.data(), static_cast<uint32_t>(input.size()),
                     static_cast<uint32_t>(output.size()), static_cast<uint32_t>(scratch.size())};
  }
  std::vector<int8_t>& of(uint32_t p_id) {
    return p_id == static_cast<uint32_t>(BufferId::kInput)    ? input
           : p_id == static_cast<uint32_t>(BufferId::kOutput) ? output
                                                              : scratch;
  }
  void place(uint32_t p_id, uint32_t p_off, const std::vector<int8_t>& p_data) {
    std::memcpy(of(p_id).data() + p_off, p_data.data(), p_data.size());
  }
};

/// Runs one descriptor through engine set S; checks its output and that nothing else moved.
template <class S>
void run_case(const std::string& p_name, const regmap::LayerDesc& p_d, const std::vector<uint32_t>& p_bundle,
              Buffers& p_buf, const std::vector<int8_t>& p_want) {
  const FmapPorts l_fm = p_buf.ports();
  const uint32_t l_bundleBytes = static_cast<uint32_t>(p_bundle.size() * 4);
  const StatusCode l_check = S::check_layer(p_d, l_fm, l_bundleBytes);
  if (l_check != StatusCode::kOk) {
    tb::fail(p_name + ": descriptor rejected: " + regmap::status_code_name(l_check));
    return;
  }
  const Buffers l_before = p_buf;
  StatusCode l_run = StatusCode::kOk;
  csim::Kernel l_kernel(p_name, tb::bench_platform());
  const csim::Cycle l_cycles = l_kernel.run([&] {
    FmapPorts l_ports = l_fm;
    l_ports.input.bind("gmem0");
    l_ports.output.bind("gmem0");
    l_ports.scratch.bind("gmem0");
    AxiIn<uint32_t> l_bundle(p_bundle.data());
    l_bundle.bind("gmem1");
    l_run = S::run_layer(p_d, l_ports, l_bundle);
  });
  if (l_run != StatusCode::kOk) {
    tb::fail(p_name + ": run failed: " + regmap::status_code_name(l_run));
    return;
  }
  std::printf("  cycles %-57s %10llu (timed C simulation)\n", p_name.c_str(), static_cast<unsigned long long>(l_cycles));
  std::vector<int8_t>& l_out = p_buf.of(p_d.out_buf);
  const std::vector<int8_t> l_got(l_out.begin() + p_d.out_off, l_out.begin() + p_d.out_off + p_want.size());
  tb::compare(p_name, l_got, p_want, static_cast<int>(p_d.out_w), static_cast<int>(p_d.out_c));
  // Everything outside the output region must be as it was.
  std::vector<int8_t> l_expectOut = l_before.output;
  std::vector<int8_t> l_expectScratch = l_before.scratch;
  std::vector<int8_t>& l_region =
      p_d.out_buf == static_cast<uint32_t>(BufferId::kOutput) ? l_expectOut : l_expectScratch;
  std::memcpy(l_region.data() + p_d.out_off, p_want.data(), p_want.size());
  if (p_buf.input != l_before.input || p_buf.output != l_expectOut || p_buf.scratch != l_expectScratch) {
    tb::fail(p_name + ": bytes outside the output region changed");
  }
}

/// A random conv, depthwise or pointwise layer: input in scratch at an odd offset, output
/// in the output buffer at another.
template <class S>
void conv_like_case(const std::string& p_name, uint32_t p_seed, LayerKind p_kind, const ref::ConvShape& p_s) {
  tb::Rng l_rng(p_seed);
  const size_t l_inBytes = static_cast<size_t>(p_s.in_h) * p_s.in_w * p_s.in_c;
  const size_t l_outBytes = static_cast<size_t>(p_s.out_h) * p_s.out_w * p_s.out_c;
  const size_t l_taps = static_cast<size_t>(p_s.k) * p_s.k;
  const size_t l_weights = p_kind == LayerKind::kDepthwise ? l_taps * p_s.out_c : l_taps * p_s.in_c * p_s.out_c;
  const int l_fanIn = static_cast<int>(p_kind == LayerKind::kDepthwise ? l_taps : l_taps * p_s.in_c);
  const std::vector<int8_t> l_in = tb::random_bytes(l_rng, l_inBytes);
  const std::vector<int8_t> l_w = tb::random_bytes(l_rng, l_weights, -127, 127);
  const ref::ChannelQuant l_cq = tb::random_channel_quant(l_rng, p_s.out_c, l_fanIn);
  const QuantParams l_q = tb::random_quant(l_rng, l_rng.uniform(0, 1) != 0);
  const std::vector<int8_t> l_want = p_kind == LayerKind::kDepthwise ? ref::depthwise(p_s, l_in, l_w, l_cq, l_q)
                                                                      : ref::conv(p_s, l_in, l_w, l_cq, l_q);
  tb::BundleBuilder l_b;
  l_b.reserve(36);
  const uint32_t l_inOff = 13;
  const uint32_t l_outOff = 7;
  regmap::LayerDesc l_d = tb::conv_desc(p_kind, p_s, BufferId::kScratch, l_inOff, BufferId::kOutput, l_outOff, l_q);
  l_b.add_layer_params(l_d, l_w, l_cq);
  Buffers l_buf(16, l_outOff + l_outBytes + 9, l_inOff + l_inBytes + 5);
  l_buf.place(l_d.in_buf, l_inOff, l_in);
  run_case<S>(p_name, l_d, l_b.words(), l_buf, l_want);
}

/// A random ADD: a in the input buffer, b in scratch, result in scratch after b.
template <class S>
void add_case(const std::string& p_name, uint32_t p_seed, int p_h, int p_w, int p_c) {
  tb::Rng l_rng(p_seed);
  const size_t l_n = static_cast<size_t>(p_h) * p_w * p_c;
  const std::vector<int8_t> l_a = tb::random_bytes(l_rng, l_n);
  const std::vector<int8_t> l_bIn = tb::random_bytes(l_rng, l_n);
  const AddParams l_p = tb::random_add_params(l_rng, static_cast<int32_t>(l_rng.uniform(-128, 127)),
                                              static_cast<int32_t>(l_rng.uniform(-128, 127)));
  const uint32_t l_bOff = 3;
  const uint32_t l_outOff = static_cast<uint32_t>(l_bOff + l_n + 2);
  const regmap::LayerDesc l_d =
      tb::add_desc(p_h, p_w, p_c, BufferId::kInput, 5, BufferId::kScratch, l_bOff, BufferId::kScratch, l_outOff, l_p);
  tb::BundleBuilder l_b;
  l_b.reserve(4);
  Buffers l_buf(5 + l_n, 4, l_outOff + l_n + 1);
  l_buf.place(l_d.in_buf, 5, l_a);
  l_buf.place(l_d.in2_buf, l_bOff, l_bIn);
  run_case<S>(p_name, l_d, l_b.words(), l_buf, ref::add(l_a, l_bIn, l_p));
}

/// A golden layer on the MobileNetV2-sized engines.
void golden_case(const std::string& p_dir) {
  tb::Golden l_g(p_dir);
  if (!l_g.ok()) {
    return;
  }
  const std::string l_op = l_g.text("op");
  if (l_op == "add") {
    const int l_h = l_g.i32("h");
    const int l_w = l_g.i32("w");
    const int l_c = l_g.i32("c");
    const AddParams l_p = l_g.add_params("");
    const size_t l_n = static_cast<size_t>(l_h) * l_w * l_c;
    const std::vector<int8_t> l_a = l_g.bytes("input.bin", l_n);
    const std::vector<int8_t> l_bIn = l_g.bytes("input2.bin", l_n);
    const std::vector<int8_t> l_want = l_g.bytes("expected.bin", l_n);
    if (!l_g.ok()) {
      return;
    }
    tb::compare("golden " + p_dir + " (reference)", ref::add(l_a, l_bIn, l_p), l_want, l_w, l_c);
    const regmap::LayerDesc l_d =
        tb::add_desc(l_h, l_w, l_c, BufferId::kInput, 0, BufferId::kScratch, 0, BufferId::kOutput, 0, l_p);
    Buffers l_buf(l_n, l_n, l_n);
    l_buf.place(l_d.in_buf, 0, l_a);
    l_buf.place(l_d.in2_buf, 0, l_bIn);
    tb::BundleBuilder l_b;
    l_b.reserve(4);
    run_case<MnV2>("golden " + p_dir + " (SEML add)", l_d, l_b.words(), l_buf, l_want);
    return;
  }
  LayerKind l_kind = LayerKind::kConv;
  if (l_op == "depthwise") {
    l_kind = LayerKind::kDepthwise;
  } else if (l_op == "pointwise") {
    l_kind = LayerKind::kPointwise;
  } else if (l_op != "conv") {
    tb::fail("golden " + p_dir + ": op '" + l_op + "' is not one of conv, depthwise, pointwise, add");
    return;
  }
  tb::LayerGolden l_l;
  if (!tb::read_layer(l_g, l_kind == LayerKind::kDepthwise, l_l)) {
    return;
  }
  tb::BundleBuilder l_b;
  regmap::LayerDesc l_d = tb::conv_desc(l_kind, l_l.shape, BufferId::kInput, 0, BufferId::kOutput, 0, l_l.q);
  l_b.add_layer_params(l_d, l_l.weights, l_l.cq);
  Buffers l_buf(l_l.input.size(), l_l.expected.size(), 16);
  l_buf.place(l_d.in_buf, 0, l_l.input);
  run_case<MnV2>("golden " + p_dir + " (SEML " + l_op + ")", l_d, l_b.words(), l_buf, l_l.expected);
}

ref::ConvShape shape(int p_h, int p_w, int p_inC, int p_outC, int p_k, int p_s, Padding p_pad) {
  return ref::make_shape(p_h, p_w, p_inC, p_outC, p_k, p_s, p_pad);
}

}  // namespace

int main(int p_argc, char** p_argv) {
  return tb::run_bench(p_argc, p_argv, "tb_seml", golden_case, [] {
    std::printf("tb_seml: small tiles (ragged channel, pixel and row tiles)\n");
    conv_like_case<Small>("conv 9x11x5->7 k3 s2 same", 41, LayerKind::kConv, shape(9, 11, 5, 7, 3, 2, Padding::kSame));
    conv_like_case<Small>("conv 7x7x8->9 k5 s1 same", 42, LayerKind::kConv, shape(7, 7, 8, 9, 5, 1, Padding::kSame));
    conv_like_case<Small>("conv 8x8x3->4 k3 s2 valid", 43, LayerKind::kConv, shape(8, 8, 3, 4, 3, 2, Padding::kValid));
    conv_like_case<Small>("conv 5x12x2->5 k1 s1", 44, LayerKind::kConv, shape(5, 12, 2, 5, 1, 1, Padding::kSame));
    conv_like_case<Small>("dw 9x12x11 k3 s1 same", 45, LayerKind::kDepthwise,
                          shape(9, 12, 11, 11, 3, 1, Padding::kSame));
    conv_like_case<Small>("dw 12x7x8 k5 s2 same", 46, LayerKind::kDepthwise, shape(12, 7, 8, 8, 5, 2, Padding::kSame));
    conv_like_case<Small>("dw 5x5x3 k3 s2 valid", 47, LayerKind::kDepthwise, shape(5, 5, 3, 3, 3, 2, Padding::kValid));
    conv_like_case<Small>("dw 1x1x5 k3 s1 same (single pixel)", 48, LayerKind::kDepthwise,
                          shape(1, 1, 5, 5, 3, 1, Padding::kSame));
    conv_like_case<Small>("pw 6x5x24->13", 49, LayerKind::kPointwise, shape(6, 5, 24, 13, 1, 1, Padding::kSame));
    conv_like_case<Small>("pw 3x3x7->20", 50, LayerKind::kPointwise, shape(3, 3, 7, 20, 1, 1, Padding::kSame));
    add_case<Small>("add 5x7x9", 51, 5, 7, 9);
    add_case<Small>("add 1x1x1", 52, 1, 1, 1);

    std::printf("tb_seml: MobileNetV2-sized engines on MobileNetV2 layer shapes\n");
    conv_like_case<MnV2>("conv 224x224x3->32 k3 s2 (layer 0)", 61, LayerKind::kConv,
                         shape(224, 224, 3, 32, 3, 2, Padding::kSame));
    conv_like_case<MnV2>("pw 14x14x96->576 (expand)", 62, LayerKind::kPointwise,
                         shape(14, 14, 96, 576, 1, 1, Padding::kSame));
    conv_like_case<MnV2>("dw 14x14x576 k3 s1", 63, LayerKind::kDepthwise,
                         shape(14, 14, 576, 576, 3, 1, Padding::kSame));
    conv_like_case<MnV2>("dw 14x14x576 k3 s2", 64, LayerKind::kDepthwise,
                         shape(14, 14, 576, 576, 3, 2, Padding::kSame));
    conv_like_case<MnV2>("pw 7x7x960->320 (project)", 65, LayerKind::kPointwise,
                         shape(7, 7, 960, 320, 1, 1, Padding::kSame));
    add_case<MnV2>("add 14x14x64 (residual)", 66, 14, 14, 64);
  });
}
