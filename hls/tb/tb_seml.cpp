// Testbench of the SEML part (fibha/seml.hpp) on its own: programs of depthwise and
// pointwise layers (with fused residual ADDs) run through SemlPart::run from a hand-off
// stream to DDR, compared byte for byte with the nested-loop reference applied to the
// same layers, on
//   * a small instance whose shapes force ragged edges everywhere (channels that are not
//     whole words or folds, pixel counts that are not whole pixel groups, a 5x5/2 window),
//     two images through one call;
//   * a MobileNetV2-sized instance on MobileNetV2 bottlenecks (timed; the cycles are
//     printed; the compiler's model of the same phases is checked against the timed
//     kernel by the build's timing report);
// and bad parameters (a negative multiplier absorbed mid-program). Goldens (op depthwise
// or pointwise) run as one-layer programs with --golden DIR; add goldens are checked with
// the reference (the SEML part runs ADD only fused into a pointwise layer).
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
using regmap::LayerKind;
using tb::SemlSpec;

/// Two pixels x 32 channels x 16 per cycle, two-word depthwise: small enough that every
/// shape below has ragged folds, pixel groups and word groups.
using Small = SemlPart<2, 32, 2, 64, 5, 96, 25, 1, 4, 1, 64 * 5>;
/// MobileNetV2's SEML shapes at the full-budget plan's parallelism.
using MnV2 = inst::MnV2Seml;
/// Maximums that hold every MobileNetV2 layer (112x112 maps): for goldens only, not a
/// size an FPGA holds.
using MnV2All = SemlPart<2, 48, 12, 12544, 80, 6272, 9, 1, 8, 2, 12544 * 6>;

