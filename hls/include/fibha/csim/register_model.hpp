// C-simulation model of the kernel's s_axilite register block, for the testbenches
// (tb_top): 32-bit reads and writes at the offsets of the generated regmap.hpp,
// with Vitis HLS ap_ctrl_hs semantics, running the C++ kernel when ap_start is written.
//
// The model is synchronous: writing ap_start runs the kernel to completion before the
// write returns, so ap_start reads 0 afterwards and ap_idle always reads 1.
// auto_restart is stored and read back but does not loop (a host polling ap_done sees
// one completed run per start). Device addresses in the pointer registers are turned
// into host pointers by a caller-supplied translation; an address range the translation
// does not cover is reported as status code address_unmapped without running the kernel
// (on hardware that access would fault the bus).
#ifndef FIBHA_CSIM_REGISTER_MODEL_HPP
#define FIBHA_CSIM_REGISTER_MODEL_HPP

#include <cstdint>
#include <functional>

#include "fibha/regmap.hpp"
#include "fibha/top.hpp"

namespace fibha {
namespace csim {

/// The kernel's C signature (fibha_top, or the virtual board's build of it).
using KernelFunction = decltype(&fibha_top);

/// Maps [address, address + bytes) of the device's address space to host memory;
/// returns nullptr when the range is not backed.
using Translate = std::function<void*(uint64_t p_address, uint64_t p_bytes)>;

/// The register block of one accelerator instance.
class RegisterModel {
 public:
  RegisterModel(KernelFunction p_kernel, Translate p_translate) : m_kernel(p_kernel), m_translate(std::move(p_translate)) {}

  /// A 32-bit register read, with its side effects (clear-on-read bits).
  uint32_t read32(uint32_t p_offset) {
    namespace r = regmap;
    switch (p_offset) {
      case r::kCtrl: {
        uint32_t l_word = r::ctrl::kApIdle.put(0, 1);
        l_word = r::ctrl::kApDone.put(l_word, m_done ? 1 : 0);
        l_word = r::ctrl::kApReady.put(l_word, m_ready ? 1 : 0);
        l_word = r::ctrl::kAutoRestart.put(l_word, m_autoRestart ? 1 : 0);
        m_done = false;
        m_ready = false;
        return l_word;
      }
      case r::kGie:
        return m_gie;
      case r::kIer:
        return m_ier;
      case r::kIsr:
        return m_isr;
      case r::kId:
        return static_cast<uint32_t>(m_id);
      case r::kIdHi:
        return static_cast<uint32_t>(m_id >> 32);
      case r::kIdVld:
        return take(m_idVld);
      case r::kStatus:
        return m_status;
      case r::kStatusVld:
        return take(m_statusVld);
      case r::kCycles:
        return static_cast<uint32_t>(m_cycles);
      case r::kCyclesHi:
        return static_cast<uint32_t>(m_cycles >> 32);
      case r::kCyclesVld:
        return take(m_cyclesVld);
      default:
        return p_offset < kArgWords * 4 && p_offset % 4 == 0 ? m_args[p_offset / 4] : 0;
    }
  }

  /// A 32-bit register write; writing ap_start runs the kernel.
  void write32(uint32_t p_offset, uint32_t p_value) {
    namespace r = regmap;
    switch (p_offset) {
      case r::kCtrl:
        m_autoRestart = r::ctrl::kAutoRestart.get(p_value) != 0;
        if (r::ctrl::kApStart.get(p_value) != 0) {
          run();
        }
        return;
      case r::kGie:
        m_gie = p_value & r::gie::kEnable.mask();
        return;
      case r::kIer:
        m_ier = p_value & (r::ier::kDone.mask() | r::ier::kReady.mask());
        return;
      case r::kIsr:
        m_isr ^= p_value & (r::isr::kDone.mask() | r::isr::kReady.mask());
        return;
      default:
        if (is_argument(p_offset)) {
          m_args[p_offset / 4] = p_value;
        }
        return;
    }
  }

  /// The interrupt line: global enable and an enabled, pending IP interrupt.
  bool interrupt() const { return m_gie != 0 && (m_isr & m_ier) != 0; }

  /// Completed runs since construction.
  uint64_t runs() const { return m_runs; }

 private:
  static constexpr uint32_t kArgWords = regmap::kId / 4;

  static uint32_t take(bool& p_flag) {
    const uint32_t l_word = p_flag ? 1u : 0u;
    p_flag = false;
    return l_word;
  }

