// The virtual board's accelerator: fibha_top compiled by g++ for the timed C simulation
// against an instance's generated fibha_config.hpp, behind the kernel shell (the line
// protocol of tools/vboard/src/kernel.rs). `make -C hls kernel CONFIG_DIR=DIR` links it;
// `fibha-compile build` does so for every plan as DIR/vboard/fibha_kernel. Not synthesized.
//
//   fibha_kernel                      speak the protocol on stdin/stdout (what the virtual
//                                     board runs); the cycle register is the timed model's
//   fibha_kernel --trace              the same, and one line per run on stderr with the
//                                     status, the cycles and where the time went
//   fibha_kernel --resources          print the instance's resource table and exit: per
//                                     engine, tab separated, name, the template's int8
//                                     multipliers per cycle, requantizer multipliers and
//                                     DSP slices, the PEs and DSP slices the model charged,
//                                     and the plan's cycles
//   fibha_kernel --timing BUNDLE      run the bundle outside the virtual board on one zero
//                                     image (the first call: it loads the SESL weights),
//                                     again on one (latency, the weights on chip), then on
//                                     three (throughput: the parts overlap consecutive
//                                     images), and print the timing report as JSON: the
//                                     three cycle registers, and the second run's
//                                     processes, spans, ports and schedule findings
//
// Each run translates the buffer registers through the shell's DeviceMemory: an address
// range outside every DMA buffer (or one not 16-byte aligned) ends the run with status
// address_unmapped before the kernel touches memory, as a bus fault would on the board. A
// run whose processes deadlock ends with status deadlock (the log names them); a run that
// leaves data in a stream (a hang in hardware) throws, so the board sees the kernel die.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fibha/csim/kernel_shell.hpp"
#include "fibha/csim/timing.hpp"
#include "fibha/regmap.hpp"
#include "fibha/resources.hpp"
#include "fibha/stream.hpp"
#include "fibha/top.hpp"
#include "fibha_config.hpp"