/// Runs a program on the hand-off maps (one per image) and returns each image's output.
template <class S>
std::vector<std::vector<int8_t>> run_program(const std::string& p_name, const std::vector<SemlSpec>& p_layers,
                                             const std::vector<std::vector<int8_t>>& p_images, uint32_t* p_fault = nullptr) {
  const ref::ConvShape& l_first = p_layers.front().shape;
  const ref::ConvShape& l_last = p_layers.back().shape;
  const uint32_t l_descBeats = static_cast<uint32_t>(p_layers.size()) * (regmap::kLayerDescWords / 4);
  const tb::SemlProgram l_prog = tb::seml_program(p_layers, S::kPe, l_descBeats);
  tb::Beats l_bundle;
  typename S::ProgramCheck l_chain;
  l_chain.start(static_cast<uint32_t>(l_first.in_h), static_cast<uint32_t>(l_first.in_w),
                static_cast<uint32_t>(l_first.in_c));
  for (size_t l_i = 0; l_i < l_prog.descs.size(); ++l_i) {
    const regmap::LayerDesc& l_d = l_prog.descs[l_i];
    StatusCode l_code = S::check_layer(l_d, l_descBeats, l_descBeats + l_prog.params.count());
    if (l_code == StatusCode::kOk) {
      l_code = l_chain.next(l_d);
    }
    if (l_code != StatusCode::kOk) {
      tb::fail(p_name + ": layer " + std::to_string(l_i) + " rejected: " + regmap::status_code_name(l_code));
      return {};
    }
    uint32_t l_words[regmap::kLayerDescWords];
    regmap::layer_desc_to_words(l_d, l_words);
    for (const uint32_t l_w : l_words) {
      l_bundle.word(l_w);
    }
  }
  const size_t l_outPixels = static_cast<size_t>(l_last.out_h) * l_last.out_w;
  const size_t l_pixelWords = fm_words(static_cast<uint32_t>(l_last.out_c));
  const size_t l_outBytes = l_outPixels * l_pixelWords * kFmLanes;
  if (!l_chain.finish(static_cast<uint32_t>(l_outBytes))) {
    tb::fail(p_name + ": the program's output size is refused");
    return {};
  }
  l_bundle.append(l_prog.params);
  const std::vector<BundleBeat> l_beats = l_bundle.as_beats();
  typename S::Handoff l_handoff("tb.handoff");
  for (const std::vector<int8_t>& l_image : p_images) {
    for (const FmWord& l_w : tb::to_fm_words(l_image, static_cast<size_t>(l_first.in_h) * l_first.in_w,
                                             static_cast<size_t>(l_first.in_c))) {
      l_handoff.write(l_w);
    }
  }
  const uint32_t l_outWords = static_cast<uint32_t>(l_outBytes / kFmLanes);
  std::vector<FmWord> l_out(l_outWords * p_images.size(), splat<kFmLanes>(0x5A));
  uint32_t l_fault = 0;
  csim::Kernel l_kernel(p_name, tb::bench_platform());
  const csim::Cycle l_cycles = l_kernel.run([&] {
    AxiIn<BundleBeat> l_bundlePort(l_beats.data());
    AxiIn<BundleBeat> l_a(l_beats.data());
    AxiIn<BundleBeat> l_b(l_beats.data());
    AxiOut<FmWord> l_dst(l_out.data());
    l_bundlePort.bind("gmem1");
    l_a.bind("gmem2");
    l_b.bind("gmem3");
    l_dst.bind("gmem0");
    S::run(l_bundlePort, l_a, l_b, 0, static_cast<uint32_t>(p_layers.size()), static_cast<uint32_t>(p_images.size()),
           l_handoff, l_dst, l_outWords, &l_fault);
  });
  std::printf("  cycles %-57s %10llu (timed C simulation)\n", p_name.c_str(), static_cast<unsigned long long>(l_cycles));
  tb::print_processes(l_kernel);
  if (p_fault != nullptr) {
    *p_fault = l_fault;
  } else if (l_fault != 0) {
    tb::fail(p_name + ": the engine reported a bad multiplier or shift in layer " + std::to_string(l_fault - 1));
  }
  if (!l_handoff.empty()) {
    tb::fail(p_name + ": the engine left hand-off words unread");
  }
  // Each pixel's channels, without the lanes of its last word past out_c.
  std::vector<std::vector<int8_t>> l_results;
  for (size_t l_n = 0; l_n < p_images.size(); ++l_n) {
    std::vector<int8_t> l_map;
    for (size_t l_p = 0; l_p < l_outPixels; ++l_p) {
      const int8_t* const l_pixel = l_out[l_n * l_outWords + l_p * l_pixelWords].v;
      l_map.insert(l_map.end(), l_pixel, l_pixel + l_last.out_c);
    }
    l_results.push_back(l_map);
  }
  return l_results;
}

/// Random parameters for a layer of the given shape.
SemlSpec random_layer(tb::Rng& p_rng, LayerKind p_kind, const ref::ConvShape& p_s, int32_t p_inZp, uint32_t p_in,
                      uint32_t p_out) {
  SemlSpec l_l;
  l_l.kind = p_kind;
  l_l.shape = p_s;
  const size_t l_taps = static_cast<size_t>(p_s.k) * p_s.k;
  const bool l_dw = p_kind == LayerKind::kDepthwise;
  l_l.w = tb::random_bytes(p_rng, l_dw ? l_taps * p_s.out_c : static_cast<size_t>(p_s.in_c) * p_s.out_c, -127, 127);
  l_l.cq = tb::random_channel_quant(p_rng, p_s.out_c, static_cast<int>(l_dw ? l_taps : p_s.in_c));
  l_l.q = tb::random_quant(p_rng, p_rng.uniform(0, 1) != 0);
  l_l.q.in_zp = p_inZp;
  l_l.in_buf = p_in;
  l_l.out_buf = p_out;
  return l_l;
}

/// Makes a pointwise layer add the residual in p_res (zero point p_resZp).
void add_residual(tb::Rng& p_rng, SemlSpec& p_l, uint32_t p_res, int32_t p_resZp) {
  p_l.q.act_min = -128;
  p_l.q.act_max = 127;
  p_l.residual = true;
  p_l.res_buf = p_res;
  p_l.add = tb::random_add_params(p_rng, p_l.q.out_zp, p_resZp);
}

