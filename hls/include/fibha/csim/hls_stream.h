// C-simulation stand-in for the vendor's <hls_stream.h>, used only where Vitis HLS is absent.
//
// It offers the subset of hls::stream the fibha sources use (write, read, the << and >>
// operators, a name, and a depth template argument) and keeps time (fibha/csim/timing.hpp):
//   * inside a timed kernel run, a stream is a FIFO of its declared depth (Vitis's default
//     of 2 where none is declared): every token carries the cycle it was written in, a
//     read returns it one cycle later at the earliest, and the write of token n waits
//     until token n - depth has been read. A reader of an empty stream or a writer of a
//     full one blocks (its process's fiber yields) as the hardware's would;
//   * outside a kernel run (a testbench filling an engine's input, reading its output),
//     streams are unbounded and untimed: tokens written there are available at cycle 0;
//     reading an empty one is a fatal error (the vendor model only warns);
//   * every stream left holding data, when destroyed or at the end of the run, is
//     recorded; fibha::csim::streams_clean() reports them (the vendor model only prints a
//     warning for leftovers).
//   * the non-blocking calls ask about the running process's current cycle: empty() is
//     true unless a token is visible now (written at least one cycle before), and
//     read_nb() reads only such a token. Where the writer's process has not yet reached
//     that cycle in the simulation, the asking process waits for it (the writer writes,
//     passes the cycle, or ends); when every process waits, the earliest question is
//     answered "empty", which is exact: any later token comes after that cycle. Outside a
//     kernel run they report the C FIFO (a testbench checking what an engine left).
// write_nb and full() are not offered: no fibha engine needs them.
#ifndef FIBHA_CSIM_HLS_STREAM_H
#define FIBHA_CSIM_HLS_STREAM_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <set>
#include <string>
#include <vector>

#include "fibha/csim/timing.hpp"

namespace fibha {
namespace csim {

/// Bookkeeping shared by every stream of the process: live streams and leftovers.
class StreamLedger {
 public:
  /// A stream that was destroyed while still holding data.
  struct Leftover {
    std::string name;
    std::size_t count;
  };

  static StreamLedger& instance() {
    static StreamLedger l_ledger;
    return l_ledger;
  }

  void enroll(const void* p_stream) { m_live.insert(p_stream); }
  void retire(const void* p_stream) { m_live.erase(p_stream); }
  void note_leftover(const std::string& p_name, std::size_t p_count) {
    m_leftovers.push_back(Leftover{p_name, p_count});
  }
  const std::vector<Leftover>& leftovers() const { return m_leftovers; }
  void clear_leftovers() { m_leftovers.clear(); }
  const std::set<const void*>& live() const { return m_live; }

 private:
  std::set<const void*> m_live;
  std::vector<Leftover> m_leftovers;
};

/// Ends the simulation on a stream protocol error.
[[noreturn]] inline void stream_fatal(const std::string& p_name, const char* p_what) {
  std::fprintf(stderr, "csim: hls::stream '%s' %s\n", p_name.c_str(), p_what);
  std::abort();
}

/// Type-erased view of a stream: what the ledger, the scheduler and reports need.
class StreamBase {
 public:
  StreamBase(const char* p_name, int p_depth)
      : m_name(p_name != nullptr ? p_name : "unnamed"),
        m_depth(p_depth > 0 ? static_cast<std::size_t>(p_depth) : 2),
        m_timed(Kernel::active() != nullptr) {
    StreamLedger::instance().enroll(this);
    if (m_timed) {
      m_readTimes.assign(m_depth, 0);
    }
  }
  StreamBase(const StreamBase&) = delete;
  StreamBase& operator=(const StreamBase&) = delete;
  virtual ~StreamBase() { StreamLedger::instance().retire(this); }

  /// Number of elements currently queued.
  virtual std::size_t occupancy() const = 0;
  /// The name given at construction (the vendor model's debug name).
  const std::string& name() const { return m_name; }
  /// The FIFO depth in hardware (the declared one, or Vitis's default of 2).
  std::size_t depth() const { return m_depth; }
  /// Whether the stream belongs to a timed kernel run (bounded, timed) or to its caller.
  bool timed() const { return m_timed; }
  /// The last processes that wrote and read it (for deadlock reports), or nullptr.
  const Process* writer() const { return m_writer; }
  const Process* reader() const { return m_reader; }
  /// The process blocked on this stream, or nullptr (the kernel's bookkeeping).
  Process*& waiter() { return m_waiter; }

 protected:
  /// Timing of a read by the running process of the token written at p_written.
  void timed_read(Kernel& p_kernel, Cycle p_written) {
    Process& l_p = p_kernel.current();
    m_reader = &l_p;
    l_p.wait_until(p_written + 1, Cause::kStarved, this, m_name.c_str());
    if (m_timed) {
      m_readTimes[m_reads % m_depth] = l_p.now();
    }
    ++m_reads;
    after_access(l_p);
    p_kernel.wake(*this);
  }

