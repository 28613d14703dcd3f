// Testbench of the top-level kernel (src/fibha_top.cpp) with the demo instance
// (tb/configs/demo/fibha_config.hpp):
//   * whole runs, SESL part (conv + two FIRBs) then a five-layer SEML program (pointwise
//     expand, depthwise 3x3, pointwise project with the residual ADD fused, depthwise
//     5x5/2, pointwise), compared byte for byte with the reference applied to the same
//     layers: one image, and three different images in one call (the two parts overlap);
//     the ap_ctrl_hs handshake around the kernel is modelled once, in Rust
//     (fibha_model::handshake), and tested with this kernel behind the virtual board;
//   * bad input: every status code the kernel can raise, each from a bundle, register or
//     descriptor that is wrong in one way, with guard bytes around every buffer (and
//     AddressSanitizer in `make csim-asan`) showing nothing is written outside the
//     buffers, and nothing at all when the fault is found before the images run.
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bundle_builder.hpp"
#include "fibha/regmap.hpp"
#include "fibha/top.hpp"
#include "fibha_config.hpp"
#include "ref_bottleneck.hpp"
#include "ref_ops.hpp"
#include "tb_common.hpp"

namespace {

using namespace fibha;
using regmap::LayerDesc;
using regmap::LayerKind;
using tb::SemlSpec;
namespace cfg = fibha::config;

constexpr uint32_t kInputBytes = cfg::kSeslInH * cfg::kSeslInW * cfg::kSeslInC;
constexpr uint32_t kHandoffBytes = cfg::kSeslOutH * cfg::kSeslOutW * cfg::kSeslOutC;
constexpr uint32_t kOutputBytes = 2 * 2 * 32;
constexpr uint32_t kLayers = 5;
constexpr size_t kGuard = 64;
constexpr int8_t kGuardByte = 0x3C;
constexpr int8_t kFillByte = 0x11;

/// The demo instance's parameters and SEML program.
struct Model {
  std::vector<int8_t> conv0_w;
  ref::ChannelQuant conv0_cq;
  QuantParams conv0_q{};
  tb::Bottleneck firb1, firb2;
  std::vector<SemlSpec> layers;
};

/// Random parameters for the demo instance and the SEML program on top of it.
Model make_model(uint32_t p_seed) {
  tb::Rng l_rng(p_seed);
  Model l_m;
  l_m.conv0_w = tb::random_bytes(l_rng, 8 * cfg::Conv0::kDepth, -127, 127);
  l_m.conv0_cq = tb::random_channel_quant(l_rng, 8, static_cast<int>(cfg::Conv0::kDepth));
  l_m.conv0_q = tb::random_quant(l_rng, true);
  l_m.firb1 = tb::random_bottleneck(l_rng, 8, 8, 8, 1, 8, 3, 1, true, l_m.conv0_q.out_zp);
  l_m.firb2 = tb::random_bottleneck(l_rng, 8, 8, 8, 4, 12, 5, 2, false, l_m.firb1.add.out_zp);
  const int32_t l_seslZp = l_m.firb2.proj_q.out_zp;
  int32_t l_zp = l_seslZp;
  // 4x4x12 in fm0 -> PW 40 (fm1) -> DW 3x3 (fm2) -> PW 12 + fm0 (fm3) -> DW 5x5/2 (fm2) -> PW 32 (fm0);
  // each depthwise layer runs with the pointwise one after it.
  const auto l_layer = [&](LayerKind p_kind, const ref::ConvShape& p_s, uint32_t p_in, uint32_t p_out, bool p_relu6) {
    SemlSpec l_l;
    l_l.kind = p_kind;
    l_l.shape = p_s;
    const int l_taps = p_s.k * p_s.k;
    const bool l_dw = p_kind == LayerKind::kDepthwise;
    l_l.w = tb::random_bytes(l_rng, static_cast<size_t>(l_dw ? l_taps * p_s.out_c : p_s.in_c * p_s.out_c), -127, 127);
    l_l.cq = tb::random_channel_quant(l_rng, p_s.out_c, l_dw ? l_taps : p_s.in_c);
    l_l.q = tb::random_quant(l_rng, p_relu6);
    l_l.q.in_zp = l_zp;
    l_zp = l_l.q.out_zp;
    l_l.in_buf = p_in;
    l_l.out_buf = p_out;
    l_m.layers.push_back(l_l);
  };
  l_layer(LayerKind::kPointwise, ref::make_shape(4, 4, 12, 40, 1, 1, Padding::kSame), 0, 1, true);
  l_layer(LayerKind::kDepthwise, ref::make_shape(4, 4, 40, 40, 3, 1, Padding::kSame), 1, 2, true);
  l_layer(LayerKind::kPointwise, ref::make_shape(4, 4, 40, 12, 1, 1, Padding::kSame), 2, 3, false);
  SemlSpec& l_project = l_m.layers.back();
  l_project.residual = true;
  l_project.res_buf = 0;
  l_project.add = tb::random_add_params(l_rng, l_project.q.out_zp, l_seslZp);
  l_zp = l_project.add.out_zp;
  l_layer(LayerKind::kDepthwise, ref::make_shape(4, 4, 12, 12, 5, 2, Padding::kSame), 3, 2, true);
  l_layer(LayerKind::kPointwise, ref::make_shape(2, 2, 12, 32, 1, 1, Padding::kSame), 2, 0, false);
  return l_m;
}

/// The bundle of a model (parts, so bad-input cases can change one).
tb::BundleParts make_parts(const Model& p_m) {
  tb::BundleParts l_p;
  l_p.plan_hash = cfg::kPlanHash;
  auto l_w = tb::make_box<cfg::SeslWeights>();
  tb::fill(l_w->value.conv0, p_m.conv0_w, p_m.conv0_cq, p_m.conv0_q);
  tb::fill_firb(l_w->value.firb1, p_m.firb1);
  tb::fill_firb(l_w->value.firb2, p_m.firb2);
  tb::add_sesl(l_p.sesl, l_w->value.conv0);
  tb::add_sesl_firb<cfg::Firb1>(l_p.sesl, l_w->value.firb1);
  tb::add_sesl_firb<cfg::Firb2>(l_p.sesl, l_w->value.firb2);
  if (l_p.sesl.count() != cfg::SeslWeights::kBlobBeats) {
    tb::fail("SESL section is " + std::to_string(l_p.sesl.count()) + " beats, the configuration says " +
             std::to_string(cfg::SeslWeights::kBlobBeats));
  }
  const tb::SemlProgram l_prog =
      tb::seml_program(p_m.layers, cfg::Seml::kPe, tb::params_beat(p_m.layers.size(), l_p.sesl.count()));
  l_p.descs = l_prog.descs;
  l_p.params = l_prog.params;
  l_p.input_bytes = kInputBytes;
  l_p.output_bytes = kOutputBytes;
  l_p.handoff_bytes = kHandoffBytes;
  return l_p;
}

/// The reference output of one image.
std::vector<int8_t> reference(const Model& p_m, const std::vector<int8_t>& p_image) {
  const std::vector<int8_t> l_conv0 =
      ref::conv(ref::make_shape(16, 16, 3, 8, 3, 2, Padding::kSame), p_image, p_m.conv0_w, p_m.conv0_cq, p_m.conv0_q);
  const std::vector<int8_t> l_sesl = tb::run_reference(p_m.firb2, tb::run_reference(p_m.firb1, l_conv0));
  return tb::seml_reference(p_m.layers, l_sesl);
}

/// A buffer with guard bytes on both sides.
template <class T>
class Guarded {
 public:
  Guarded(size_t p_count, const T& p_fill, const T& p_guard) : m_count(p_count), m_guard(p_guard),
                                                              m_mem(p_count + 2 * kGuard, p_guard) {
    std::fill(m_mem.begin() + kGuard, m_mem.begin() + kGuard + p_count, p_fill);
  }
  T* data() { return m_mem.data() + kGuard; }
  std::vector<T> contents() const { return std::vector<T>(m_mem.begin() + kGuard, m_mem.begin() + kGuard + m_count); }
  bool guards_intact() const {
    for (size_t l_i = 0; l_i < kGuard; ++l_i) {
      if (std::memcmp(&m_mem[l_i], &m_guard, sizeof(T)) != 0 ||
          std::memcmp(&m_mem[kGuard + m_count + l_i], &m_guard, sizeof(T)) != 0) {
        return false;
      }
    }
    return true;
  }