/// An inverted-residual block (expand, depthwise, project with residual) on an h x w x c
/// hand-off in fm0, expansion t, depthwise k x k stride s; then a depthwise k x k stride s
/// and a pointwise head to p_head channels when p_head > 0. The projections write a memory
/// the depthwise layer before them does not read, so each runs with it (fused) unless
/// p_apart.
std::vector<SemlSpec> block(tb::Rng& p_rng, int p_h, int p_w, int p_c, int p_t, int p_k, int p_s, int p_head,
                            int32_t p_inZp, bool p_apart = false) {
  std::vector<SemlSpec> l_p;
  const int l_e = p_c * p_t;
  const uint32_t l_projectOut = p_apart ? 1 : 3;
  l_p.push_back(random_layer(p_rng, LayerKind::kPointwise, ref::make_shape(p_h, p_w, p_c, l_e, 1, 1, Padding::kSame),
                             p_inZp, 0, 1));
  l_p.push_back(random_layer(p_rng, LayerKind::kDepthwise, ref::make_shape(p_h, p_w, l_e, l_e, p_k, 1, Padding::kSame),
                             l_p.back().q.out_zp, 1, 2));
  l_p.push_back(random_layer(p_rng, LayerKind::kPointwise, ref::make_shape(p_h, p_w, l_e, p_c, 1, 1, Padding::kSame),
                             l_p.back().q.out_zp, 2, l_projectOut));
  add_residual(p_rng, l_p.back(), 0, p_inZp);
  if (p_head > 0) {
    const ref::ConvShape l_dw = ref::make_shape(p_h, p_w, p_c, p_c, p_k, p_s, Padding::kSame);
    l_p.push_back(random_layer(p_rng, LayerKind::kDepthwise, l_dw, l_p.back().add.out_zp, l_projectOut, 2));
    l_p.push_back(random_layer(p_rng, LayerKind::kPointwise,
                               ref::make_shape(l_dw.out_h, l_dw.out_w, p_c, p_head, 1, 1, Padding::kSame),
                               l_p.back().q.out_zp, 2, p_apart ? l_projectOut : 0));
  }
  return l_p;
}

template <class S>
void program_case(const std::string& p_name, uint32_t p_seed, int p_h, int p_w, int p_c, int p_t, int p_k, int p_s,
                  int p_head, size_t p_images, bool p_apart = false) {
  tb::Rng l_rng(p_seed);
  const int32_t l_inZp = static_cast<int32_t>(l_rng.uniform(-128, 127));
  const std::vector<SemlSpec> l_layers = block(l_rng, p_h, p_w, p_c, p_t, p_k, p_s, p_head, l_inZp, p_apart);
  std::vector<std::vector<int8_t>> l_images;
  for (size_t l_n = 0; l_n < p_images; ++l_n) {
    l_images.push_back(tb::random_bytes(l_rng, static_cast<size_t>(p_h) * p_w * p_c));
  }
  const std::vector<std::vector<int8_t>> l_got = run_program<S>(p_name, l_layers, l_images);
  const ref::ConvShape& l_out = l_layers.back().shape;
  for (size_t l_n = 0; l_n < l_got.size(); ++l_n) {
    tb::compare(p_name + " image " + std::to_string(l_n), l_got[l_n], tb::seml_reference(l_layers, l_images[l_n]),
                l_out.out_w, l_out.out_c);
  }
}