  /// Timing of a write by the running process; returns the token's cycle.
  Cycle timed_write(Kernel& p_kernel) {
    Process& l_p = p_kernel.current();
    m_writer = &l_p;
    const Cycle l_offset = l_p.write_offset();
    if (m_timed && m_writes >= m_depth) {
      // Token n - depth must have been read (one cycle before this write lands).
      const Cycle l_free = m_readTimes[(m_writes - m_depth) % m_depth] + 1;
      if (l_free > l_p.now() + l_offset) {
        l_p.wait_until(l_free - l_offset, Cause::kBlocked, this, m_name.c_str());
      }
    }
    const Cycle l_at = l_p.now() + l_offset;
    ++m_writes;
    after_access(l_p);
    return l_at;
  }

  /// A stream access outside a pipelined loop is one FSM state of its own.
  static void after_access(Process& p_process) {
    if (p_process.pipeline() == nullptr) {
      p_process.advance(1, Cause::kSequential);
    }
  }

  std::string m_name;
  std::size_t m_depth;
  bool m_timed;
  std::vector<Cycle> m_readTimes;  // read cycle of the last m_depth tokens (timed streams)
  std::size_t m_reads = 0;
  std::size_t m_writes = 0;
  Process* m_writer = nullptr;
  Process* m_reader = nullptr;
  Process* m_waiter = nullptr;
};

}  // namespace csim
}  // namespace fibha

namespace hls {

/// A FIFO channel between HLS processes (C model).
/// \tparam T       element type
/// \tparam t_Depth FIFO depth; 0 means Vitis's default (2)
template <typename T, int t_Depth = 0>
class stream : public fibha::csim::StreamBase {
  static_assert(t_Depth >= 0, "a stream depth cannot be negative");

 public:
  stream() : fibha::csim::StreamBase("unnamed", t_Depth) {}
  explicit stream(const char* p_name) : fibha::csim::StreamBase(p_name, t_Depth) {}
  ~stream() override {
    if (!m_fifo.empty()) {
      fibha::csim::StreamLedger::instance().note_leftover(name(), m_fifo.size());
    }
  }

  void write(const T& p_value) {
    fibha::csim::Kernel* const l_kernel = fibha::csim::Kernel::active();
    if (l_kernel == nullptr) {
      m_fifo.push_back(Token{p_value, 0});
      return;
    }
    if (m_timed) {
      while (m_fifo.size() >= m_depth) {
        l_kernel->block_on(*this, true);
      }
    }
    m_fifo.push_back(Token{p_value, timed_write(*l_kernel)});
    l_kernel->wake(*this);
  }

  T read() {
    fibha::csim::Kernel* const l_kernel = fibha::csim::Kernel::active();
    if (l_kernel == nullptr) {
      if (m_fifo.empty()) {
        fibha::csim::stream_fatal(name(), "read while empty");
      }
      const T l_value = m_fifo.front().value;
      m_fifo.pop_front();
      return l_value;
    }
    while (m_fifo.empty()) {
      l_kernel->block_on(*this, false);
    }
    const Token l_token = m_fifo.front();
    m_fifo.pop_front();
    timed_read(*l_kernel, l_token.time);
    return l_token.value;
  }

  void read(T& p_value) { p_value = read(); }
  void operator<<(const T& p_value) { write(p_value); }
  void operator>>(T& p_value) { p_value = read(); }

  std::size_t occupancy() const override { return m_fifo.size(); }

  /// Whether no token is visible at the running process's cycle (see the file comment).
  bool empty() {
    fibha::csim::Kernel* const l_kernel = fibha::csim::Kernel::active();
    if (l_kernel == nullptr) {
      return m_fifo.empty();
    }
    const fibha::csim::Cycle l_now = l_kernel->current().now();
    for (;;) {
      if (!m_fifo.empty()) {
        return m_fifo.front().time + 1 > l_now;
      }
      if (writer_past(l_now) || l_kernel->await_writer(*this, l_now)) {
        return true;
      }
    }
  }

  /// Reads a token if one is visible at the running process's cycle.
  bool read_nb(T& p_value) {
    if (empty()) {
      return false;
    }
    p_value = read();
    return true;
  }

  /// Tokens queued (testbenches only, outside a kernel run).
  std::size_t size() const {
    untimed_only("size()");
    return m_fifo.size();
  }

 private:
  /// True when the stream's writer can no longer write a token visible at p_cycle.
  bool writer_past(fibha::csim::Cycle p_cycle) const {
    const fibha::csim::Process* const l_w = writer();
    return l_w != nullptr && (l_w->finished() || l_w->now() + l_w->write_offset() >= p_cycle);
  }

  void untimed_only(const char* p_call) const {
    if (fibha::csim::Kernel::active() != nullptr) {
      fibha::csim::stream_fatal(name(), (std::string(p_call) + " called inside a kernel run: its answer depends on "
                                                                "timing; use blocking reads and writes")
                                            .c_str());
    }
  }

  struct Token {
    T value;
    fibha::csim::Cycle time;
  };
  std::deque<Token> m_fifo;
};

}  // namespace hls

#endif  // FIBHA_CSIM_HLS_STREAM_H