  /// True for the words of the input argument registers.
  static bool is_argument(uint32_t p_offset) {
    for (const regmap::RegisterInfo& l_reg : regmap::kRegisters) {
      const bool l_input = l_reg.offset >= 0x10 && l_reg.vld_offset == 0;
      if (l_input && (p_offset == l_reg.offset || (l_reg.width == 64 && p_offset == l_reg.offset + 4))) {
        return true;
      }
    }
    return false;
  }

  uint32_t arg32(uint32_t p_offset) const { return m_args[p_offset / 4]; }
  uint64_t arg64(uint32_t p_offset) const {
    return (static_cast<uint64_t>(m_args[p_offset / 4 + 1]) << 32) | m_args[p_offset / 4];
  }

  void run() {
    namespace r = regmap;
    const uint32_t l_mode = arg32(r::kMode);
    uint64_t l_id = 0;
    uint32_t l_status = 0;
    uint64_t l_cycles = 0;
    const bool l_identify = r::mode::kIdentify.get(l_mode) != 0;
    const uint32_t l_inputBytes = arg32(r::kInputBytes);
    const uint32_t l_outputBytes = arg32(r::kOutputBytes);
    const uint32_t l_bundleBytes = arg32(r::kBundleBytes);
    void* const l_input = l_identify ? nullptr : m_translate(arg64(r::kInputAddr), l_inputBytes);
    void* const l_output = l_identify ? nullptr : m_translate(arg64(r::kOutputAddr), l_outputBytes);
    // The bundle through its three ports: the kernel reads the same bytes through each.
    void* l_bundles[3] = {nullptr, nullptr, nullptr};
    const uint32_t l_bundleRegs[3] = {r::kBundleAddr, r::kParamsAAddr, r::kParamsBAddr};
    bool l_aligned = arg64(r::kOutputAddr) % 16 == 0 && arg64(r::kInputAddr) % 16 == 0;
    for (unsigned l_i = 0; l_i < 3 && !l_identify; ++l_i) {
      l_bundles[l_i] = m_translate(arg64(l_bundleRegs[l_i]), l_bundleBytes);
      l_aligned = l_aligned && arg64(l_bundleRegs[l_i]) % 16 == 0;
    }
    const bool l_mapped = l_identify || (l_input != nullptr && l_output != nullptr && l_bundles[0] != nullptr &&
                                         l_bundles[1] != nullptr && l_bundles[2] != nullptr && l_aligned);
    if (l_mapped) {
      using Beat = const Vec<16>*;
      m_kernel(static_cast<Beat>(l_input), static_cast<Vec<16>*>(l_output), static_cast<Beat>(l_bundles[0]),
               static_cast<Beat>(l_bundles[1]), static_cast<Beat>(l_bundles[2]), l_inputBytes, l_outputBytes,
               l_bundleBytes, arg32(r::kImageCount), arg32(r::kLayerCount), l_mode, &l_id, &l_status, &l_cycles);
    } else {
      // Still publish the id, as the kernel does on every run.
      m_kernel(nullptr, nullptr, nullptr, nullptr, nullptr, 0, 0, 0, 0, 0, r::mode::kIdentify.mask(), &l_id, &l_status,
               &l_cycles);
      l_status = r::status::kError.put(0, 1);
      l_status = r::status::kCode.put(l_status, static_cast<uint32_t>(r::StatusCode::kAddressUnmapped));
      l_status = r::status::kLayer.put(l_status, kNoLayer);
      l_cycles = 0;
    }
    m_id = l_id;
    m_status = l_status;
    m_cycles = l_cycles;
    m_idVld = m_statusVld = m_cyclesVld = true;
    m_done = true;
    m_ready = true;
    // As the Vitis HLS adapter: a status bit is set only when its enable bit is.
    m_isr |= m_ier & (r::isr::kDone.mask() | r::isr::kReady.mask());
    ++m_runs;
  }

  KernelFunction m_kernel;
  Translate m_translate;
  uint32_t m_args[kArgWords] = {};
  bool m_done = false;
  bool m_ready = false;
  bool m_autoRestart = false;
  uint32_t m_gie = 0;
  uint32_t m_ier = 0;
  uint32_t m_isr = 0;
  uint64_t m_id = 0;
  uint32_t m_status = 0;
  uint64_t m_cycles = 0;
  bool m_idVld = false;
  bool m_statusVld = false;
  bool m_cyclesVld = false;
  uint64_t m_runs = 0;
};

}  // namespace csim
}  // namespace fibha

#endif  // FIBHA_CSIM_REGISTER_MODEL_HPP
