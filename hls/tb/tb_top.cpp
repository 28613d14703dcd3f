// Testbench of the top-level kernel (src/fibha_top.cpp) with the demo instance
// (tb/configs/demo/fibha_config.hpp):
//   * a whole run, SESL part (conv + two FIRBs under DATAFLOW) then a six-layer SEML
//     program (PW, DW, PW, ADD, DW 5x5/2, CONV), compared byte for byte with the
//     reference applied to the same descriptors, called directly and through the
//     register model (ap_ctrl_hs handshake, interrupt, id, status and cycle registers);
//   * bad input: every status code the kernel can raise, each from a bundle, register
//     or descriptor that is wrong in one way, with guard bytes around every buffer
//     (and AddressSanitizer in `make csim-asan`) showing nothing is written outside
//     the buffers, and nothing at all when the fault is found before a layer runs.
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bundle_builder.hpp"
#include "fibha/csim/register_model.hpp"
#include "fibha/regmap.hpp"
#include "fibha/top.hpp"
#include "fibha_config.hpp"
#include "ref_bottleneck.hpp"
#include "ref_ops.hpp"
#include "tb_common.hpp"

namespace {

using namespace fibha;
using regmap::BufferId;
using regmap::LayerDesc;
using regmap::LayerKind;
namespace cfg = fibha::config;

constexpr uint32_t kInputBytes = cfg::kSeslInH * cfg::kSeslInW * cfg::kSeslInC;
constexpr uint32_t kScratchBytes = 4096;
constexpr uint32_t kOutputBytes = 2 * 2 * 20;
constexpr size_t kGuard = 64;
constexpr int8_t kGuardByte = 0x3C;
constexpr int8_t kFillByte = 0x11;

/// One SEML layer: its descriptor and (conv-like) parameters.
struct Layer {
  LayerDesc desc;
  std::vector<int8_t> w;
  ref::ChannelQuant cq;
};

/// The demo instance's parameters and SEML program, and the bundle they make.
struct Model {
  std::vector<int8_t> image;
  std::vector<int8_t> conv0_w;
  ref::ChannelQuant conv0_cq;
  QuantParams conv0_q{};
  tb::Bottleneck firb1, firb2;
  std::vector<Layer> layers;
};

/// A device bundle under construction: header fields, the fixed part, the descriptors.
struct Program {
  tb::BundleBuilder base;  ///< header space, SESL section, SEML parameters
  regmap::BundleHeader header{};
  std::vector<LayerDesc> descs;
  int32_t total_bytes_delta = 0;  ///< added to the computed total_bytes (bad-input cases)
  /// Applied to the finished image, after the checksum (bad-input cases).
  std::function<void(std::vector<uint32_t>&)> patch;

