// The C-simulation shell: the virtual board's line protocol and the DMA buffer mappings.
// See kernel_shell.hpp for the protocol; tools/vboard/src/kernel.rs is the other side.
#include "fibha/csim/kernel_shell.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <sstream>

namespace fibha {
namespace vboard {

namespace {

/// Parses "0x..." hex into p_value; false unless the whole text is hex.
bool parse_hex(const std::string& p_text, uint64_t& p_value) {
  if (p_text.size() < 3 || p_text.size() > 18 || p_text[0] != '0' || p_text[1] != 'x') {
    return false;
  }
  uint64_t l_value = 0;
  for (size_t l_i = 2; l_i < p_text.size(); ++l_i) {
    char l_c = p_text[l_i];
    uint64_t l_digit;
    if (l_c >= '0' && l_c <= '9') {
      l_digit = static_cast<uint64_t>(l_c - '0');
    } else if (l_c >= 'a' && l_c <= 'f') {
      l_digit = static_cast<uint64_t>(l_c - 'a' + 10);
    } else if (l_c >= 'A' && l_c <= 'F') {
      l_digit = static_cast<uint64_t>(l_c - 'A' + 10);
    } else {
      return false;
    }
    l_value = (l_value << 4) | l_digit;
  }
  p_value = l_value;
  return true;
}

/// Parses a decimal count into p_value; false unless the whole text is digits.
bool parse_dec(const std::string& p_text, uint64_t& p_value) {
  if (p_text.empty() || p_text.size() > 19) {
    return false;
  }
  uint64_t l_value = 0;
  for (char l_c : p_text) {
    if (l_c < '0' || l_c > '9') {
      return false;
    }
    l_value = l_value * 10 + static_cast<uint64_t>(l_c - '0');
  }
  p_value = l_value;
  return true;
}

/// `buf <name> <phys> <size> <path>`; the path is the rest of the line (it may hold spaces).
std::string handle_buf(std::istringstream& p_line, DeviceMemory& p_memory) {
  std::string l_name, l_phys, l_size;
  if (!(p_line >> l_name >> l_phys >> l_size)) {
    return "buf needs <name> <phys> <size> <path>";
  }
  std::string l_path;
  std::getline(p_line >> std::ws, l_path);
  uint64_t l_addr = 0, l_bytes = 0;
  if (!parse_hex(l_phys, l_addr) || !parse_dec(l_size, l_bytes) || l_path.empty()) {
    return "buf " + l_name + ": bad address, size or path";
  }
  return p_memory.add(l_name, l_addr, l_bytes, l_path);
}

/// `run <offset>=<value> ...`.
bool parse_run(std::istringstream& p_line, RunArgs& p_args) {
  std::string l_item;
  while (p_line >> l_item) {
    size_t l_eq = l_item.find('=');
    uint64_t l_offset = 0, l_value = 0;
    if (l_eq == std::string::npos || !parse_hex(l_item.substr(0, l_eq), l_offset) ||
        !parse_hex(l_item.substr(l_eq + 1), l_value) || l_offset > UINT32_MAX || l_value > UINT32_MAX) {
      return false;
    }
    p_args.set(static_cast<uint32_t>(l_offset), static_cast<uint32_t>(l_value));
  }
  return true;
}

void report(std::ostream& p_out, const RunResult& p_result) {
  char l_line[128];
  if (p_result.id) {
    std::snprintf(l_line, sizeof l_line, "done status=0x%" PRIx32 " cycles=%" PRIu64 " id=0x%016" PRIx64 "\n",
                  p_result.status, p_result.cycles, *p_result.id);
  } else {
    std::snprintf(l_line, sizeof l_line, "done status=0x%" PRIx32 " cycles=%" PRIu64 "\n", p_result.status,
                  p_result.cycles);
  }
  p_out << l_line << std::flush;
}

}  // namespace

DeviceMemory::~DeviceMemory() {
  for (const DmaBuffer& l_buffer : m_buffers) {
    if (l_buffer.size != 0) {
      munmap(l_buffer.data, l_buffer.size);
    }
  }
}

std::string DeviceMemory::add(const std::string& p_name, uint64_t p_phys, uint64_t p_size,
                              const std::string& p_path) {
  if (p_size == 0 || p_phys + p_size < p_phys) {
    return "buffer " + p_name + ": empty or wraps the address space";
  }
  for (const DmaBuffer& l_other : m_buffers) {
    if (p_phys < l_other.phys + l_other.size && l_other.phys < p_phys + p_size) {
      return "buffer " + p_name + " overlaps buffer " + l_other.name;
    }
  }
  int l_fd = open(p_path.c_str(), O_RDWR | O_CLOEXEC);
  if (l_fd < 0) {
    return "buffer " + p_name + ": cannot open " + p_path + ": " + std::strerror(errno);
  }
  struct stat l_stat;
  // Mapping past the end of a file raises SIGBUS on first touch: check the length first.
  if (fstat(l_fd, &l_stat) != 0 || static_cast<uint64_t>(l_stat.st_size) < p_size) {
    close(l_fd);
    return "buffer " + p_name + ": " + p_path + " is shorter than " + std::to_string(p_size) + " bytes";
  }
  void* l_map = mmap(nullptr, p_size, PROT_READ | PROT_WRITE, MAP_SHARED, l_fd, 0);
  int l_error = errno;
  close(l_fd);
  if (l_map == MAP_FAILED) {
    return "buffer " + p_name + ": cannot map " + p_path + ": " + std::strerror(l_error);
  }
  m_buffers.push_back(DmaBuffer{p_name, p_phys, p_size, p_path, static_cast<uint8_t*>(l_map)});
  return "";
}

uint8_t* DeviceMemory::at(uint64_t p_addr, uint64_t p_len) const {
  for (const DmaBuffer& l_buffer : m_buffers) {
    if (p_addr < l_buffer.phys) {
      continue;
    }
    uint64_t l_offset = p_addr - l_buffer.phys;
    // Written so that no sum can overflow.
    if (l_offset <= l_buffer.size && p_len <= l_buffer.size - l_offset) {
      return l_buffer.data + l_offset;
    }
  }
  return nullptr;
}

uint32_t RunArgs::word(uint32_t p_offset) const {
  auto l_found = m_words.find(p_offset);
  return l_found == m_words.end() ? 0 : l_found->second;
}

uint64_t RunArgs::pair(uint32_t p_low) const {
  return static_cast<uint64_t>(word(p_low)) | (static_cast<uint64_t>(word(p_low + 4)) << 32);
}

uint32_t error_status(regmap::StatusCode p_code) {
  uint32_t l_word = regmap::status::kError.put(0, 1);
  l_word = regmap::status::kCode.put(l_word, static_cast<uint32_t>(p_code));
  return regmap::status::kLayer.put(l_word, 0xFFFF);
}

int run_shell(const KernelFn& p_kernel, std::istream& p_in, std::ostream& p_out) {
  DeviceMemory l_memory;
  p_out << "hello fibha-kernel " << kProtocolVersion << "\n" << std::flush;
  std::string l_text;
  while (std::getline(p_in, l_text)) {
    std::istringstream l_line(l_text);
    std::string l_command;
    l_line >> l_command;
    if (l_command == "buf") {
      std::string l_error = handle_buf(l_line, l_memory);
      if (!l_error.empty()) {
        std::cerr << "fibha kernel: " << l_error << "\n";
        return 2;
      }
    } else if (l_command == "run") {
      RunArgs l_args;
      if (!parse_run(l_line, l_args)) {
        std::cerr << "fibha kernel: malformed run line: " << l_text << "\n";
        return 2;
      }
      std::optional<RunResult> l_result;
      try {
        l_result = p_kernel(l_args, l_memory);
      } catch (const std::exception& l_error) {
        std::cerr << "fibha kernel: the run threw: " << l_error.what() << "\n";
        return 3;
      }
      if (l_result) {
        report(p_out, *l_result);
      }
    } else if (l_command == "quit") {
      break;
    } else if (!l_command.empty()) {
      std::cerr << "fibha kernel: unknown command: " << l_text << "\n";
      return 2;
    }
  }
  return 0;
}

int run_shell(const KernelFn& p_kernel) { return run_shell(p_kernel, std::cin, std::cout); }

}  // namespace vboard
}  // namespace fibha