/// A classifier head on an h x w x p_in hand-off: a pointwise layer to p_c, the global pooling (as
/// AVERAGE_POOL_2D when p_divide, of raw uint8-style sums when also p_uint8; else as MEAN)
/// and, when p_classes > 0, a fully connected layer to p_classes, which need not fill whole
/// words.
template <class S>
void head_case(const std::string& p_name, uint32_t p_seed, int p_h, int p_w, int p_in, int p_c, int p_classes,
               bool p_divide, bool p_uint8) {
  tb::Rng l_rng(p_seed);
  const int32_t l_inZp = static_cast<int32_t>(l_rng.uniform(-128, 127));
  std::vector<SemlSpec> l_p;
  l_p.push_back(random_layer(l_rng, LayerKind::kPointwise, ref::make_shape(p_h, p_w, p_in, p_c, 1, 1, Padding::kSame),
                             l_inZp, 0, 1));
  SemlSpec l_pool;
  l_pool.kind = LayerKind::kPool;
  l_pool.shape = ref::make_shape(p_h, p_w, p_c, p_c, 1, 1, Padding::kSame);
  l_pool.shape.out_h = l_pool.shape.out_w = 1;
  l_pool.divide = p_divide;
  l_pool.q = tb::random_quant(l_rng, false);
  l_pool.q.w_zp = 0;
  l_pool.q.in_zp = p_divide ? (p_uint8 ? -128 : 0) : l_p.back().q.out_zp;
  // MEAN keeps the scale about the same; AVERAGE_POOL_2D keeps the input's quantization.
  l_pool.q.out_zp = p_divide ? (p_uint8 ? -128 : 0) : l_pool.q.in_zp;
  int32_t l_mult = 0, l_shift = 0;
  if (p_divide) {
    round_divide_reciprocal(static_cast<uint32_t>(p_h * p_w), &l_mult, &l_shift);
  } else {
    tb::quantize_multiplier(l_rng.real(0.5, 2.0) / (p_h * p_w), l_mult, l_shift);
  }
  l_pool.cq.bias.assign(static_cast<size_t>(p_c), 0);
  l_pool.cq.mult.assign(static_cast<size_t>(p_c), l_mult);
  l_pool.cq.shift.assign(static_cast<size_t>(p_c), l_shift);
  l_pool.in_buf = 1;
  l_pool.out_buf = 2;
  l_p.push_back(l_pool);
  if (p_classes > 0) {
    l_p.push_back(random_layer(l_rng, LayerKind::kPointwise, ref::make_shape(1, 1, p_c, p_classes, 1, 1, Padding::kSame),
                               l_pool.q.out_zp, 2, 3));
    // Averages share their offset from the zero point across channels, so the classifier's
    // sums grow with its depth rather than its square root: scale it for that, or every
    // class saturates.
    l_p.back().cq = tb::random_channel_quant(l_rng, p_classes, p_c * p_c / 4);
  }
  const std::vector<int8_t> l_image = tb::random_bytes(l_rng, static_cast<size_t>(p_h) * p_w * p_in);
  const std::vector<std::vector<int8_t>> l_got = run_program<S>(p_name, l_p, {l_image});
  if (!l_got.empty()) {
    tb::compare(p_name, l_got[0], tb::seml_reference(l_p, l_image), 1, p_classes > 0 ? p_classes : p_c);
  }
}

/// A negative multiplier in the third layer's first fold: absorbed while the second layer
/// computes, reported against the third.
void bad_multiplier_case() {
  tb::Rng l_rng(77);
  std::vector<SemlSpec> l_layers = block(l_rng, 4, 4, 16, 2, 3, 1, 0, 5);
  l_layers[2].cq.mult[3] = -5;
  uint32_t l_fault = 0;
  run_program<Small>("bad multiplier in layer 2", l_layers, {tb::random_bytes(l_rng, 4 * 4 * 16)}, &l_fault);
  if (l_fault != 3) {
    tb::fail("bad multiplier: fault " + std::to_string(l_fault) + ", want 3 (layer 2)");
  }
}

