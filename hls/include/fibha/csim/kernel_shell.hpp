// The C-simulation shell of the fibha accelerator on the virtual board.
//
// The virtual board (tools/vboard, `fibha-vboard serve`) runs the accelerator as a child
// process built from this shell and the instance's top-level function. The shell speaks the
// board's line protocol on stdin/stdout (see tools/vboard/src/kernel.rs and
// tools/vboard/README.md):
//
//   kernel -> board   hello fibha-kernel 1
//   board  -> kernel  buf <name> <phys 0x hex> <size> <path>      (once per DMA buffer)
//   board  -> kernel  run <offset>=<value> ...                    (each accepted ap_start)
//   kernel -> board   done status=<0x hex> cycles=<decimal> [id=<0x hex>]
//
// It maps every DMA buffer's file MAP_SHARED (the runtime maps the same files, so both see
// the same bytes) and hands the hook a DeviceMemory that turns a device address range into
// a host pointer only when the whole range lies inside one buffer: a kernel that checks the
// result never writes outside the DMA region. The hook reads its arguments by register
// offset from RunArgs, using the offsets of fibha/regmap.hpp.
//
// Use: define the hook and call run_shell from main, e.g.
//
//   int main() { return fibha::vboard::run_shell(&fibha_top_adapter); }
//
// and compile with `g++ -std=c++17 -I hls/include hls/csim/kernel_shell.cpp <adapter and
// kernel sources>`. hls/csim/fibha_kernel.cpp is the accelerator's adapter (built by
// `make -C hls kernel CONFIG_DIR=DIR`, with the timed C simulation's runtime
// hls/csim/timing.cpp and hls/csim/fiber.cpp), hls/csim/test_kernel.cpp the virtual
// board's test kernel (`make -C hls test-kernel`).
#ifndef FIBHA_VBOARD_KERNEL_SHELL_HPP
#define FIBHA_VBOARD_KERNEL_SHELL_HPP

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fibha/regmap.hpp"

namespace fibha {
namespace vboard {

/// Version of the line protocol this shell speaks (the number in its hello).
constexpr int kProtocolVersion = 1;

/// One DMA buffer, mapped into this process.
struct DmaBuffer {
  std::string name;  ///< u-dma-buf device name
  uint64_t phys;     ///< device (bus) address of byte 0
  uint64_t size;     ///< size in bytes
  std::string path;  ///< the file standing for /dev/<name>
  uint8_t* data;     ///< the mapping, size bytes
};

/// The device's view of memory: the DMA buffers at their bus addresses.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  ~DeviceMemory();

  /// Maps the file at p_path (at least p_size bytes) as buffer p_name at bus address
  /// p_phys. Returns an empty string on success, else why it failed.
  std::string add(const std::string& p_name, uint64_t p_phys, uint64_t p_size, const std::string& p_path);

  /// Host pointer to bus addresses [p_addr, p_addr + p_len), or nullptr unless the whole
  /// range lies inside one buffer. A zero-length range inside a buffer is valid.
  uint8_t* at(uint64_t p_addr, uint64_t p_len) const;

  /// The buffers, in the order they were added.
  const std::vector<DmaBuffer>& buffers() const { return m_buffers; }

 private:
  std::vector<DmaBuffer> m_buffers;
};

/// The argument registers of one run, by byte offset (32-bit words; a 64-bit argument
/// is two words, low first).
class RunArgs {
 public:
  /// Sets the word at p_offset.
  void set(uint32_t p_offset, uint32_t p_value) { m_words[p_offset] = p_value; }
  /// Whether the board sent the word at p_offset.
  bool has(uint32_t p_offset) const { return m_words.count(p_offset) != 0; }
  /// The word at p_offset; 0 when the board did not send it (registers reset to 0).
  uint32_t word(uint32_t p_offset) const;
  /// The 64-bit value whose low word is at p_low and high word at p_low + 4.
  uint64_t pair(uint32_t p_low) const;

 private:
  std::map<uint32_t, uint32_t> m_words;
};

/// What a run ends with: the output registers.
struct RunResult {
  uint32_t status = 0;          ///< the status register (error bit, code, layer)
  uint64_t cycles = 0;          ///< modelled cycles of the run
  std::optional<uint64_t> id;   ///< the plan hash compiled into the kernel, if it has one
};

/// A status word for an error not about one layer (layer field 0xFFFF).
uint32_t error_status(regmap::StatusCode p_code);

/// The hook: runs the accelerator once. Returning no result models a kernel that never
/// finishes (the board's run then hangs until the bitstream is loaded again).
using KernelFn = std::function<std::optional<RunResult>(const RunArgs&, DeviceMemory&)>;

/// Speaks the protocol on p_in/p_out until p_in ends or says `quit`; diagnostics go to
/// stderr. Returns the process exit status: 0 at the end of input, non-zero on a protocol
/// error, a buffer that cannot be mapped or an exception from the hook.
int run_shell(const KernelFn& p_kernel, std::istream& p_in, std::ostream& p_out);

/// run_shell on stdin/stdout.
int run_shell(const KernelFn& p_kernel);

}  // namespace vboard
}  // namespace fibha

#endif  // FIBHA_VBOARD_KERNEL_SHELL_HPP
