// The virtual board's accelerator: fibha_top compiled by g++ for C simulation against an
// instance's generated fibha_config.hpp, behind tools/vboard's kernel shell (the line
// protocol of tools/vboard/src/kernel.rs). `fibha-compile build` links it as
// DIR/vboard/fibha_kernel; it is not synthesized.
//
//   fibha_kernel               speak the protocol on stdin/stdout (what the virtual board runs)
//   fibha_kernel --trace       the same, and one line per run on stderr with the status, the
//                              cycle register and the C-simulation iteration count
//   fibha_kernel --resources   print the instance's resource table and exit: per engine, tab
//                              separated, name, template multipliers per cycle, PEs and DSP
//                              slices the model charged, template and plan modelled cycles
//
// Each run translates the buffer registers through the shell's DeviceMemory: an address
// range outside every DMA buffer (or a misaligned bundle) ends the run with status
// address_unmapped before the kernel touches memory, as a bus fault would on the board.
// A run that leaves data in a stream (a hang in hardware) throws, so the board sees the
// kernel die instead of an answer.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

#include "fibha/regmap.hpp"
#include "fibha/resources.hpp"
#include "fibha/stream.hpp"
#include "fibha/top.hpp"
#include "fibha_config.hpp"
#include "kernel_shell.hpp"

namespace {

namespace rm = fibha::regmap;
using fibha::vboard::DeviceMemory;
using fibha::vboard::RunArgs;
using fibha::vboard::RunResult;

/// One buffer's host pointer, or nullptr when its range is not DMA memory.
uint8_t* buffer(const RunArgs& p_args, DeviceMemory& p_memory, uint32_t p_addrReg, uint32_t p_bytesReg) {
  return p_memory.at(p_args.pair(p_addrReg), p_args.word(p_bytesReg));
}

std::optional<RunResult> run(const RunArgs& p_args, DeviceMemory& p_memory, bool p_trace) {
  RunResult l_result;
  const uint32_t l_mode = p_args.word(rm::kMode);
  uint8_t* l_input = nullptr;
  uint8_t* l_output = nullptr;
  uint8_t* l_bundle = nullptr;
  uint8_t* l_scratch = nullptr;
  if (rm::mode::kIdentify.get(l_mode) == 0) {
    l_input = buffer(p_args, p_memory, rm::kInputAddr, rm::kInputBytes);
    l_output = buffer(p_args, p_memory, rm::kOutputAddr, rm::kOutputBytes);
    l_bundle = buffer(p_args, p_memory, rm::kBundleAddr, rm::kBundleBytes);
    l_scratch = buffer(p_args, p_memory, rm::kScratchAddr, rm::kScratchBytes);
    const bool l_verifyOnly = rm::mode::kVerify.get(l_mode) != 0;
    const bool l_mapped = l_bundle != nullptr && (l_verifyOnly || (l_input != nullptr && l_output != nullptr &&
                                                                    l_scratch != nullptr));
    if (!l_mapped || reinterpret_cast<uintptr_t>(l_bundle) % 4 != 0) {
      l_result.status = fibha::vboard::error_status(rm::StatusCode::kAddressUnmapped);
      l_result.id = fibha::config::kPlanHash;
      return l_result;
    }
  }
  const uint64_t l_ticks = fibha::csim::ticks();
  uint64_t l_id = 0;
  fibha_top(reinterpret_cast<const int8_t*>(l_input), reinterpret_cast<int8_t*>(l_output),
            reinterpret_cast<const uint32_t*>(l_bundle), reinterpret_cast<int8_t*>(l_scratch),
            p_args.word(rm::kInputBytes), p_args.word(rm::kOutputBytes), p_args.word(rm::kBundleBytes),
            p_args.word(rm::kScratchBytes), p_args.word(rm::kLayerCount), l_mode, &l_id, &l_result.status,
            &l_result.cycles);
  l_result.id = l_id;
  if (!fibha::csim::streams_clean()) {
    throw std::runtime_error("a stream was left holding data: the design would hang in hardware");
  }
  if (p_trace) {
    std::fprintf(stderr,
                 "fibha_kernel: run: status 0x%08" PRIx32 " (%s), cycle register %" PRIu64
                 " (modelled), %" PRIu64 " C-simulation iterations\n",
                 l_result.status, rm::status_code_name(static_cast<rm::StatusCode>(rm::status::kCode.get(l_result.status))),
                 l_result.cycles, fibha::csim::ticks() - l_ticks);
  }
  return l_result;
}

void print_resources() {
  std::printf("# engine\ttemplate_macs_per_cycle\tmodelled_pes\tmodelled_dsp\ttemplate_cycles\tplan_cycles\n");
  for (const fibha::EngineResources& l_e : fibha::config::kEngines) {
    std::printf("%s\t%u\t%u\t%u\t%" PRIu64 "\t%" PRIu64 "\n", l_e.name, l_e.macs_per_cycle, l_e.modelled_pes,
                l_e.modelled_dsp, l_e.template_cycles, l_e.plan_cycles);
  }
}

}  // namespace

int main(int p_argc, char** p_argv) {
  bool l_trace = false;
  for (int l_i = 1; l_i < p_argc; ++l_i) {
    const std::string l_arg = p_argv[l_i];
    if (l_arg == "--resources") {
      print_resources();
      return 0;
    }
    if (l_arg == "--trace") {
      l_trace = true;
    } else {
      std::fprintf(stderr, "fibha_kernel: unknown argument %s (takes --trace or --resources)\n", p_argv[l_i]);
      return 2;
    }
  }
  return fibha::vboard::run_shell(
      [l_trace](const RunArgs& p_args, DeviceMemory& p_memory) { return run(p_args, p_memory, l_trace); });
}
