// The m_axi model of the timed C simulation: what an access to DDR through a PS-PL port
// costs, in the terms UG1399 and UG1085 describe the path.
//
//   * A port (an m_axi bundle, one HP port in the block design) has a read and a write
//     channel. Each moves one beat per cycle; a beat carries one element of the pointer's
//     type, at most the port's width (no automatic widening: the Vivado flow's default
//     alignment of 1 byte turns it off), so an int8_t* port moves one byte per beat.
//   * A transaction is a request and its beats: at most max_burst beats (16: the HP ports'
//     AXI3 conversion, UG1085), the first one `latency` cycles after the request (64:
//     UG1399's scheduling latency). Reads' beats arrive contiguously; writes' beats leave
//     as the data is produced and the response comes `latency` cycles after the last.
//   * A process has at most `outstanding` transactions in flight per port and direction
//     (16: Vitis's num_read_outstanding / num_write_outstanding default); a read's slot is
//     released when the process has consumed its last beat, a write's when its response
//     arrives.
//   * An access through fibha::axi's burst helpers (a sequential, unconditional loop at
//     II=1, the form Vitis infers bursts from) is one transaction per max_burst elements.
//     Any other access is a transaction of its own: inside a pipelined loop the loop
//     keeps issuing them up to the outstanding limit; in straight-line code the process
//     waits for each (latency + beats).
//   * Every port's beats share the DDR controller: a beat can only move in a window whose
//     bytes stay within ddr_bytes_per_cycle.
// Beats are placed in each channel's calendar of busy cycles in any order, so processes
// that run at different simulated times may share a port.
#ifndef FIBHA_CSIM_AXI_HPP
#define FIBHA_CSIM_AXI_HPP

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "fibha/csim/timing.hpp"

namespace fibha {
namespace csim {

/// The shared DDR controller: bytes moved per window of kWindow cycles.
class DdrCalendar {
 public:
  static constexpr Cycle kWindow = 16;

  explicit DdrCalendar(double p_bytesPerCycle) : m_capacity(static_cast<uint32_t>(p_bytesPerCycle * kWindow)) {}

  /// Whether p_bytes more can move in the window of p_cycle.
  bool fits(Cycle p_cycle, uint32_t p_bytes) const {
    const std::size_t l_w = static_cast<std::size_t>(p_cycle / kWindow);
    return (l_w < m_used.size() ? m_used[l_w] : 0) + p_bytes <= m_capacity;
  }
  void take(Cycle p_cycle, uint32_t p_bytes) {
    const std::size_t l_w = static_cast<std::size_t>(p_cycle / kWindow);
    if (l_w >= m_used.size()) {
      m_used.resize(l_w + l_w / 2 + 1024, 0);
    }
    m_used[l_w] += p_bytes;
  }

 private:
  uint32_t m_capacity;
  std::vector<uint32_t> m_used;  // bytes per window
};

/// One m_axi bundle: a read and a write channel.
class AxiPort {
 public:
  AxiPort(std::string p_name, const Platform& p_platform, DdrCalendar& p_ddr);

  const std::string& name() const { return m_name; }

  /// Traffic of one direction, for reports.
  struct Traffic {
    uint64_t transactions = 0;
    uint64_t beats = 0;
    uint64_t bytes = 0;
  };
  const Traffic& read_traffic() const { return m_read.traffic; }
  const Traffic& write_traffic() const { return m_write.traffic; }

  /// Beats an element of p_bytes takes (no widening: at least one beat per element).
  unsigned beats_of(unsigned p_bytes) const { return (p_bytes + m_platform.port_bytes - 1) / m_platform.port_bytes; }
  /// Beats of p_count elements of p_bytes each.
  unsigned beats_of(unsigned p_bytes, unsigned p_count) const { return p_count * beats_of(p_bytes); }

  /// A read of one element outside the burst helpers, by the running process.
  void single_read(Process& p_process, unsigned p_bytes);
  /// A write of one element outside the burst helpers, by the running process.
  void single_write(Process& p_process, unsigned p_bytes);

