// A tiny accelerator for the virtual board's tests: it copies input_bytes bytes from the
// input buffer to the output buffer, inverting every bit, and reports cycles = input_bytes.
//
// Arguments: `hang` (accept runs and never answer, as a hung kernel), `--id=0x<hex>` (the
// plan hash to report in the id register; without it the board uses the descriptor's).
// It follows the real kernel's contract: mode.identify touches no memory, an output region
// smaller than the input is status output_range, an address range outside every DMA
// buffer is status address_unmapped.
#include <cstdio>
#include <cstring>
#include <string>

#include "fibha/regmap.hpp"
#include "fibha/csim/kernel_shell.hpp"

namespace {

namespace rm = fibha::regmap;
using fibha::vboard::DeviceMemory;
using fibha::vboard::RunArgs;
using fibha::vboard::RunResult;

std::optional<RunResult> invert(const RunArgs& p_args, DeviceMemory& p_memory, std::optional<uint64_t> p_id) {
  RunResult l_result;
  l_result.id = p_id;
  if (rm::mode::kIdentify.get(p_args.word(rm::kMode)) != 0) {
    return l_result;
  }
  uint32_t l_bytes = p_args.word(rm::kInputBytes);
  if (p_args.word(rm::kOutputBytes) < l_bytes) {
    l_result.status = fibha::vboard::error_status(rm::StatusCode::kOutputRange);
    return l_result;
  }
  const uint8_t* l_in = p_memory.at(p_args.pair(rm::kInputAddr), l_bytes);
  uint8_t* l_out = p_memory.at(p_args.pair(rm::kOutputAddr), l_bytes);
  if (l_in == nullptr || l_out == nullptr) {
    l_result.status = fibha::vboard::error_status(rm::StatusCode::kAddressUnmapped);
    return l_result;
  }
  for (uint32_t l_i = 0; l_i < l_bytes; ++l_i) {
    l_out[l_i] = static_cast<uint8_t>(~l_in[l_i]);
  }
  l_result.cycles = l_bytes;
  return l_result;
}

}  // namespace

int main(int argc, char** argv) {
  bool l_hang = false;
  std::optional<uint64_t> l_id;
  for (int l_i = 1; l_i < argc; ++l_i) {
    std::string l_arg = argv[l_i];
    if (l_arg == "hang") {
      l_hang = true;
    } else if (l_arg.rfind("--id=0x", 0) == 0) {
      l_id = std::stoull(l_arg.substr(7), nullptr, 16);
    } else {
      std::fprintf(stderr, "test_kernel: unknown argument %s\n", argv[l_i]);
      return 2;
    }
  }
  return fibha::vboard::run_shell([&](const RunArgs& p_args, DeviceMemory& p_memory) -> std::optional<RunResult> {
    if (l_hang) {
      return std::nullopt;
    }
    return invert(p_args, p_memory, l_id);
  });
}