  /// The image: header (total_bytes, layer_count, desc_off and crc32 filled in), fixed
  /// part, descriptor table.
  std::vector<uint32_t> words() const {
    tb::BundleBuilder l_b = base;
    regmap::BundleHeader l_h = header;
    l_h.desc_off = l_b.size();
    l_h.layer_count = static_cast<uint32_t>(descs.size());
    for (const LayerDesc& l_d : descs) {
      l_b.add_descriptor(l_d);
    }
    l_h.total_bytes = static_cast<uint32_t>(static_cast<int32_t>(l_b.size()) + total_bytes_delta);
    uint32_t l_words[regmap::kBundleHeaderWords];
    regmap::bundle_header_to_words(l_h, l_words);
    for (unsigned l_i = 0; l_i < regmap::kBundleHeaderWords; ++l_i) {
      l_b.set_word(4 * l_i, l_words[l_i]);
    }
    std::vector<uint32_t> l_image = l_b.words();
    l_image[regmap::kBundleCrcWord] = tb::bundle_crc32(l_image, regmap::kBundleCrcWord);
    if (patch) {
      patch(l_image);
    }
    return l_image;
  }
};

/// Random parameters for the demo instance and the SEML program on top of it.
Model make_model(uint32_t p_seed) {
  tb::Rng l_rng(p_seed);
  Model l_m;
  l_m.image = tb::random_bytes(l_rng, kInputBytes);
  l_m.conv0_w = tb::random_bytes(l_rng, 8 * cfg::Conv0::kDepth, -127, 127);
  l_m.conv0_cq = tb::random_channel_quant(l_rng, 8, static_cast<int>(cfg::Conv0::kDepth));
  l_m.conv0_q = tb::random_quant(l_rng, true);
  l_m.firb1 = tb::random_bottleneck(l_rng, 8, 8, 8, 1, 8, 3, 1, true, l_m.conv0_q.out_zp);
  const int32_t l_firb1Zp = l_m.firb1.add.out_zp;
  l_m.firb2 = tb::random_bottleneck(l_rng, 8, 8, 8, 4, 12, 5, 2, false, l_firb1Zp);
  int32_t l_zp = l_m.firb2.proj_q.out_zp;  // the SESL output's zero point
  const int32_t l_seslZp = l_zp;

  // SEML program over scratch: 4x4x12 at 0 -> PW 48 -> DW 3x3 -> PW 12 -> ADD -> DW 5x5/2 -> CONV 3x3 -> output.
  const auto l_convLike = [&](LayerKind p_kind, const ref::ConvShape& p_s, uint32_t p_inOff, BufferId p_outBuf,
                              uint32_t p_outOff, bool p_relu6) {
    Layer l_layer;
    QuantParams l_q = tb::random_quant(l_rng, p_relu6);
    l_q.in_zp = l_zp;
    l_zp = l_q.out_zp;
    l_layer.desc = tb::conv_desc(p_kind, p_s, BufferId::kScratch, p_inOff, p_outBuf, p_outOff, l_q);
    const int l_taps = p_s.k * p_s.k;
    const bool l_dw = p_kind == LayerKind::kDepthwise;
    l_layer.w = tb::random_bytes(l_rng, static_cast<size_t>(l_dw ? l_taps * p_s.out_c : l_taps * p_s.in_c * p_s.out_c),
                                 -127, 127);
    l_layer.cq = tb::random_channel_quant(l_rng, p_s.out_c, l_dw ? l_taps : l_taps * p_s.in_c);
    l_m.layers.push_back(l_layer);
  };
  l_convLike(LayerKind::kPointwise, ref::make_shape(4, 4, 12, 48, 1, 1, Padding::kSame), 0, BufferId::kScratch, 192,
             true);
  l_convLike(LayerKind::kDepthwise, ref::make_shape(4, 4, 48, 48, 3, 1, Padding::kSame), 192, BufferId::kScratch, 960,
             true);
  l_convLike(LayerKind::kPointwise, ref::make_shape(4, 4, 48, 12, 1, 1, Padding::kSame), 960, BufferId::kScratch,
             1728, false);
  Layer l_add;
  const AddParams l_ap = tb::random_add_params(l_rng, l_zp, l_seslZp);
  l_add.desc = tb::add_desc(4, 4, 12, BufferId::kScratch, 1728, BufferId::kScratch, 0, BufferId::kScratch, 1920, l_ap);
  l_m.layers.push_back(l_add);
  l_zp = l_ap.out_zp;
  l_convLike(LayerKind::kDepthwise, ref::make_shape(4, 4, 12, 12, 5, 2, Padding::kSame), 1920, BufferId::kScratch,
             2112, true);
  l_convLike(LayerKind::kConv, ref::make_shape(2, 2, 12, 20, 3, 1, Padding::kSame), 2112, BufferId::kOutput, 0, false);
  return l_m;
}

/// The bundle of a model.
Program make_program(const Model& p_m) {
  Program l_p;
  l_p.base.reserve(regmap::kBundleHeaderWords * 4);
  const uint32_t l_seslOff = l_p.base.size();
  l_p.base.add_sesl_layer(p_m.conv0_w, p_m.conv0_cq, p_m.conv0_q);
  for (const tb::Bottleneck* l_b : {&p_m.firb1, &p_m.firb2}) {
    if (l_b->expand != 1) {
      l_p.base.add_sesl_layer(l_b->exp_w, l_b->exp_cq, l_b->exp_q);
    }
    l_p.base.add_sesl_layer(l_b->dw_w, l_b->dw_cq, l_b->dw_q);
    l_p.base.add_sesl_layer(l_b->proj_w, l_b->proj_cq, l_b->proj_q);
    if (l_b->skip) {
      l_p.base.add_sesl_add(l_b->add);
    }
  }
  const uint32_t l_seslBytes = l_p.base.size() - l_seslOff;
  if (l_seslBytes != cfg::SeslWeights::kBytes) {
    tb::fail("SESL section is " + std::to_string(l_seslBytes) + " bytes, the configuration says " +
             std::to_string(cfg::SeslWeights::kBytes));
  }
  const uint32_t l_paramsOff = l_p.base.size();
  for (const Layer& l_layer : p_m.layers) {
    LayerDesc l_d = l_layer.desc;
    if (static_cast<LayerKind>(l_d.kind) != LayerKind::kAdd) {
      l_p.base.add_layer_params(l_d, l_layer.w, l_layer.cq);
    }
    l_p.descs.push_back(l_d);
  }
  l_p.header.magic = regmap::kBundleMagic;
  l_p.header.version = regmap::kBundleVersion;
  l_p.header.plan_hash_lo = static_cast<uint32_t>(cfg::kPlanHash);
  l_p.header.plan_hash_hi = static_cast<uint32_t>(cfg::kPlanHash >> 32);
  l_p.header.sesl_off = l_seslOff;
  l_p.header.sesl_bytes = l_seslBytes;
  l_p.header.params_off = l_paramsOff;
  l_p.header.params_bytes = l_p.base.size() - l_paramsOff;
  l_p.header.input_bytes = kInputBytes;
  l_p.header.output_bytes = kOutputBytes;
  l_p.header.scratch_bytes = kScratchBytes;
  return l_p;
}

/// The expected output and scratch buffers: the reference applied to the model, layer by
/// layer, through the same buffer offsets as the descriptors.
struct Expected {
  std::vector<int8_t> output, scratch;
};

Expected reference_buffers(const Model& p_m) {
  std::vector<int8_t> l_scratch(kScratchBytes, kFillByte);
  std::vector<int8_t> l_output(kOutputBytes, kFillByte);
  const std::vector<int8_t> l_conv0 =
      ref::conv(ref::make_shape(16, 16, 3, 8, 3, 2, Padding::kSame), p_m.image, p_m.conv0_w, p_m.conv0_cq, p_m.conv0_q);
  const std::vector<int8_t> l_sesl = tb::run_reference(p_m.firb2, tb::run_reference(p_m.firb1, l_conv0));
  std::copy(l_sesl.begin(), l_sesl.end(), l_scratch.begin() + cfg::kSeslOutOff);
  const auto l_buffer = [&](uint32_t p_id) -> std::vector<int8_t>& {
    return p_id == static_cast<uint32_t>(BufferId::kOutput) ? l_output : l_scratch;
  };
  for (const Layer& l_layer : p_m.layers) {
    const LayerDesc& l_d = l_layer.desc;
    const size_t l_inBytes = size_t{l_d.in_h} * l_d.in_w * l_d.in_c;
    const std::vector<int8_t>& l_src = l_buffer(l_d.in_buf);
    const std::vector<int8_t> l_in(l_src.begin() + l_d.in_off, l_src.begin() + l_d.in_off + l_inBytes);
    std::vector<int8_t> l_out;
    if (static_cast<LayerKind>(l_d.kind) == LayerKind::kAdd) {
      const std::vector<int8_t>& l_src2 = l_buffer(l_d.in2_buf);
      const std::vector<int8_t> l_in2(l_src2.begin() + l_d.in2_off, l_src2.begin() + l_d.in2_off + l_inBytes);
      l_out = ref::add(l_in, l_in2, desc_add(l_d));
    } else {
      ref::ConvShape l_s;
      l_s.in_h = static_cast<int>(l_d.in_h);
      l_s.in_w = static_cast<int>(l_d.in_w);
      l_s.in_c = static_cast<int>(l_d.in_c);
      l_s.out_h = static_cast<int>(l_d.out_h);
      l_s.out_w = static_cast<int>(l_d.out_w);
      l_s.out_c = static_cast<int>(l_d.out_c);
      l_s.k = static_cast<int>(l_d.kernel);
      l_s.stride = static_cast<int>(l_d.stride);
      l_s.pad_top = static_cast<int>(l_d.pad_top);
      l_s.pad_left = static_cast<int>(l_d.pad_left);
      l_out = static_cast<LayerKind>(l_d.kind) == LayerKind::kDepthwise
                  ? ref::depthwise(l_s, l_in, l_layer.w, l_layer.cq, desc_quant(l_d))
                  : ref::conv(l_s, l_in, l_layer.w, l_layer.cq, desc_quant(l_d));
    }
    std::copy(l_out.begin(), l_out.end(), l_buffer(l_d.out_buf).begin() + l_d.out_off);
  }
  return Expected{l_output, l_scratch};
}

/// A buffer with guard bytes on both sides.
template <class T>
class Guarded {
 public:
  Guarded(size_t p_count, T p_fill) : m_count(p_count), m_mem(p_count + 2 * kGuard, guard_value()) {
    std::fill(m_mem.begin() + kGuard, m_mem.begin() + kGuard + p_count, p_fill);
  }
  T* data() { return m_mem.data() + kGuard; }
  std::vector<T> contents() const { return std::vector<T>(m_mem.begin() + kGuard, m_mem.begin() + kGuard + m_count); }
  bool guards_intact() const {
    for (size_t l_i = 0; l_i < kGuard; ++l_i) {
      if (m_mem[l_i] != guard_value() || m_mem[kGuard + m_count + l_i] != guard_value()) {
        return false;
      }
    }
    return true;
  }