 private:
  size_t m_count;
  T m_guard;
  std::vector<T> m_mem;
};

/// The argument registers of one run.
struct Args {
  uint32_t images = 1;
  uint32_t input_bytes = 0;   ///< 0: images x the image
  uint32_t output_bytes = 0;  ///< 0: images x the output
  uint32_t bundle_bytes = 0;  ///< 0: the bundle's own size
  uint32_t layer_count = kLayers;
  uint32_t mode = 0;
};

/// What one kernel call produced.
struct Result {
  uint64_t id = 0;
  uint32_t status = 0;
  uint64_t cycles = 0;         ///< the cycle register
  uint64_t kernel_cycles = 0;  ///< the timed model's cycles of the whole run
  std::vector<int8_t> output;  ///< the output buffer's bytes
  bool guards_intact = false;
  uint32_t error() const { return regmap::status::kError.get(status); }
  uint32_t code() const { return regmap::status::kCode.get(status); }
  uint32_t layer() const { return regmap::status::kLayer.get(status); }
};

BundleBeat beat_of(int8_t p_byte) { return splat<kBeatBytes>(p_byte); }

/// Calls fibha_top on guarded copies of the images and bundle.
Result call_kernel(const std::vector<int8_t>& p_images, const tb::Beats& p_bundle, const Args& p_args) {
  const size_t l_inBeats = p_images.size() / kBeatBytes;
  const uint32_t l_outBytes = p_args.output_bytes != 0 ? p_args.output_bytes : p_args.images * kOutputBytes;
  const size_t l_outBeats = (l_outBytes + kBeatBytes - 1) / kBeatBytes;
  Guarded<BundleBeat> l_input(l_inBeats, beat_of(0), beat_of(kGuardByte));
  std::memcpy(static_cast<void*>(l_input.data()), p_images.data(), p_images.size());
  Guarded<BundleBeat> l_output(l_outBeats, beat_of(kFillByte), beat_of(kGuardByte));
  const std::vector<BundleBeat> l_beats = p_bundle.as_beats();
  Guarded<BundleBeat> l_bundle(l_beats.size(), beat_of(0), beat_of(kGuardByte));
  std::memcpy(static_cast<void*>(l_bundle.data()), l_beats.data(), l_beats.size() * kBeatBytes);
  Result l_r;
  const uint32_t l_bundleBytes =
      p_args.bundle_bytes != 0 ? p_args.bundle_bytes : static_cast<uint32_t>(l_beats.size() * kBeatBytes);
  const uint32_t l_inBytes = p_args.input_bytes != 0 ? p_args.input_bytes : static_cast<uint32_t>(p_images.size());
  csim::Kernel l_kernel("fibha_top", tb::bench_platform());
  l_kernel.run([&] {
    fibha_top(l_input.data(), l_output.data(), l_bundle.data(), l_bundle.data(), l_bundle.data(), l_inBytes,
              l_outBytes, l_bundleBytes, p_args.images, p_args.layer_count, p_args.mode, &l_r.id, &l_r.status,
              &l_r.cycles);
  });
  l_r.kernel_cycles = l_kernel.cycles();
  tb::print_processes(l_kernel);
  const std::vector<BundleBeat> l_out = l_output.contents();
  l_r.output.resize(l_out.size() * kBeatBytes);
  if (!l_r.output.empty()) {  // memcpy of nothing from an empty vector's null data is undefined
    std::memcpy(l_r.output.data(), l_out.data(), l_r.output.size());
  }
  std::vector<int8_t> l_inputAfter(p_images.size());
  const std::vector<BundleBeat> l_in = l_input.contents();
  if (!l_inputAfter.empty()) {
    std::memcpy(l_inputAfter.data(), l_in.data(), l_inputAfter.size());
  }
  l_r.guards_intact = l_input.guards_intact() && l_output.guards_intact() && l_bundle.guards_intact() &&
                      l_inputAfter == p_images;
  return l_r;
}

std::vector<int8_t> random_images(uint32_t p_seed, size_t p_count) {
  tb::Rng l_rng(p_seed);
  return tb::random_bytes(l_rng, p_count * kInputBytes);
}

std::vector<int8_t> image(const std::vector<int8_t>& p_images, size_t p_n) {
  return std::vector<int8_t>(p_images.begin() + static_cast<std::ptrdiff_t>(p_n * kInputBytes),
                             p_images.begin() + static_cast<std::ptrdiff_t>((p_n + 1) * kInputBytes));
}

/// One image, then three in one call: every output as the reference, the cycle register
/// the timed run's length, and three images in less than three single runs (the SESL
/// part of image n + 1 overlaps the SEML part of image n).
void good_runs(const Model& p_m, const tb::Beats& p_bundle) {
  uint64_t l_single = 0;
  for (const uint32_t l_images : {1u, 3u}) {
    const std::vector<int8_t> l_in = random_images(500 + l_images, l_images);
    Args l_a;
    l_a.images = l_images;
    const Result l_r = call_kernel(l_in, p_bundle, l_a);
    if (l_r.error() != 0) {
      tb::fail(std::string("valid run reported ") + regmap::status_code_name(static_cast<StatusCode>(l_r.code())) +
               " at layer " + std::to_string(l_r.layer()));
      return;
    }
    if (l_r.id != cfg::kPlanHash) {
      tb::fail("id register does not hold the plan hash");
    }
    for (uint32_t l_n = 0; l_n < l_images; ++l_n) {
      const std::vector<int8_t> l_got(l_r.output.begin() + l_n * kOutputBytes,
                                      l_r.output.begin() + (l_n + 1) * kOutputBytes);
      tb::compare("fibha_top: " + std::to_string(l_images) + " image(s), output " + std::to_string(l_n) +
                      " (SESL + 5 SEML layers)",
                  l_got, reference(p_m, image(l_in, l_n)), 2, 32);
    }
    if (!l_r.guards_intact) {
      tb::fail("valid run: a guard byte or the input changed");
    }
    if (l_r.cycles != l_r.kernel_cycles || l_r.cycles == 0) {
      tb::fail("cycle register " + std::to_string(l_r.cycles) + ", the timed run took " +
               std::to_string(l_r.kernel_cycles));
    }
    std::printf("  ok   %u image(s): cycle register %llu (the timed run's length)\n", l_images,
                static_cast<unsigned long long>(l_r.cycles));
    if (l_images == 1) {
      l_single = l_r.cycles;
    } else if (l_r.cycles >= 3 * l_single) {
      tb::fail("three images took " + std::to_string(l_r.cycles) + " cycles, not less than three single runs (" +
               std::to_string(3 * l_single) + "): the parts do not overlap");
    }
  }
}

/// One bad-input scenario: a change to a valid run and the status it must produce.
struct BadCase {
  const char* what;
  std::function<void(tb::BundleParts&, Args&)> mutate;
  StatusCode code;
  uint32_t layer;       ///< expected status.layer
  bool before_any_run;  ///< true: the kernel must write nothing at all
  std::function<void(tb::Beats&)> patch = nullptr;  ///< applied to the finished bundle (CRC resealed)
};

/// The bundle header word p_field (an offset into BundleHeader) of a finished bundle.
std::function<void(tb::Beats&)> set_header(size_t p_field, uint32_t p_value) {
  return [p_field, p_value](tb::Beats& p_b) {
    p_b.set_word(p_field, p_value);
    tb::seal(p_b);
  };
}

void bad_inputs(const Model& p_m, const tb::BundleParts& p_good) {
  const auto l_desc = [](uint32_t p_i, std::function<void(LayerDesc&)> p_f) {
    return [p_i, p_f](tb::BundleParts& p_p, Args&) { p_f(p_p.descs[p_i]); };
  };
  const size_t l_total = tb::build_bundle(p_good).bytes().size();
  const uint32_t l_seslOff = regmap::kBundleHeaderWords * 4 + kLayers * regmap::kLayerDescWords * 4;
  const uint32_t l_paramsBeat = tb::params_beat(kLayers, p_good.sesl.count());
  const auto l_none = [](tb::BundleParts&, Args&) {};
  const std::vector<BadCase> l_cases = {
      {"reserved mode bit", [](tb::BundleParts&, Args& p_a) { p_a.mode = 4; }, StatusCode::kMode, kNoLayer, true},
      {"bundle smaller than its header", [](tb::BundleParts&, Args& p_a) { p_a.bundle_bytes = 48; },
       StatusCode::kBundleHeader, kNoLayer, true},
      {"bundle size not whole beats", [&](tb::BundleParts&, Args& p_a) {
         p_a.bundle_bytes = static_cast<uint32_t>(l_total - 4);
       }, StatusCode::kBundleHeader, kNoLayer, true},
      {"bundle magic", l_none, StatusCode::kBundleHeader, kNoLayer, true,
       set_header(offsetof(regmap::BundleHeader, magic), 0x12345678)},
      {"bundle version", l_none, StatusCode::kBundleHeader, kNoLayer, true,
       set_header(offsetof(regmap::BundleHeader, version), regmap::kBundleVersion + 1)},
      {"bundle reserved word", l_none, StatusCode::kBundleHeader, kNoLayer, true,
       set_header(offsetof(regmap::BundleHeader, reserved), 1)},
      {"total_bytes past bundle_bytes", l_none, StatusCode::kBundleHeader, kNoLayer, true,
       set_header(offsetof(regmap::BundleHeader, total_bytes), static_cast<uint32_t>(l_total + 16))},
      {"total_bytes not whole beats", l_none, StatusCode::kBundleHeader, kNoLayer, true,
       set_header(offsetof(regmap::BundleHeader, total_bytes), static_cast<uint32_t>(l_total - 4))},
      {"plan hash of another plan", [](tb::BundleParts& p_p, Args&) { p_p.plan_hash ^= 0x100000000ull; },
       StatusCode::kPlanHash, kNoLayer, true},
      {"layer count over the maximum", [](tb::BundleParts&, Args& p_a) { p_a.layer_count = cfg::kMaxLayers + 1; },
       StatusCode::kLayerCount, kNoLayer, true},
      {"layer count register differs from the header's", [](tb::BundleParts&, Args& p_a) { p_a.layer_count = 4; },
       StatusCode::kLayerCount, kNoLayer, true},
      {"descriptor table past total_bytes", l_none, StatusCode::kLayerCount, kNoLayer, true,
       set_header(offsetof(regmap::BundleHeader, desc_off), static_cast<uint32_t>(l_total - 64))},
      {"SESL section size", l_none, StatusCode::kSeslParams, kNoLayer, true,
       set_header(offsetof(regmap::BundleHeader, sesl_bytes), cfg::SeslWeights::kBlobBeats * 16 + 16)},
      {"SESL section outside the bundle", l_none, StatusCode::kSeslParams, kNoLayer, true,
       set_header(offsetof(regmap::BundleHeader, sesl_off), 0xFFFFFF00u)},
      {"SESL clamp min > max", l_none, StatusCode::kSeslParams, kNoLayer, true, [&](tb::Beats& p_b) {
         p_b.set_word(l_seslOff + 8, 100);
         p_b.set_word(l_seslOff + 12, 50);
         tb::seal(p_b);
       }},
      {"SESL shift out of range", l_none, StatusCode::kSeslParams, kNoLayer, true, [&](tb::Beats& p_b) {
         p_b.set_word(l_seslOff + kHeadBeats * 16 + 2 * 32 + 4, 31);  // conv0: head, bias and mult tables, shift[1]
         tb::seal(p_b);
       }},
      {"SESL filter zero point outside int8", l_none, StatusCode::kSeslParams, kNoLayer, true, [&](tb::Beats& p_b) {
         p_b.set_word(l_seslOff + 16, 128);  // conv0's head: filter_zp, the fifth word
         tb::seal(p_b);
       }},
      {"input image size of another instance", [](tb::BundleParts& p_p, Args&) { p_p.input_bytes += 16; },
       StatusCode::kSeslBuffers, kNoLayer, true},
      {"hand-off size of another instance", [](tb::BundleParts& p_p, Args&) { p_p.handoff_bytes = 64; },
       StatusCode::kSeslBuffers, kNoLayer, true},
      {"parameter section outside the bundle", l_none, StatusCode::kParamRange, kNoLayer, true,
       set_header(offsetof(regmap::BundleHeader, params_bytes), 0x7FFFFFF0u)},
      {"image count 0", [](tb::BundleParts&, Args& p_a) { p_a.images = 0; }, StatusCode::kImageCount, kNoLayer, true},
      {"input buffer smaller than two images", [](tb::BundleParts&, Args& p_a) {
         p_a.images = 2;
         p_a.input_bytes = kInputBytes;
       }, StatusCode::kImageCount, kNoLayer, true},
      {"output buffer smaller than the output", [](tb::BundleParts&, Args& p_a) { p_a.output_bytes = kOutputBytes - 16; },
       StatusCode::kOutputRange, kNoLayer, true},
      {"output size not whole beats", [](tb::BundleParts& p_p, Args&) { p_p.output_bytes = kOutputBytes - 4; },
       StatusCode::kOutputRange, kNoLayer, true},
      {"descriptor magic", l_desc(2, [](LayerDesc& p_d) { p_d.magic = 0; }), StatusCode::kDescMagic, 2, true},
      {"filter zero point outside int8", l_desc(4, [](LayerDesc& p_d) { p_d.filter_zp = 128; }), StatusCode::kQuant, 4,
       true},
      {"unknown layer kind", l_desc(1, [](LayerDesc& p_d) { p_d.kind = 9; }), StatusCode::kLayerKind, 1, true},
      {"a standard conv (SESL only)", l_desc(0, [](LayerDesc& p_d) { p_d.kind = 1; }), StatusCode::kLayerKind, 0, true},
      {"unknown flag", l_desc(0, [](LayerDesc& p_d) { p_d.flags = 2; }), StatusCode::kLayerKind, 0, true},
      {"residual on a depthwise layer", l_desc(1, [](LayerDesc& p_d) { p_d.flags = 1; }), StatusCode::kLayerKind, 1,
       true},
      {"stride 3", l_desc(3, [](LayerDesc& p_d) { p_d.stride = 3; }), StatusCode::kGeometry, 3, true},
      {"pad_top >= kernel", l_desc(1, [](LayerDesc& p_d) { p_d.pad_top = 3; }), StatusCode::kGeometry, 1, true},
      {"depthwise in_c != out_c", l_desc(1, [](LayerDesc& p_d) { p_d.out_c = 39; }), StatusCode::kGeometry, 1, true},
      {"pointwise with a 3x3 kernel", l_desc(0, [](LayerDesc& p_d) { p_d.kernel = 3; }), StatusCode::kGeometry, 0,
       true},
      {"output rows past the padded input", l_desc(3, [](LayerDesc& p_d) { p_d.out_h = 5; }), StatusCode::kGeometry,
       3, true},
      {"zero-sized dimension", l_desc(2, [](LayerDesc& p_d) { p_d.in_w = 0; }), StatusCode::kGeometry, 2, true},
      {"pointwise input over the engine's 3 words", l_desc(2, [](LayerDesc& p_d) { p_d.in_c = 49; }),
       StatusCode::kEngineLimit, 2, true},
      {"depthwise kernel over the engine's 5", l_desc(3, [](LayerDesc& p_d) {
         p_d.kernel = 7;
       }), StatusCode::kEngineLimit, 3, true},
      {"map over the engine's 16 pixels", l_desc(0, [](LayerDesc& p_d) {
         p_d.in_h = p_d.out_h = 5;
       }), StatusCode::kEngineLimit, 0, true},
      {"unknown feature-map memory", l_desc(2, [](LayerDesc& p_d) { p_d.out_buf = 4; }), StatusCode::kBufferId, 2,
       true},
      {"writes the map it reads", l_desc(2, [](LayerDesc& p_d) { p_d.out_buf = 2; }), StatusCode::kBufferId, 2, true},
      {"adds the map it writes", l_desc(2, [](LayerDesc& p_d) { p_d.res_buf = 3; }), StatusCode::kBufferId, 2, true},
      {"does not read its predecessor's output", l_desc(3, [](LayerDesc& p_d) { p_d.in_buf = 1; }),
       StatusCode::kBufferId, 3, true},
      {"first layer does not read the hand-off", l_desc(0, [](LayerDesc& p_d) { p_d.in_buf = 2; }),
       StatusCode::kBufferId, 0, true},
      {"input shape differs from the map it reads", l_desc(3, [](LayerDesc& p_d) { p_d.in_h = 3; p_d.out_h = 2; }),
       StatusCode::kInputRange, 3, true},
      {"last layer output of another size", [](tb::BundleParts& p_p, Args& p_a) {
         p_p.output_bytes = kOutputBytes + 16;
         p_a.output_bytes = kOutputBytes + 16;
       }, StatusCode::kOutputRange, kLayers - 1, true},
      {"parameter blob past the section", l_desc(4, [&](LayerDesc& p_d) { p_d.params_off += 4; }),
       StatusCode::kParamRange, 4, true},
      {"parameter blob before the section", l_desc(0, [&](LayerDesc& p_d) { p_d.params_off = l_paramsBeat - 2; }),
       StatusCode::kParamRange, 0, true},
      {"parameter blob of another size", l_desc(1, [](LayerDesc& p_d) { p_d.params_beats -= 2; }),
       StatusCode::kParamRange, 1, true},
      {"output zero point 200", l_desc(1, [](LayerDesc& p_d) { p_d.out_zp = 200; }), StatusCode::kQuant, 1, true},
      {"ADD left shift 25", l_desc(2, [](LayerDesc& p_d) { p_d.left_shift = 25; }), StatusCode::kQuant, 2, true},
      {"ADD fields on a layer without residual", l_desc(0, [](LayerDesc& p_d) { p_d.a_mult = 5; }), StatusCode::kQuant,
       0, true},
      {"negative multiplier in a blob (found as it streams in)", l_none, StatusCode::kQuant, 2, false,
       [&](tb::Beats& p_b) {
         // Layer 2's first fold: logical beats 0-3 bias, 4-7 multipliers; logical beat 4
         // is the A half's third beat.
         p_b.set_word(size_t{p_good.descs[2].params_off + 2} * kBeatBytes + 4, 0x80000000u);
         tb::seal(p_b);
       }},
      {"shift 40 in a blob (found as it streams in)", l_none, StatusCode::kQuant, 3, false, [&](tb::Beats& p_b) {
         // Layer 3 (depthwise, one word): tables of 4 beats each; the shift table is
         // logical beats 8-11, beat 8 the A half's fifth.
         p_b.set_word(size_t{p_good.descs[3].params_off + 4} * kBeatBytes, 40);
         tb::seal(p_b);
       }},
  };
  int l_passed = 0;
  const std::vector<int8_t> l_image = random_images(700, 1);
  for (const BadCase& l_case : l_cases) {
    tb::BundleParts l_p = p_good;
    Args l_a;
    l_case.mutate(l_p, l_a);
    tb::Beats l_bundle = tb::build_bundle(l_p);
    if (l_case.patch) {
      l_case.patch(l_bundle);
    }
    const std::vector<int8_t> l_in = l_a.images == 2 ? random_images(701, 2) : l_image;
    const Result l_r = call_kernel(l_in, l_bundle, l_a);
    const std::string l_name = std::string("bad input '") + l_case.what + "'";
    const bool l_codeOk = l_r.error() == 1 && l_r.code() == static_cast<uint32_t>(l_case.code) &&
                          l_r.layer() == l_case.layer;
    const bool l_nothingWritten = l_r.output == std::vector<int8_t>(l_r.output.size(), kFillByte);
    if (!l_codeOk) {
      tb::fail(l_name + ": status error=" + std::to_string(l_r.error()) + " code=" +
               regmap::status_code_name(static_cast<StatusCode>(l_r.code())) + " layer=" +
               std::to_string(l_r.layer()) + ", expected " + regmap::status_code_name(l_case.code) + " at layer " +
               std::to_string(l_case.layer));
    } else if (!l_r.guards_intact) {
      tb::fail(l_name + ": a guard byte or the input changed");
    } else if (l_case.before_any_run && !l_nothingWritten) {
      tb::fail(l_name + ": the kernel wrote to the output buffer");
    } else if (l_r.id != cfg::kPlanHash) {
      tb::fail(l_name + ": the id register was not published");
    } else {
      ++l_passed;
    }
  }
  std::printf("  ok   %d of %zu bad-input cases: right status code and layer, guards intact\n", l_passed,
              l_cases.size());
  (void)p_m;
}

/// mode.verify: the kernel checks the bundle's CRC-32 (one word per cycle) and touches no
/// feature-map memory; a flipped bit anywhere (weights or the checksum itself) is reported.
void verify_mode(const tb::BundleParts& p_good) {
  Args l_a;
  l_a.mode = regmap::mode::kVerify.mask();
  const std::vector<int8_t> l_untouched(kOutputBytes, kFillByte);
  const tb::Beats l_good = tb::build_bundle(p_good);
  const std::vector<int8_t> l_image = random_images(800, 1);
  const Result l_ok = call_kernel(l_image, l_good, l_a);
  const uint64_t l_words = l_good.bytes().size() / 4;
  // One word per cycle, the beats as one burst: at least the words, at most the words plus
  // the header's read and the bursts' latencies.
  const uint64_t l_latencies = (4 + l_words / 64 + 2) * (tb::bench_platform().latency + 2);
  if (l_ok.status != 0 || l_ok.cycles < l_words || l_ok.cycles > l_words + l_latencies ||
      l_ok.output != l_untouched || !l_ok.guards_intact) {
    tb::fail("verify mode: a good bundle must pass in one cycle per word and write nothing (status " +
             std::to_string(l_ok.status) + ", cycles " + std::to_string(l_ok.cycles) + ")");
    return;
  }
  int l_caught = 0;
  for (const size_t l_word : {l_good.bytes().size() / 4 - 3, static_cast<size_t>(regmap::kBundleCrcWord)}) {
    tb::Beats l_bad = l_good;
    const size_t l_byte = l_word * 4 + 2;
    l_bad.bytes()[l_byte] = static_cast<uint8_t>(l_bad.bytes()[l_byte] ^ 0x01u);
    const Result l_r = call_kernel(l_image, l_bad, l_a);
    if (l_r.code() == static_cast<uint32_t>(StatusCode::kChecksum) && l_r.output == l_untouched) {
      ++l_caught;
    } else {
      tb::fail("verify mode: a flipped bit in word " + std::to_string(l_word) + " gave status " +
               std::to_string(l_r.status));
    }
  }
  std::printf("  ok   verify mode: CRC-32 of %llu words accepted, %d corruptions caught\n",
              static_cast<unsigned long long>(l_words), l_caught);
}

void identify_without_memory() {
  uint64_t l_id = 0;
  uint32_t l_status = 0xFFFFFFFF;
  uint64_t l_cycles = 1;
  fibha_top(nullptr, nullptr, nullptr, nullptr, nullptr, 0, 0, 0, 0, 0, regmap::mode::kIdentify.mask(), &l_id,
            &l_status, &l_cycles);
  if (l_id != cfg::kPlanHash || l_status != 0 || l_cycles != 0) {
    tb::fail("identify mode: expected the plan hash, status 0, cycles 0 without any buffer");
  } else {
    std::printf("  ok   identify mode publishes the plan hash with null buffers\n");
  }
}

}  // namespace

int main(int p_argc, char** p_argv) {
  if (p_argc > 1) {
    tb::fail(std::string("tb_top takes no arguments (got '") + p_argv[1] + "')");
  }
  const Model l_model = make_model(400);
  const tb::BundleParts l_parts = make_parts(l_model);
  const tb::Beats l_bundle = tb::build_bundle(l_parts);
  std::printf("tb_top: whole runs of the demo instance\n");
  good_runs(l_model, l_bundle);
  identify_without_memory();
  verify_mode(l_parts);
  std::printf("tb_top: bad bundles, registers and descriptors\n");
  bad_inputs(l_model, l_parts);
  return tb::finish("tb_top");
}