  /// Issues a read transaction of p_beats (p_bytes) requested no earlier than p_request;
  /// returns the cycle of its first beat.
  Cycle read_transaction(Process& p_process, Cycle p_request, unsigned p_beats, uint64_t p_bytes);
  /// Places p_beats write beats (p_bytes) at p_ready or later; returns the cycle after the
  /// last one.
  Cycle write_beats(Cycle p_ready, unsigned p_beats, uint64_t p_bytes);
  /// Counts a write transaction.
  void count_write_transaction() { ++m_write.traffic.transactions; }

  /// The cycle from which the process may issue its next transaction in one direction
  /// (the outstanding limit).
  Cycle slot_free(const Process& p_process, bool p_write);
  /// Records the process's next transaction, released at p_at; returns its number.
  uint64_t release_slot(const Process& p_process, bool p_write, Cycle p_at);
  /// Moves the release of transaction p_transaction to p_at if that is later.
  void move_release(const Process& p_process, bool p_write, uint64_t p_transaction, Cycle p_at);

  const Platform& platform() const { return m_platform; }

 private:
  /// One process's transactions in flight on a channel: a ring of release cycles.
  struct Slots {
    const Process* process;
    std::vector<Cycle> release;
    uint64_t issued = 0;
  };
  struct Channel {
    std::map<Cycle, Cycle> busy;  // [start, end) of busy cycles, disjoint, merged
    std::vector<Slots> slots;     // per process (a handful)
    Traffic traffic;
  };
  Cycle place(Channel& p_channel, Cycle p_earliest, unsigned p_beats, uint64_t p_bytes);
  Slots& slots_of(Channel& p_channel, const Process& p_process);

  std::string m_name;
  Platform m_platform;
  DdrCalendar& m_ddr;
  Channel m_read;
  Channel m_write;
};

/// One burst read (fibha::axi::burst_read): p_accesses consecutive accesses of
/// p_perAccess elements of p_elementBytes each, one access per iteration of a pipelined
/// loop. Requests run ahead of the consumer up to the outstanding limit.
class BurstRead {
 public:
  BurstRead(AxiPort* p_port, unsigned p_elementBytes, unsigned p_perAccess, uint32_t p_accesses);
  BurstRead(AxiPort* p_port, unsigned p_elementBytes, uint32_t p_accesses) : BurstRead(p_port, p_elementBytes, 1, p_accesses) {}
  /// Waits (in the running process) until access p_index has arrived.
  void arrive(uint32_t p_index);

 private:
  AxiPort* m_port;
  Process* m_process;
  unsigned m_elementBeats;  // beats of one access
  unsigned m_elementBytes;  // bytes of one access
  uint32_t m_count;
  Cycle m_start;
  uint64_t m_issued = 0;    // transactions issued so far
  Cycle m_lastRequest = 0;  // request cycle of the last one
  std::vector<Cycle> m_firstBeat;  // first-beat cycle of each issued transaction
  std::vector<uint64_t> m_slot;    // its number on the port (for moving its release)
};

/// One burst write (fibha::axi::burst_write): one access of p_perAccess elements per
/// iteration of a pipelined loop.
class BurstWrite {
 public:
  BurstWrite(AxiPort* p_port, unsigned p_elementBytes, unsigned p_perAccess, uint32_t p_accesses);
  BurstWrite(AxiPort* p_port, unsigned p_elementBytes, uint32_t p_accesses)
      : BurstWrite(p_port, p_elementBytes, 1, p_accesses) {}
  /// Sends element p_index from the running process (its pipeline waits for a slot).
  void send(uint32_t p_index);

 private:
  AxiPort* m_port;
  Process* m_process;
  unsigned m_elementBeats;
  unsigned m_elementBytes;
  uint32_t m_count;
};

}  // namespace csim
}  // namespace fibha

#endif  // FIBHA_CSIM_AXI_HPP