 private:
  static T guard_value() { return static_cast<T>(kGuardByte); }
  size_t m_count;
  std::vector<T> m_mem;
};

/// The argument registers of one run.
struct Args {
  uint32_t input_bytes = kInputBytes;
  uint32_t output_bytes = kOutputBytes;
  uint32_t bundle_bytes = 0;  ///< 0: the bundle's own size
  uint32_t scratch_bytes = kScratchBytes;
  uint32_t layer_count = 6;
  uint32_t mode = 0;
};

/// What one kernel call produced.
struct Result {
  uint64_t id = 0;
  uint32_t status = 0;
  uint64_t cycles = 0;         ///< the cycle register
  uint64_t kernel_cycles = 0;  ///< the timed model's cycles of the whole run
  std::vector<int8_t> output, scratch;
  bool guards_intact = false;
  uint32_t error() const { return regmap::status::kError.get(status); }
  uint32_t code() const { return regmap::status::kCode.get(status); }
  uint32_t layer() const { return regmap::status::kLayer.get(status); }
};

/// Calls fibha_top on guarded copies of the image and bundle.
Result call_kernel(const std::vector<int8_t>& p_image, const std::vector<uint32_t>& p_bundle, const Args& p_args) {
  Guarded<int8_t> l_input(kInputBytes, 0);
  std::memcpy(l_input.data(), p_image.data(), kInputBytes);
  Guarded<int8_t> l_output(kOutputBytes, kFillByte);
  Guarded<int8_t> l_scratch(kScratchBytes, kFillByte);
  Guarded<uint32_t> l_bundle(p_bundle.size(), 0);
  std::memcpy(l_bundle.data(), p_bundle.data(), p_bundle.size() * 4);
  Result l_r;
  const uint32_t l_bundleBytes = p_args.bundle_bytes != 0 ? p_args.bundle_bytes : static_cast<uint32_t>(p_bundle.size() * 4);
  csim::Kernel l_kernel("fibha_top", tb::bench_platform());
  l_kernel.run([&] {
    fibha_top(l_input.data(), l_output.data(), l_bundle.data(), l_scratch.data(), p_args.input_bytes,
              p_args.output_bytes, l_bundleBytes, p_args.scratch_bytes, p_args.layer_count, p_args.mode, &l_r.id,
              &l_r.status, &l_r.cycles);
  });
  l_r.kernel_cycles = l_kernel.cycles();
  l_r.output = l_output.contents();
  l_r.scratch = l_scratch.contents();
  l_r.guards_intact = l_input.guards_intact() && l_output.guards_intact() && l_scratch.guards_intact() &&
                      l_bundle.guards_intact() && l_input.contents() == p_image;
  return l_r;
}

void good_run(const Model& p_m, const Program& p_p) {
  const Result l_r = call_kernel(p_m.image, p_p.words(), Args{});
  if (l_r.error() != 0) {
    tb::fail(std::string("valid run reported ") + regmap::status_code_name(static_cast<StatusCode>(l_r.code())) +
             " at layer " + std::to_string(l_r.layer()));
    return;
  }
  if (l_r.id != cfg::kPlanHash) {
    tb::fail("id register does not hold the plan hash");
  }
  // SESL: conv 3x3/2, FIRB t1 skip, FIRB t4 5x5/2; SEML: PW, DW, PW, ADD, DW 5x5/2, CONV.
  const Expected l_want = reference_buffers(p_m);
  tb::compare("fibha_top: output buffer (SESL + 6 SEML layers)", l_r.output, l_want.output, 2, 20);
  tb::compare("fibha_top: scratch buffer (every intermediate map)", l_r.scratch, l_want.scratch, 1, 1);
  if (!l_r.guards_intact) {
    tb::fail("valid run: a guard byte or the input changed");
  }
  // The cycle register counts from ap_start to ap_done: the timed run's whole length.
  if (l_r.cycles != l_r.kernel_cycles || l_r.cycles == 0) {
    tb::fail("cycle register " + std::to_string(l_r.cycles) + ", the timed run took " +
             std::to_string(l_r.kernel_cycles));
  } else {
    std::printf("  ok   cycle register: %llu cycles, the timed run's length\n",
                static_cast<unsigned long long>(l_r.cycles));
  }
}

/// Drives the kernel through the register model, as the runtime does on the board.
void register_model_run(const Model& p_m, const Program& p_p) {
  namespace r = regmap;
  std::vector<int8_t> l_input = p_m.image;
  std::vector<int8_t> l_output(kOutputBytes, kFillByte);
  std::vector<int8_t> l_scratch(kScratchBytes, kFillByte);
  std::vector<uint32_t> l_bundle = p_p.words();
  // A device address space: four buffers at fixed addresses.
  struct Region {
    uint64_t base;
    void* host;
    uint64_t bytes;
  };
  const std::vector<Region> l_map = {{0x70000000, l_input.data(), l_input.size()},
                                     {0x70100000, l_output.data(), l_output.size()},
                                     {0x70200000, l_bundle.data(), l_bundle.size() * 4},
                                     {0x70300000, l_scratch.data(), l_scratch.size()}};
  csim::RegisterModel l_regs(&fibha_top, [&](uint64_t p_addr, uint64_t p_bytes) -> void* {
    for (const Region& l_reg : l_map) {
      if (p_addr >= l_reg.base && p_addr - l_reg.base <= l_reg.bytes && p_bytes <= l_reg.bytes - (p_addr - l_reg.base)) {
        return static_cast<int8_t*>(l_reg.host) + (p_addr - l_reg.base);
      }
    }
    return nullptr;
  });
  const auto l_write64 = [&](uint32_t p_lo, uint32_t p_hi, uint64_t p_value) {
    l_regs.write32(p_lo, static_cast<uint32_t>(p_value));
    l_regs.write32(p_hi, static_cast<uint32_t>(p_value >> 32));
  };
  // Identify first, as the runtime does before loading a bundle.
  l_regs.write32(r::kMode, r::mode::kIdentify.mask());
  l_regs.write32(r::kCtrl, r::ctrl::kApStart.mask());
  const uint64_t l_id = l_regs.read32(r::kId) | (static_cast<uint64_t>(l_regs.read32(r::kIdHi)) << 32);
  if (l_id != cfg::kPlanHash || l_regs.read32(r::kStatus) != 0 || l_output != std::vector<int8_t>(kOutputBytes, kFillByte)) {
    tb::fail("register model: identify run did not publish the plan hash alone");
  }
  l_regs.read32(r::kCtrl);  // consume ap_done of the identify run
  l_write64(r::kInputAddr, r::kInputAddrHi, l_map[0].base);
  l_write64(r::kOutputAddr, r::kOutputAddrHi, l_map[1].base);
  l_write64(r::kBundleAddr, r::kBundleAddrHi, l_map[2].base);
  l_write64(r::kScratchAddr, r::kScratchAddrHi, l_map[3].base);
  l_regs.write32(r::kInputBytes, kInputBytes);
  l_regs.write32(r::kOutputBytes, kOutputBytes);
  l_regs.write32(r::kBundleBytes, static_cast<uint32_t>(l_bundle.size() * 4));
  l_regs.write32(r::kScratchBytes, kScratchBytes);
  l_regs.write32(r::kLayerCount, 6);
  l_regs.write32(r::kMode, 0);
  l_regs.write32(r::kGie, r::gie::kEnable.mask());
  l_regs.write32(r::kIer, r::ier::kDone.mask());
  if (l_regs.read32(r::kBundleBytes) != l_bundle.size() * 4 || l_regs.read32(r::kInputAddr) != 0x70000000) {
    tb::fail("register model: argument registers do not read back");
  }
  l_regs.write32(r::kCtrl, r::ctrl::kApStart.mask());
  const uint32_t l_ctrl = l_regs.read32(r::kCtrl);
  if (r::ctrl::kApDone.get(l_ctrl) != 1 || r::ctrl::kApIdle.get(l_ctrl) != 1 || !l_regs.interrupt()) {
    tb::fail("register model: ap_done/ap_idle/interrupt not raised after the run");
  }
  if (r::ctrl::kApDone.get(l_regs.read32(r::kCtrl)) != 0) {
    tb::fail("register model: ap_done is not clear-on-read");
  }
  if (l_regs.read32(r::kStatusVld) != 1 || l_regs.read32(r::kStatusVld) != 0) {
    tb::fail("register model: status ap_vld is not set once and cleared on read");
  }
  if (l_regs.read32(r::kStatus) != 0) {
    tb::fail("register model: status " + std::to_string(l_regs.read32(r::kStatus)));
  }
  l_regs.write32(r::kIsr, r::isr::kDone.mask());
  if (l_regs.interrupt()) {
    tb::fail("register model: writing ISR did not clear the interrupt");
  }
  tb::compare("register model: same run through s_axilite", l_output, reference_buffers(p_m).output, 2, 20);
  // A buffer outside the address map: the model refuses before the kernel runs.
  l_write64(r::kScratchAddr, r::kScratchAddrHi, 0x10000000);
  l_regs.write32(r::kCtrl, r::ctrl::kApStart.mask());
  const uint32_t l_status = l_regs.read32(r::kStatus);
  if (r::status::kCode.get(l_status) != static_cast<uint32_t>(StatusCode::kAddressUnmapped) ||
      r::status::kError.get(l_status) != 1) {
    tb::fail("register model: an unmapped buffer address was not reported");
  } else {
    std::printf("  ok   register model: identify, handshake, interrupt, ap_vld, unmapped address\n");
  }
}

/// One bad-input scenario: a change to a valid run and the status it must produce.
struct BadCase {
  const char* what;
  std::function<void(Program&, Args&)> mutate;
  StatusCode code;
  uint32_t layer;       ///< expected status.layer
  bool before_any_run;  ///< true: the kernel must write nothing at all
};

void bad_inputs(const Model& p_m, const Program& p_good) {
  const uint32_t l_lastParam = p_good.base.size();
  const std::vector<BadCase> l_cases = {
      {"reserved mode bit", [](Program&, Args& p_a) { p_a.mode = 4; }, StatusCode::kMode, kNoLayer, true},
      {"bundle smaller than its header", [](Program&, Args& p_a) { p_a.bundle_bytes = 16; },
       StatusCode::kBundleHeader, kNoLayer, true},
      {"bundle size not a multiple of 4", [&](Program& p_p, Args& p_a) {
         p_a.bundle_bytes = static_cast<uint32_t>(p_p.words().size() * 4 - 1);
       }, StatusCode::kBundleHeader, kNoLayer, true},
      {"bundle magic", [](Program& p_p, Args&) { p_p.header.magic ^= 1; }, StatusCode::kBundleHeader, kNoLayer, true},
      {"bundle version", [](Program& p_p, Args&) { p_p.header.version = regmap::kBundleVersion + 1; },
       StatusCode::kBundleHeader, kNoLayer, true},
      {"bundle reserved word", [](Program& p_p, Args&) { p_p.header.reserved = 1; }, StatusCode::kBundleHeader,
       kNoLayer, true},
      {"total_bytes past bundle_bytes", [](Program& p_p, Args&) { p_p.total_bytes_delta = 4; },
       StatusCode::kBundleHeader, kNoLayer, true},
      {"total_bytes not a multiple of 4", [](Program& p_p, Args&) { p_p.total_bytes_delta = -2; },
       StatusCode::kBundleHeader, kNoLayer, true},
      {"plan hash of another plan", [](Program& p_p, Args&) { p_p.header.plan_hash_hi ^= 0x100; },
       StatusCode::kPlanHash, kNoLayer, true},
      {"layer count over the maximum", [](Program&, Args& p_a) { p_a.layer_count = cfg::kMaxLayers + 1; },
       StatusCode::kLayerCount, kNoLayer, true},
      {"layer count register differs from the header's", [](Program&, Args& p_a) { p_a.layer_count = 5; },
       StatusCode::kLayerCount, kNoLayer, true},
      {"layer count past the descriptor table", [](Program& p_p, Args& p_a) {
         p_a.layer_count = 7;
         p_p.patch = [](std::vector<uint32_t>& p_w) { p_w[offsetof(regmap::BundleHeader, layer_count) / 4] = 7; };
       }, StatusCode::kLayerCount, kNoLayer, true},
      {"descriptor table cut by total_bytes", [&](Program& p_p, Args&) {
         p_p.total_bytes_delta = static_cast<int32_t>(l_lastParam + 100) - static_cast<int32_t>(p_p.words().size() * 4);
       }, StatusCode::kLayerCount, kNoLayer, true},
      {"SESL section size", [](Program& p_p, Args&) { p_p.header.sesl_bytes += 4; }, StatusCode::kSeslParams,
       kNoLayer, true},
      {"SESL section outside the bundle", [](Program& p_p, Args&) { p_p.header.sesl_off = 0xFFFFFFF0u; },
       StatusCode::kSeslParams, kNoLayer, true},
      {"SESL clamp min > max", [](Program& p_p, Args&) {
         p_p.base.set_word(p_p.header.sesl_off + 8, 100);
         p_p.base.set_word(p_p.header.sesl_off + 12, 50);
       }, StatusCode::kSeslParams, kNoLayer, true},
      {"SESL shift out of range", [](Program& p_p, Args&) {
         p_p.base.set_word(p_p.header.sesl_off + 16 + 4 * 8 * 2, 31);
       }, StatusCode::kSeslParams, kNoLayer, true},
      {"input buffer smaller than the image", [](Program&, Args& p_a) { p_a.input_bytes = kInputBytes - 1; },
       StatusCode::kSeslBuffers, kNoLayer, true},
      {"scratch too small for the SESL output", [](Program&, Args& p_a) { p_a.scratch_bytes = 100; },
       StatusCode::kSeslBuffers, kNoLayer, true},
      {"descriptor magic", [](Program& p_p, Args&) { p_p.descs[2].magic = 0; }, StatusCode::kDescMagic, 2, true},
      {"descriptor reserved word", [](Program& p_p, Args&) { p_p.descs[4].reserved1 = 1; }, StatusCode::kDescMagic, 4,
       true},
      {"unknown layer kind", [](Program& p_p, Args&) { p_p.descs[1].kind = 9; }, StatusCode::kLayerKind, 1, true},
      {"stride 3", [](Program& p_p, Args&) { p_p.descs[4].stride = 3; }, StatusCode::kGeometry, 4, true},
      {"pad_top >= kernel", [](Program& p_p, Args&) { p_p.descs[1].pad_top = 3; }, StatusCode::kGeometry, 1, true},
      {"depthwise in_c != out_c", [](Program& p_p, Args&) { p_p.descs[1].out_c = 47; }, StatusCode::kGeometry, 1,
       true},
      {"pointwise with a 3x3 kernel", [](Program& p_p, Args&) { p_p.descs[0].kernel = 3; }, StatusCode::kGeometry, 0,
       true},
      {"output rows past the padded input", [](Program& p_p, Args&) { p_p.descs[5].out_h = 4; },
       StatusCode::kGeometry, 5, true},
      {"zero-sized dimension", [](Program& p_p, Args&) { p_p.descs[3].in_w = 0; }, StatusCode::kGeometry, 3, true},
      {"writes to the input buffer", [](Program& p_p, Args&) { p_p.descs[5].out_buf = 0; }, StatusCode::kBufferId, 5,
       true},
      {"unknown input buffer", [](Program& p_p, Args&) { p_p.descs[2].in_buf = 7; }, StatusCode::kBufferId, 2, true},
      {"input offset wraps 32 bits", [](Program& p_p, Args&) { p_p.descs[0].in_off = 0xFFFFFFF0u; },
       StatusCode::kInputRange, 0, true},
      {"input dims overflow 32 bits", [](Program& p_p, Args&) {
         LayerDesc& l_d = p_p.descs[3];  // the ADD: in = out dims, 65536 x 65536 x 12
         l_d.in_h = l_d.out_h = 65536;
         l_d.in_w = l_d.out_w = 65536;
       }, StatusCode::kInputRange, 3, true},
      {"second ADD input past scratch", [](Program& p_p, Args&) { p_p.descs[3].in2_off = kScratchBytes - 100; },
       StatusCode::kInputRange, 3, true},
      {"output past the output buffer", [](Program& p_p, Args&) { p_p.descs[5].out_off = kOutputBytes - 10; },
       StatusCode::kOutputRange, 5, true},
      {"output overlaps the input", [](Program& p_p, Args&) { p_p.descs[2].out_off = 1000; }, StatusCode::kOverlap, 2,
       true},
      {"weights past the bundle", [](Program& p_p, Args&) { p_p.descs[0].weight_off = 0x7FFFFFF0; },
       StatusCode::kParamRange, 0, true},
      {"misaligned bias table", [](Program& p_p, Args&) { p_p.descs[1].bias_off += 2; }, StatusCode::kParamRange, 1,
       true},
      {"pointwise in_c over the engine's 64", [](Program& p_p, Args&) {
         LayerDesc& l_d = p_p.descs[0];
         l_d.in_c = 65;
         l_d.in_off = 2200;
         l_d.weight_off = 0;  // any in-bundle bytes: validation stops at the engine limit
       }, StatusCode::kEngineLimit, 0, true},
      {"depthwise kernel over the engine's 5", [](Program& p_p, Args&) {
         LayerDesc& l_d = p_p.descs[4];
         l_d.kernel = 7;
         l_d.weight_off = 0;
       }, StatusCode::kEngineLimit, 4, true},
      {"conv width over the engine's 16", [](Program& p_p, Args&) {
         LayerDesc& l_d = p_p.descs[5];
         l_d.in_w = 17;
         l_d.out_w = 1;
         l_d.pad_left = 0;
         l_d.out_buf = static_cast<uint32_t>(BufferId::kScratch);
         l_d.out_off = 3000;
         l_d.weight_off = 0;
       }, StatusCode::kEngineLimit, 5, true},
      {"output zero point 200", [](Program& p_p, Args&) { p_p.descs[1].out_zp = 200; }, StatusCode::kQuant, 1, true},
      {"ADD left shift 25", [](Program& p_p, Args&) { p_p.descs[3].left_shift = 25; }, StatusCode::kQuant, 3, true},
      {"negative multiplier in the bundle (found while loading)", [](Program& p_p, Args&) {
         p_p.base.set_word(p_p.descs[2].mult_off + 4 * 5, 0x80000000u);
       }, StatusCode::kQuant, 2, false},
      {"shift 40 in the bundle (found while loading)", [](Program& p_p, Args&) {
         p_p.base.set_word(p_p.descs[5].shift_off, 40);
       }, StatusCode::kQuant, 5, false},
  };
  const std::vector<int8_t> l_untouched(kOutputBytes, kFillByte);
  const std::vector<int8_t> l_untouchedScratch(kScratchBytes, kFillByte);
  int l_passed = 0;
  for (const BadCase& l_case : l_cases) {
    Program l_p = p_good;
    Args l_a;
    l_case.mutate(l_p, l_a);
    const Result l_r = call_kernel(p_m.image, l_p.words(), l_a);
    const std::string l_name = std::string("bad input '") + l_case.what + "'";
    const bool l_codeOk = l_r.error() == 1 && l_r.code() == static_cast<uint32_t>(l_case.code) &&
                          l_r.layer() == l_case.layer;
    const bool l_nothingWritten = l_r.output == l_untouched && l_r.scratch == l_untouchedScratch;
    if (!l_codeOk) {
      tb::fail(l_name + ": status error=" + std::to_string(l_r.error()) + " code=" +
               regmap::status_code_name(static_cast<StatusCode>(l_r.code())) + " layer=" +
               std::to_string(l_r.layer()) + ", expected " + regmap::status_code_name(l_case.code) + " at layer " +
               std::to_string(l_case.layer));
    } else if (!l_r.guards_intact) {
      tb::fail(l_name + ": a guard byte or the input changed");
    } else if (l_case.before_any_run && !l_nothingWritten) {
      tb::fail(l_name + ": the kernel wrote to the output or scratch buffer");
    } else if (l_r.id != cfg::kPlanHash) {
      tb::fail(l_name + ": the id register was not published");
    } else {
      ++l_passed;
    }
  }
  std::printf("  ok   %d of %zu bad-input cases: right status code and layer, guards intact\n", l_passed,
              l_cases.size());
}

/// mode.verify: the kernel checks the bundle's CRC-32 (one word per cycle) and touches no
/// feature-map memory; a flipped bit anywhere (weights or the checksum itself) is reported.
void verify_mode(const Model& p_m, const Program& p_good) {
  Args l_a;
  l_a.mode = regmap::mode::kVerify.mask();
  const std::vector<int8_t> l_untouched(kOutputBytes, kFillByte);
  const std::vector<uint32_t> l_words = p_good.words();
  const Result l_ok = call_kernel(p_m.image, l_words, l_a);
  // One word per cycle as a burst on the bundle's port: at least the words, at most the
  // words plus the header's single reads and the bursts' latencies.
  const uint64_t l_latencies = (regmap::kBundleHeaderWords + l_words.size() / 256 + 2) * (tb::bench_platform().latency + 2);
  if (l_ok.status != 0 || l_ok.cycles < l_words.size() || l_ok.cycles > l_words.size() + l_latencies ||
      l_ok.output != l_untouched || !l_ok.guards_intact) {
    tb::fail("verify mode: a good bundle must pass in one cycle per word and write nothing (status " +
             std::to_string(l_ok.status) + ", cycles " + std::to_string(l_ok.cycles) + ")");
    return;
  }
  int l_caught = 0;
  const size_t l_weightWord = p_good.header.params_off / 4 + 3;
  for (const size_t l_word : {l_weightWord, static_cast<size_t>(regmap::kBundleCrcWord)}) {
    Program l_p = p_good;
    l_p.patch = [l_word](std::vector<uint32_t>& p_w) { p_w[l_word] ^= 0x00010000u; };
    const Result l_r = call_kernel(p_m.image, l_p.words(), l_a);
    if (l_r.code() == static_cast<uint32_t>(StatusCode::kChecksum) && l_r.output == l_untouched) {
      ++l_caught;
    } else {
      tb::fail("verify mode: a flipped bit in word " + std::to_string(l_word) + " gave status " +
               std::to_string(l_r.status));
    }
  }
  std::printf("  ok   verify mode: CRC-32 of %zu words accepted, %d corruptions caught\n", l_words.size(), l_caught);
}

void identify_without_memory() {
  uint64_t l_id = 0;
  uint32_t l_status = 0xFFFFFFFF;
  uint64_t l_cycles = 1;
  fibha_top(nullptr, nullptr, nullptr, nullptr, 0, 0, 0, 0, 0, regmap::mode::kIdentify.mask(), &l_id, &l_status,
            &l_cycles);
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
  const Program l_program = make_program(l_model);
  std::printf("tb_top: a whole run of the demo instance\n");
  good_run(l_model, l_program);
  identify_without_memory();
  verify_mode(l_model, l_program);
  register_model_run(l_model, l_program);
  std::printf("tb_top: bad bundles, registers and descriptors\n");
  bad_inputs(l_model, l_program);
  return tb::finish("tb_top");
}
