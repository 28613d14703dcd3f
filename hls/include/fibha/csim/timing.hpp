// The timed C simulation: the clock that the C model of the HLS primitives keeps, so that
// running the sources with g++ says how many cycles the synthesized design would take.
//
// The model, in the terms Vitis HLS schedules a design in (UG1399):
//   * A kernel run is a tree of processes. The top function is the root; every function
//     of a DATAFLOW region is a child process that starts when the region starts and runs
//     concurrently with its siblings on its own fiber; the region ends when the last child
//     ends. Each process has its own clock (`now`).
//   * A pipelined loop issues one iteration every II cycles; leaving it drains the
//     pipeline (its depth) once per entry: N iterations take (N - 1) x II + depth cycles,
//     Vitis's own formula. II and depth are declared beside the pragma (FIBHA_PIPELINE),
//     and the II is checked: accesses to one memory bank beyond its ports in one
//     iteration raise the loop's II (the schedule check, see Schedule below), as Vitis
//     would.
//   * A stream token carries the cycle its writer wrote it in; a reader gets it one cycle
//     later at the earliest; a writer of token n into a FIFO of depth D waits until token
//     n - D has been read. A process that must wait stalls its pipeline (the iteration's
//     issue moves), as a Vitis pipeline with blocking stream accesses does.
//   * m_axi accesses go through the AXI model (fibha/csim/axi.hpp): beats at the port's
//     width, a latency per transaction, bursts of at most max_burst beats, a bounded
//     number of transactions in flight, every port's beats on the shared DDR.
// Everything a process waits for is attributed to a cause (a stream, a port, a bank
// conflict, a pipeline drain), so a report can say what bounds each engine.
//
// A dataflow region that would hang in hardware (a read that no write will satisfy, a
// cycle of full FIFOs) ends the run with csim::Deadlock naming the processes and streams.
//
// This file is C simulation only: the synthesizable sources reach it through the macros
// of fibha/schedule.hpp, which leave only the pragmas under __SYNTHESIS__.
#ifndef FIBHA_CSIM_TIMING_HPP
#define FIBHA_CSIM_TIMING_HPP

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace fibha {
namespace csim {

/// Clock cycles of the kernel's clock.
using Cycle = uint64_t;

class Fiber;
class Kernel;
class PipelinedLoop;
class StreamBase;
class AxiPort;

/// What a process spent its cycles on (every advance of its clock has one).
enum class Cause : uint8_t {
  kIssue,       ///< pipelined iterations issued at the declared II
  kDrain,       ///< pipeline depth, once per loop entry
  kConflict,    ///< II raised by memory-bank conflicts (the schedule check)
  kStarved,     ///< waiting for a token on an input stream
  kBlocked,     ///< waiting for room in a full output stream
  kMemory,      ///< waiting for an m_axi transaction (latency, port, outstanding limit)
  kSequential,  ///< straight-line code outside pipelined loops
  kChildren,    ///< waiting for the processes of a DATAFLOW region to finish
  kCount,
};

/// Display name of a cause.
const char* cause_name(Cause p_cause);

/// Cycles attributed to one cause and object (a stream, a port, an array, or nothing).
struct Charge {
  Cause cause;
  const void* object;  ///< the stream, port or array; nullptr where none applies
  std::string what;    ///< its name
  Cycle cycles;
};

/// One process of the run: the top function or a function of a DATAFLOW region.
class Process {
 public:
  Process(std::string p_name, Process* p_parent, Cycle p_start);

  const std::string& name() const { return m_name; }
  /// The process's path from the root, e.g. "fibha_top/sesl_part/e1.firb".
  std::string path() const;
  Process* parent() const { return m_parent; }
  /// Whether the process has ended.
  bool finished() const { return m_finished; }
  Cycle start() const { return m_start; }
  Cycle end() const { return m_end; }
  /// The process's clock: the issue cycle of the current iteration inside a pipelined
  /// loop, otherwise the cycle it has reached.
  Cycle now() const { return m_now; }

  /// Moves the clock to p_cycle if that is later, charging the wait to p_cause/p_object.
  void wait_until(Cycle p_cycle, Cause p_cause, const void* p_object, const char* p_what);
  /// Moves the clock by p_cycles for p_cause.
  void advance(Cycle p_cycles, Cause p_cause, const void* p_object = nullptr, const char* p_what = "");

  /// The innermost pipelined loop running in this process (nullptr outside).
  PipelinedLoop* pipeline() const { return m_pipeline; }
  /// Records an m_axi write whose response comes at p_cycle: the process cannot end before.
  void pending_write(Cycle p_cycle) {
    if (p_cycle > m_pendingWrites) {
      m_pendingWrites = p_cycle;
    }
  }
  /// Waits for the responses of every write so far.
  void await_writes() { wait_until(m_pendingWrites, Cause::kMemory, nullptr, ""); }
  /// Cycles a write issued now lands after the issue: the current pipeline's depth - 1
  /// (a write happens in the last stage of an iteration), 0 outside pipelines.
  Cycle write_offset() const;

  /// Charges, largest first.
  std::vector<Charge> charges() const;
  /// Sum of the cycles charged to p_cause.
  Cycle charged(Cause p_cause) const;
  const std::vector<std::unique_ptr<Process>>& children() const { return m_children; }

 private:
  friend class Kernel;
  friend class PipelinedLoop;
  friend class Dataflow;

  struct Key {
    Cause cause;
    const void* object;
    bool operator==(const Key& p_o) const { return cause == p_o.cause && object == p_o.object; }
  };
  struct KeyHash {
    std::size_t operator()(const Key& p_k) const {
      return std::hash<const void*>()(p_k.object) * 31 + static_cast<std::size_t>(p_k.cause);
    }
  };
  struct Account {
    std::string what;
    Cycle cycles = 0;
  };

  std::string m_name;
  Process* m_parent;
  Cycle m_start;
  Cycle m_now;
  Cycle m_end = 0;
  PipelinedLoop* m_pipeline = nullptr;
  Cycle m_pendingWrites = 0;
  Cycle m_byCause[static_cast<int>(Cause::kCount)] = {};
  std::unordered_map<Key, Account, KeyHash> m_accounts;  // charges with an object
  std::vector<std::unique_ptr<Process>> m_children;

  // Scheduling state (Kernel's).
  std::unique_ptr<Fiber> m_fiber;
  std::function<void()> m_body;
  enum class Wait : uint8_t { kNone, kRead, kWrite, kJoin, kEmpty } m_wait = Wait::kNone;
  const StreamBase* m_waitStream = nullptr;
  Cycle m_queryTime = 0;       // kEmpty: the cycle the emptiness is asked for
  bool m_resolvedEmpty = false;  // kEmpty: the scheduler decided "empty"
  bool m_listedEmpty = false;    // in the kernel's list of emptiness waiters
  unsigned m_pendingChildren = 0;
  bool m_finished = false;
  bool m_queued = false;
};

/// Where a pipelined loop is in the source, and what the schedule check found there.
/// One static instance per loop (per template instantiation).
class LoopSite {
 public:
  LoopSite(const char* p_name, const char* p_file, int p_line);
  const char* name() const { return m_name; }
  const char* file() const { return m_file; }
  int line() const { return m_line; }

  /// The II Vitis would achieve: the declared one, raised by any conflict found.
  unsigned effective_ii(unsigned p_declared) const { return m_conflictIi > p_declared ? m_conflictIi : p_declared; }
  /// Whether this iteration's memory accesses are still being counted (the first
  /// kCheckedIterations of every site: the access pattern of a loop body is static).
  bool counting() const { return m_checked < kCheckedIterations; }

  /// Reports, per array, the most accesses to one bank in one iteration and the II they need.
  struct Finding {
    std::string array;
    unsigned accesses;  ///< to one bank in one iteration
    unsigned ports;     ///< the bank's ports (per iteration at II=1)
    unsigned declared_ii;
    unsigned needed_ii;
  };
  const std::vector<Finding>& findings() const { return m_findings; }

  /// Every site that ran in the current (or last) kernel run, in order of first use.
  static std::vector<LoopSite*>& all();
  /// Forgets what a previous run found (Kernel::run calls it).
  void reset();

  /// Iterations per site whose accesses are counted.
  static constexpr uint64_t kCheckedIterations = 4096;

 private:
  friend class PipelinedLoop;
  void note(const std::string& p_array, unsigned p_accesses, unsigned p_ports, unsigned p_declared);

  const char* m_name;
  const char* m_file;
  int m_line;
  unsigned m_conflictIi = 0;
  uint64_t m_checked = 0;
  bool m_listed = false;
  std::vector<Finding> m_findings;
};

/// A memory whose accesses the schedule check counts (fibha/csim/memory.hpp's Array).
class CountedMemory {
 public:
  virtual ~CountedMemory() = default;
  /// The II the accesses of iteration p_epoch need (1 when they fit the ports), with the
  /// most accesses one bank received and that bank's ports.
  virtual unsigned needed_ii(uint64_t p_epoch, unsigned& p_accesses, unsigned& p_ports) const = 0;
  /// The array's name as declared in the pragma macros.
  virtual const std::string& memory_name() const = 0;
};

/// One entry into a pipelined loop (RAII: constructed before the loop, destroyed after).
class PipelinedLoop {
 public:
  PipelinedLoop(LoopSite& p_site, unsigned p_depth);
  PipelinedLoop(const PipelinedLoop&) = delete;
  PipelinedLoop& operator=(const PipelinedLoop&) = delete;
  ~PipelinedLoop();

  /// Starts the next iteration (the first statement of the loop body): it issues II cycles
  /// after the previous one, or later if that one stalled or its accesses conflict.
  void iteration(unsigned p_ii);

  /// The pipeline depth declared for this loop.
  unsigned depth() const { return m_depth; }
  /// Records that data of an m_axi access issued in this loop arrives at p_cycle (the loop
  /// cannot finish before it).
  void pending_until(Cycle p_cycle) {
    if (p_cycle > m_pending) {
      m_pending = p_cycle;
    }
  }
  /// Registers a memory touched in the current iteration (schedule check).
  void touched(const CountedMemory* p_memory) { m_touched.push_back(p_memory); }
  /// The epoch (global iteration number) of the current iteration, 0 when not counting.
  uint64_t epoch() const { return m_epoch; }

 private:
  void check_accesses();

  LoopSite& m_site;
  Process* m_process;
  PipelinedLoop* m_outer;
  unsigned m_depth;
  unsigned m_ii = 1;
  uint64_t m_iterations = 0;
  Cycle m_pending = 0;
  uint64_t m_epoch = 0;
  std::vector<const CountedMemory*> m_touched;
};

/// A DATAFLOW region: its processes are queued, then run concurrently by run().
class Dataflow {
 public:
  explicit Dataflow(const char* p_name);
  Dataflow(const Dataflow&) = delete;
  Dataflow& operator=(const Dataflow&) = delete;
  ~Dataflow();

  /// Queues a process (the call p_body makes) under p_name.
  void process(const char* p_name, std::function<void()> p_body);
  /// Runs every queued process concurrently; returns when all have finished, the calling
  /// process's clock at the last one's end.
  void run();

 private:
  std::string m_name;
  std::vector<std::pair<std::string, std::function<void()>>> m_queued;
  bool m_ran = false;
};

/// Raised when the processes of a run can make no progress: the design would hang.
class Deadlock : public std::runtime_error {
 public:
  explicit Deadlock(const std::string& p_what) : std::runtime_error(p_what) {}
};

/// Thrown inside blocked processes to unwind them after a deadlock (never escapes a run).
struct Cancelled {};

/// The memory system a run's m_axi ports see (one place for its numbers: the board file
/// in tools/compiler/boards, generated into each instance's configuration).
struct Platform {
  unsigned port_bytes = 16;    ///< data width of one PS-PL port, bytes per beat
  unsigned latency = 64;       ///< cycles from a transaction's request to its first beat
  unsigned max_burst = 16;     ///< beats per transaction
  unsigned outstanding = 16;   ///< transactions in flight per port and direction
  double ddr_bytes_per_cycle = 96.0;  ///< the DDR controller's peak, at the kernel clock
};

/// Per-process summary of a finished run (for reports).
struct ProcessReport {
  std::string path;
  int depth;  ///< 0 for the root
  Cycle start;
  Cycle end;
  std::vector<Charge> charges;
};

/// A named interval of one process's clock (an SEML layer, an engine's weight load),
/// with the cycles of each cause in it.
struct SpanReport {
  std::string kind;
  uint32_t index;
  std::string process;
  Cycle start;
  Cycle end;
  Cycle by_cause[static_cast<int>(Cause::kCount)];
};

/// One run of a kernel function under the timing model.
class Kernel {
 public:
  Kernel(std::string p_name, const Platform& p_platform);
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;
  ~Kernel();

  /// Runs p_top as the root process; returns its cycles (the cycle register: ap_start to
  /// ap_done). Throws Deadlock if the processes hang, or what the body threw.
  Cycle run(const std::function<void()>& p_top);

  /// The kernel being run, or nullptr outside a run (untimed C simulation).
  static Kernel* active() { return s_active; }
  /// The running process (never nullptr inside a run).
  Process& current() { return *m_current; }
  const Platform& platform() const { return m_platform; }

  /// Blocks the running process until p_stream can be read/written (kernel-internal).
  void block_on(StreamBase& p_stream, bool p_write);
  /// Blocks the running process, asking whether p_stream is empty at p_cycle, until its
  /// writer writes, a process ends, or the scheduler decides: true when it decided
  /// "empty" (no process can write a token visible by p_cycle any more).
  bool await_writer(StreamBase& p_stream, Cycle p_cycle);
  /// Wakes the process (if any) waiting on p_stream.
  void wake(StreamBase& p_stream);

  /// The port named p_bundle (created on first use).
  AxiPort& port(const char* p_bundle);

  /// Opens a span on the running process; returns its handle for end_span().
  std::size_t begin_span(const char* p_kind, uint32_t p_index);
  /// Closes span p_handle at its process's clock.
  void end_span(std::size_t p_handle);

  /// After run(): every process, depth first.
  std::vector<ProcessReport> processes() const;
  const std::vector<SpanReport>& spans() const { return m_spans; }
  const std::vector<std::unique_ptr<AxiPort>>& ports() const { return m_ports; }
  Cycle cycles() const { return m_cycles; }

  /// Writes the run's report as one JSON object (processes, spans, ports, loop findings).
  void write_json(std::FILE* p_out) const;

 private:
  friend class Dataflow;
  void spawn(Process& p_parent, std::string p_name, std::function<void()> p_body);
  void join(Process& p_parent);
  void schedule();
  void suspend();
  void make_ready(Process& p_process);
  void wake_emptiness_waiters();
  void release(Process& p_process);
  bool resolve_emptiness();
  void body_of(Process& p_process);
  [[noreturn]] void deadlock();
  std::string describe_wait(const Process& p_process) const;

  static Kernel* s_active;

  std::string m_name;
  Platform m_platform;
  std::unique_ptr<Fiber> m_thread;
  std::unique_ptr<Process> m_root;
  Process* m_current = nullptr;
  std::deque<Process*> m_ready;
  std::vector<Process*> m_blocked;
  std::vector<Process*> m_emptyWaiters;  // processes that asked empty() and wait for the answer
  uint64_t m_moves = 0;                  // token reads and writes so far
  uint64_t m_movesAtResolve = 0;         // m_moves at the last emptiness resolution
  uint64_t m_idleResolutions = 0;        // resolutions in a row with no token moved
  bool m_cancelling = false;
  std::exception_ptr m_failure;
  std::string m_deadlock;
  std::vector<std::unique_ptr<AxiPort>> m_ports;
  std::vector<SpanReport> m_spans;
  std::vector<const Process*> m_spanOwners;
  Cycle m_cycles = 0;
};

/// The running process of the active kernel, or nullptr in untimed C simulation.
inline Process* current_process() {
  Kernel* const l_kernel = Kernel::active();
  return l_kernel != nullptr ? &l_kernel->current() : nullptr;
}

/// Charges p_cycles of straight-line work to the running process (no-op untimed).
inline void spend(Cycle p_cycles) {
  if (Process* const l_p = current_process()) {
    l_p->advance(p_cycles, Cause::kSequential);
  }
}

/// Waits until every m_axi write of the running process has its response (no-op untimed).
inline void await_writes() {
  if (Process* const l_p = current_process()) {
    l_p->await_writes();
  }
}

/// RAII span (FIBHA_SPAN): records [begin, end) of the running process's clock.
class Span {
 public:
  Span(const char* p_kind, uint32_t p_index) : m_kernel(Kernel::active()) {
    if (m_kernel != nullptr) {
      m_handle = m_kernel->begin_span(p_kind, p_index);
    }
  }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  ~Span() {
    if (m_kernel != nullptr) {
      m_kernel->end_span(m_handle);
    }
  }

 private:
  Kernel* m_kernel;
  std::size_t m_handle = 0;
};

}  // namespace csim
}  // namespace fibha

#endif  // FIBHA_CSIM_TIMING_HPP
