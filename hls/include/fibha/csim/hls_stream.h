// C-simulation stand-in for the vendor's <hls_stream.h>, used only where Vitis HLS is absent.
//
// It offers the subset of hls::stream the fibha sources use (write, read, read_nb,
// write_nb, empty, full, size, the << and >> operators, a name, and a depth template
// argument) with stricter checks than the vendor's C model, because a testbench that
// passes here must not hang in RTL co-simulation:
//   * reading an empty stream is a fatal error (the vendor model only warns);
//   * writing a stream declared with a depth (hls::stream<T, N>) while it holds N
//     elements is a fatal error: inside one sequential function that FIFO would block
//     forever in hardware. Streams without a depth are unbounded, as in the vendor model,
//     because C simulation runs DATAFLOW processes one after the other;
//   * every stream left holding data, when destroyed or at the end of the run, is
//     recorded; fibha::csim::streams_clean() reports them (the vendor model only prints a
//     warning for leftovers).
#ifndef FIBHA_CSIM_HLS_STREAM_H
#define FIBHA_CSIM_HLS_STREAM_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <set>
#include <string>
#include <vector>

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

/// Ends the simulation on a stream protocol error: the design would hang in hardware.
[[noreturn]] inline void stream_fatal(const std::string& p_name, const char* p_what) {
  std::fprintf(stderr, "csim: hls::stream '%s' %s\n", p_name.c_str(), p_what);
  std::abort();
}

/// Type-erased view of a live stream, so streams_clean() can inspect every one of them.
class StreamBase {
 public:
  explicit StreamBase(const char* p_name) : m_name(p_name != nullptr ? p_name : "unnamed") {
    StreamLedger::instance().enroll(this);
  }
  StreamBase(const StreamBase&) = delete;
  StreamBase& operator=(const StreamBase&) = delete;
  virtual ~StreamBase() { StreamLedger::instance().retire(this); }

  /// Number of elements currently queued.
  virtual std::size_t occupancy() const = 0;
  /// The name given at construction (the vendor model's debug name).
  const std::string& name() const { return m_name; }

 private:
  std::string m_name;
};

}  // namespace csim
}  // namespace fibha

namespace hls {

/// A FIFO channel between HLS processes (C model).
/// \tparam T       element type
/// \tparam t_Depth capacity; 0 means unbounded (the vendor's default)
template <typename T, int t_Depth = 0>
class stream : public fibha::csim::StreamBase {
  static_assert(t_Depth >= 0, "a stream depth cannot be negative");

 public:
  stream() : fibha::csim::StreamBase("unnamed") {}
  explicit stream(const char* p_name) : fibha::csim::StreamBase(p_name) {}
  ~stream() override {
    if (!m_fifo.empty()) {
      fibha::csim::StreamLedger::instance().note_leftover(name(), m_fifo.size());
    }
  }

  void write(const T& p_value) {
    if (full()) {
      fibha::csim::stream_fatal(name(), "written while full (depth exceeded)");
    }
    m_fifo.push_back(p_value);
    if (m_fifo.size() > m_highWater) {
      m_highWater = m_fifo.size();
    }
  }

  T read() {
    if (m_fifo.empty()) {
      fibha::csim::stream_fatal(name(), "read while empty");
    }
    T l_value = m_fifo.front();
    m_fifo.pop_front();
    return l_value;
  }

  void read(T& p_value) { p_value = read(); }

  bool read_nb(T& p_value) {
    if (m_fifo.empty()) {
      return false;
    }
    p_value = read();
    return true;
  }

  bool write_nb(const T& p_value) {
    if (full()) {
      return false;
    }
    write(p_value);
    return true;
  }

  void operator<<(const T& p_value) { write(p_value); }
  void operator>>(T& p_value) { p_value = read(); }

  bool empty() const { return m_fifo.empty(); }
  bool full() const { return t_Depth > 0 && m_fifo.size() >= static_cast<std::size_t>(t_Depth); }
  std::size_t size() const { return m_fifo.size(); }
  std::size_t occupancy() const override { return m_fifo.size(); }

  /// The most elements this stream ever held (C model only; not in the vendor header).
  std::size_t high_water() const { return m_highWater; }

 private:
  std::deque<T> m_fifo;
  std::size_t m_highWater = 0;
};

}  // namespace hls

#endif  // FIBHA_CSIM_HLS_STREAM_H