namespace {

namespace rm = fibha::regmap;
using fibha::vboard::DeviceMemory;
using fibha::vboard::RunArgs;
using fibha::vboard::RunResult;

/// The memory system of the instance's board, from its configuration.
fibha::csim::Platform platform() {
  fibha::csim::Platform l_p;
  l_p.port_bytes = fibha::config::kAxiPortBytes;
  l_p.latency = fibha::config::kAxiLatency;
  l_p.max_burst = fibha::config::kAxiMaxBurst;
  l_p.outstanding = fibha::config::kAxiOutstanding;
  l_p.ddr_bytes_per_cycle = fibha::config::kDdrBytesPerCycle;
  return l_p;
}

/// The kernel's arguments as host pointers and register values.
struct Call {
  const fibha::BundleBeat* input;
  fibha::BundleBeat* output;
  const fibha::BundleBeat* bundle;
  const fibha::BundleBeat* params_a;
  const fibha::BundleBeat* params_b;
  uint32_t input_bytes;
  uint32_t output_bytes;
  uint32_t bundle_bytes;
  uint32_t image_count;
  uint32_t layer_count;
  uint32_t mode;
};

/// Runs fibha_top once under the timing model; the kernel is kept for its report.
RunResult timed_run(const Call& p_call, fibha::csim::Kernel& p_kernel) {
  RunResult l_result;
  uint64_t l_id = 0;
  try {
    p_kernel.run([&] {
      fibha_top(p_call.input, p_call.output, p_call.bundle, p_call.params_a, p_call.params_b, p_call.input_bytes,
                p_call.output_bytes, p_call.bundle_bytes, p_call.image_count, p_call.layer_count, p_call.mode, &l_id,
                &l_result.status, &l_result.cycles);
    });
  } catch (const fibha::csim::Deadlock& l_deadlock) {
    std::fprintf(stderr, "fibha_kernel: %s\n", l_deadlock.what());
    l_result.status = fibha::vboard::error_status(rm::StatusCode::kDeadlock);
    l_result.cycles = p_kernel.cycles();
  }
  l_result.id = fibha::config::kPlanHash;
  if (!fibha::csim::streams_clean()) {
    throw std::runtime_error("a stream was left holding data: the design would hang in hardware");
  }
  return l_result;
}

/// One buffer's host pointer, or nullptr when its range is not DMA memory.
uint8_t* buffer(const RunArgs& p_args, DeviceMemory& p_memory, uint32_t p_addrReg, uint32_t p_bytesReg) {
  return p_memory.at(p_args.pair(p_addrReg), p_args.word(p_bytesReg));
}

/// Where a run's time went: its three largest charges.
std::string summary(const fibha::csim::Kernel& p_kernel) {
  std::string l_out;
  const std::vector<fibha::csim::ProcessReport> l_processes = p_kernel.processes();
  for (const fibha::csim::ProcessReport& l_p : l_processes) {
    if (l_p.depth != 1) {
      continue;
    }
    for (std::size_t l_i = 0; l_i < l_p.charges.size() && l_i < 3; ++l_i) {
      const fibha::csim::Charge& l_c = l_p.charges[l_i];
      l_out += std::string(l_out.empty() ? "" : ", ") + fibha::csim::cause_name(l_c.cause) +
               (l_c.what.empty() ? "" : " " + l_c.what) + " " + std::to_string(l_c.cycles);
    }
  }
  return l_out;
}

/// One buffer of 16-byte beats, or nullptr when its range is not DMA memory or not 16-byte
/// aligned (the m_axi ports are 128 bits wide).
const fibha::BundleBeat* beats(const RunArgs& p_args, DeviceMemory& p_memory, uint32_t p_addrReg, uint32_t p_bytesReg) {
  uint8_t* const l_host = buffer(p_args, p_memory, p_addrReg, p_bytesReg);
  return l_host != nullptr && p_args.pair(p_addrReg) % 16 == 0 ? reinterpret_cast<const fibha::BundleBeat*>(l_host)
                                                                : nullptr;
}

std::optional<RunResult> run(const RunArgs& p_args, DeviceMemory& p_memory, bool p_trace) {
  const uint32_t l_mode = p_args.word(rm::kMode);
  Call l_call{nullptr,
              nullptr,
              nullptr,
              nullptr,
              nullptr,
              p_args.word(rm::kInputBytes),
              p_args.word(rm::kOutputBytes),
              p_args.word(rm::kBundleBytes),
              p_args.word(rm::kImageCount),
              p_args.word(rm::kLayerCount),
              l_mode};
  if (rm::mode::kIdentify.get(l_mode) == 0) {
    l_call.bundle = beats(p_args, p_memory, rm::kBundleAddr, rm::kBundleBytes);
    l_call.params_a = beats(p_args, p_memory, rm::kParamsAAddr, rm::kBundleBytes);
    l_call.params_b = beats(p_args, p_memory, rm::kParamsBAddr, rm::kBundleBytes);
    l_call.input = beats(p_args, p_memory, rm::kInputAddr, rm::kInputBytes);
    l_call.output = const_cast<fibha::BundleBeat*>(beats(p_args, p_memory, rm::kOutputAddr, rm::kOutputBytes));
    const bool l_verifyOnly = rm::mode::kVerify.get(l_mode) != 0;
    const bool l_mapped = l_call.bundle != nullptr &&
                          (l_verifyOnly || (l_call.input != nullptr && l_call.output != nullptr &&
                                            l_call.params_a != nullptr && l_call.params_b != nullptr));
    if (!l_mapped) {
      RunResult l_result;
      l_result.status = fibha::vboard::error_status(rm::StatusCode::kAddressUnmapped);
      l_result.id = fibha::config::kPlanHash;
      return l_result;
    }
  }
  fibha::csim::Kernel l_kernel("fibha_top", platform());
  const RunResult l_result = timed_run(l_call, l_kernel);
  if (p_trace) {
    std::fprintf(stderr, "fibha_kernel: run: status 0x%08" PRIx32 " (%s), cycle register %" PRIu64
                         " (timed C simulation): %s\n",
                 l_result.status,
                 rm::status_code_name(static_cast<rm::StatusCode>(rm::status::kCode.get(l_result.status))),
                 l_result.cycles, summary(l_kernel).c_str());
  }
  return l_result;
}

void print_resources() {
  std::printf("# engine\ttemplate_macs_per_cycle\ttemplate_requantizers\ttemplate_dsp\tmodelled_pes\tmodelled_dsp\t"
              "plan_cycles\n");
  for (const fibha::EngineResources& l_e : fibha::config::kEngines) {
    std::printf("%s\t%u\t%u\t%u\t%u\t%u\t%" PRIu64 "\n", l_e.name, l_e.macs_per_cycle, l_e.requantizers,
                fibha::engine_dsp(l_e.macs_per_cycle, l_e.requantizers), l_e.modelled_pes, l_e.modelled_dsp,
                l_e.plan_cycles);
  }
}

/// Images in the throughput run of --timing: enough for the two parts to reach their
/// steady state (image 0 fills the SESL part, the last one drains the SEML part).
constexpr uint32_t kThroughputImages = 3;

/// Runs the bundle on p_images zero images; the kernel is kept for its report.
RunResult run_bundle(const std::vector<char>& p_bytes, uint32_t p_images, fibha::csim::Kernel& p_kernel) {
  std::vector<fibha::BundleBeat> l_bundle(p_bytes.size() / 16);
  std::memcpy(static_cast<void*>(l_bundle.data()), p_bytes.data(), p_bytes.size());
  uint32_t l_words[rm::kBundleHeaderWords];
  std::memcpy(l_words, p_bytes.data(), sizeof(l_words));
  const rm::BundleHeader l_header = rm::bundle_header_from_words(l_words);
  std::vector<fibha::BundleBeat> l_input(p_images * (l_header.input_bytes / 16 + 1), fibha::BundleBeat{});
  std::vector<fibha::BundleBeat> l_output(p_images * (l_header.output_bytes / 16 + 1), fibha::BundleBeat{});
  const Call l_call{l_input.data(),
                    l_output.data(),
                    l_bundle.data(),
                    l_bundle.data(),
                    l_bundle.data(),
                    static_cast<uint32_t>(l_input.size() * 16),
                    static_cast<uint32_t>(l_output.size() * 16),
                    static_cast<uint32_t>(p_bytes.size()),
                    p_images,
                    l_header.layer_count,
                    0};
  return timed_run(l_call, p_kernel);
}

/// --timing BUNDLE: the bundle on one zero image twice (the first call loads the SESL
/// weights; the second is the latency, with the whole report) and on kThroughputImages
/// images (the cycle register only); JSON on stdout.
int timing_report(const char* p_path) {
  std::ifstream l_file(p_path, std::ios::binary);
  if (!l_file) {
    std::fprintf(stderr, "fibha_kernel: %s: cannot open the bundle\n", p_path);
    return 2;
  }
  const std::vector<char> l_bytes((std::istreambuf_iterator<char>(l_file)), std::istreambuf_iterator<char>());
  if (l_bytes.size() < rm::kBundleHeaderWords * 4 || l_bytes.size() % 16 != 0) {
    std::fprintf(stderr, "fibha_kernel: %s: %zu bytes is not a bundle (a header of %u words, whole 16-byte beats)\n",
                 p_path, l_bytes.size(), rm::kBundleHeaderWords);
    return 2;
  }
  // The first call loads the SESL weights; later calls of the same bundle find them on
  // chip: one image then measures the latency of a deployed accelerator.
  fibha::csim::Kernel l_first("fibha_top", platform());
  const RunResult l_cold = run_bundle(l_bytes, 1, l_first);
  fibha::csim::Kernel l_single("fibha_top", platform());
  const RunResult l_one = l_cold.status == 0 ? run_bundle(l_bytes, 1, l_single) : l_cold;
  fibha::csim::Kernel l_stream("fibha_top", platform());
  const RunResult l_many = l_one.status == 0 ? run_bundle(l_bytes, kThroughputImages, l_stream) : l_one;
  if (l_many.status != 0) {
    std::fprintf(stderr, "fibha_kernel: %s: the run ended with status 0x%08" PRIx32 " (%s)\n", p_path,
                 l_many.status,
                 rm::status_code_name(static_cast<rm::StatusCode>(rm::status::kCode.get(l_many.status))));
    return 1;
  }
  std::printf("{\"cycle_register\":%" PRIu64 ",\"first_call_cycle_register\":%" PRIu64
              ",\"stream\":{\"images\":%u,\"cycle_register\":%" PRIu64 "},\"timing\":",
              l_one.cycles, l_cold.cycles, kThroughputImages, l_many.cycles);
  l_single.write_json(stdout);
  std::printf("}\n");
  return 0;
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
    if (l_arg == "--timing" && l_i + 1 < p_argc) {
      return timing_report(p_argv[l_i + 1]);
    }
    if (l_arg == "--trace") {
      l_trace = true;
    } else {
      std::fprintf(stderr, "fibha_kernel: unknown argument %s (takes --trace, --resources or --timing BUNDLE)\n",
                   p_argv[l_i]);
      return 2;
    }
  }
  return fibha::vboard::run_shell(
      [l_trace](const RunArgs& p_args, DeviceMemory& p_memory) { return run(p_args, p_memory, l_trace); });
}