/// A golden depthwise or pointwise layer as a one-layer program.
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
    if (l_g.ok()) {
      tb::compare("golden " + p_dir + " (reference add; the SEML part fuses it into a pointwise layer)",
                  ref::add(l_a, l_bIn, l_p), l_want, l_w, l_c);
    }
    return;
  }
  if (l_op == "conv") {
    std::printf("  golden %s: a standard conv runs on the SESL engines (tb_sesl_conv), not the SEML part\n",
                p_dir.c_str());
    return;
  }
  if (l_op != "depthwise" && l_op != "pointwise") {
    tb::fail("golden " + p_dir + ": op '" + l_op + "' is not one of conv, depthwise, pointwise, add");
    return;
  }
  tb::LayerGolden l_l;
  if (!tb::read_layer(l_g, l_op == "depthwise", l_l)) {
    return;
  }
  if (l_l.shape.out_c % kFmLanes != 0) {
    std::printf("  golden %s: %d output channels are not whole words; the SEML part's last layer needs them\n",
                p_dir.c_str(), l_l.shape.out_c);
    return;
  }
  SemlSpec l_spec;
  l_spec.kind = l_op == "depthwise" ? LayerKind::kDepthwise : LayerKind::kPointwise;
  l_spec.shape = l_l.shape;
  l_spec.w = l_l.weights;
  l_spec.cq = l_l.cq;
  l_spec.q = l_l.q;
  l_spec.in_buf = 0;
  l_spec.out_buf = 1;
  const std::vector<std::vector<int8_t>> l_got =
      run_program<MnV2All>("golden " + p_dir + " (SEML " + l_op + ")", {l_spec}, {l_l.input});
  if (!l_got.empty()) {
    tb::compare("golden " + p_dir + " (SEML " + l_op + ")", l_got[0], l_l.expected, l_l.shape.out_w, l_l.shape.out_c);
  }
}

}  // namespace

int main(int p_argc, char** p_argv) {
  return tb::run_bench(p_argc, p_argv, "tb_seml", golden_case, [] {
    std::printf("tb_seml: small instance (ragged folds, pixel groups and word groups)\n");
    program_case<Small>("7x9x20 t2 3x3/1, head 5x5/2 -> 32, two images", 41, 7, 9, 20, 2, 5, 2, 32, 2);
    program_case<Small>("5x5x16 t3 3x3/1, head 3x3/2 -> 48", 42, 5, 5, 16, 3, 3, 2, 48, 1);
    program_case<Small>("1x1x32 t2 3x3/1 (single pixel)", 43, 1, 1, 32, 2, 3, 1, 0, 1);
    program_case<Small>("7x9x20 t2 5x5/2 head -> 32, the projections apart", 44, 7, 9, 20, 2, 5, 2, 32, 1, true);
    head_case<Small>("5x7x20 -> pw 20, MEAN, FC -> 37", 52, 5, 7, 20, 20, 37, false, false);
    head_case<Small>("7x5x16 -> pw 36, AVERAGE_POOL_2D (int8), FC -> 10", 46, 7, 5, 16, 36, 10, true, false);
    head_case<Small>("8x8x20 -> pw 20, AVERAGE_POOL_2D (uint8 sums), FC -> 5", 47, 8, 8, 20, 20, 5, true, true);
    head_case<Small>("6x6x20 -> pw 40, AVERAGE_POOL_2D (int8) out", 58, 6, 6, 20, 40, 0, true, false);
    head_case<Small>("3x9x20 -> pw 24, MEAN out", 54, 3, 9, 20, 24, 0, false, false);
    bad_multiplier_case();

    std::printf("tb_seml: MobileNetV2-sized instance on MobileNetV2 bottlenecks\n");
    program_case<MnV2>("28x28x32 t6 3x3/1, head 3x3/2 -> 64", 61, 28, 28, 32, 6, 3, 2, 64, 1);
    program_case<MnV2>("14x14x96 t6 3x3/1", 62, 14, 14, 96, 6, 3, 1, 0, 1);
    program_case<MnV2>("14x14x96 t6 3x3/1, the projection apart", 62, 14, 14, 96, 6, 3, 1, 0, 1, true);
    program_case<MnV2>("7x7x160 t6 3x3/1, head -> 320", 63, 7, 7, 160, 6, 3, 1, 320, 2);
    head_case<MnV2>("7x7x320 -> pw 1280, MEAN, FC -> 1001", 64, 7, 7, 320, 1280, 1001, false, false);
  });
}
