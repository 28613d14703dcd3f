// The timed C simulation's scheduler, processes, pipelines, m_axi ports and reports
// (see fibha/csim/timing.hpp and fibha/csim/axi.hpp for the model).
#include "fibha/csim/timing.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "fibha/csim/axi.hpp"
#include "fibha/csim/fiber.hpp"
#include "fibha/csim/hls_stream.h"

namespace fibha {
namespace csim {
namespace {

/// Stack of every process fiber: engines keep their on-chip arrays as locals, and the
/// mapping is reserved, not committed, so only what a process touches costs memory.
constexpr std::size_t kProcessStackBytes = std::size_t{64} << 20;

/// The global iteration counter the schedule check stamps bank accesses with.
uint64_t g_epoch = 0;

/// JSON string body (no quotes) of p_text.
std::string json_escape(const std::string& p_text) {
  std::string l_out;
  for (const char l_c : p_text) {
    switch (l_c) {
      case '"':
        l_out += "\\\"";
        break;
      case '\\':
        l_out += "\\\\";
        break;
      case '\n':
        l_out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(l_c) < 0x20) {
          char l_buf[8];
          std::snprintf(l_buf, sizeof l_buf, "\\u%04x", static_cast<unsigned>(l_c));
          l_out += l_buf;
        } else {
          l_out += l_c;
        }
    }
  }
  return l_out;
}

}  // namespace

const char* cause_name(Cause p_cause) {
  switch (p_cause) {
    case Cause::kIssue:
      return "issue";
    case Cause::kDrain:
      return "drain";
    case Cause::kConflict:
      return "bank conflict";
    case Cause::kStarved:
      return "input stream";
    case Cause::kBlocked:
      return "output stream";
    case Cause::kMemory:
      return "m_axi";
    case Cause::kSequential:
      return "sequential";
    case Cause::kChildren:
      return "dataflow";
    case Cause::kCount:
      break;
  }
  return "?";
}

// ---------------------------------------------------------------------------------------
// Process

Process::Process(std::string p_name, Process* p_parent, Cycle p_start)
    : m_name(std::move(p_name)), m_parent(p_parent), m_start(p_start), m_now(p_start) {}

std::string Process::path() const { return m_parent == nullptr ? m_name : m_parent->path() + "/" + m_name; }

void Process::wait_until(Cycle p_cycle, Cause p_cause, const void* p_object, const char* p_what) {
  if (p_cycle > m_now) {
    advance(p_cycle - m_now, p_cause, p_object, p_what);
  }
}

void Process::advance(Cycle p_cycles, Cause p_cause, const void* p_object, const char* p_what) {
  m_now += p_cycles;
  m_byCause[static_cast<int>(p_cause)] += p_cycles;
  if (p_object != nullptr) {
    Account& l_a = m_accounts[Key{p_cause, p_object}];
    if (l_a.what.empty()) {
      l_a.what = p_what;
    }
    l_a.cycles += p_cycles;
  }
}

Cycle Process::write_offset() const { return m_pipeline != nullptr ? m_pipeline->depth() - 1 : 0; }

Cycle Process::charged(Cause p_cause) const { return m_byCause[static_cast<int>(p_cause)]; }

std::vector<Charge> Process::charges() const {
  std::vector<Charge> l_out;
  Cycle l_withObject[static_cast<int>(Cause::kCount)] = {};
  for (const auto& l_entry : m_accounts) {
    l_out.push_back(Charge{l_entry.first.cause, l_entry.first.object, l_entry.second.what, l_entry.second.cycles});
    l_withObject[static_cast<int>(l_entry.first.cause)] += l_entry.second.cycles;
  }
  for (int l_c = 0; l_c < static_cast<int>(Cause::kCount); ++l_c) {
    const Cycle l_rest = m_byCause[l_c] - l_withObject[l_c];
    if (l_rest > 0) {
      l_out.push_back(Charge{static_cast<Cause>(l_c), nullptr, "", l_rest});
    }
  }
  std::sort(l_out.begin(), l_out.end(), [](const Charge& p_a, const Charge& p_b) {
    return p_a.cycles != p_b.cycles ? p_a.cycles > p_b.cycles : p_a.what < p_b.what;
  });
  return l_out;
}

// ---------------------------------------------------------------------------------------
// Loops

LoopSite::LoopSite(const char* p_name, const char* p_file, int p_line)
    : m_name(p_name), m_file(p_file), m_line(p_line) {}

void LoopSite::reset() {
  m_conflictIi = 0;
  m_checked = 0;
  m_listed = false;
  m_findings.clear();
}

std::vector<LoopSite*>& LoopSite::all() {
  static std::vector<LoopSite*> l_all;
  return l_all;
}

void LoopSite::note(const std::string& p_array, unsigned p_accesses, unsigned p_ports, unsigned p_declared) {
  const unsigned l_needed = (p_accesses + p_ports - 1) / p_ports;
  for (Finding& l_f : m_findings) {
    if (l_f.array == p_array) {
      if (l_needed > l_f.needed_ii) {
        l_f.needed_ii = l_needed;
        l_f.accesses = p_accesses;
      }
      m_conflictIi = std::max(m_conflictIi, l_needed);
      return;
    }
  }
  m_findings.push_back(Finding{p_array, p_accesses, p_ports, p_declared, l_needed});
  m_conflictIi = std::max(m_conflictIi, l_needed);
}

PipelinedLoop::PipelinedLoop(LoopSite& p_site, unsigned p_depth)
    : m_site(p_site), m_process(current_process()), m_outer(nullptr), m_depth(p_depth == 0 ? 1 : p_depth) {
  if (m_process == nullptr) {
    return;
  }
  if (!m_site.m_listed) {
    m_site.m_listed = true;
    LoopSite::all().push_back(&m_site);
  }
  m_outer = m_process->m_pipeline;
  m_process->m_pipeline = this;
}

void PipelinedLoop::check_accesses() {
  for (const CountedMemory* l_memory : m_touched) {
    unsigned l_accesses = 0;
    unsigned l_ports = 0;
    const unsigned l_needed = l_memory->needed_ii(m_epoch, l_accesses, l_ports);
    if (l_needed > m_ii) {
      m_site.note(l_memory->memory_name(), l_accesses, l_ports, m_ii);
    }
  }
  m_touched.clear();
  ++m_site.m_checked;
}

void PipelinedLoop::iteration(unsigned p_ii) {
  if (m_process == nullptr) {
    return;
  }
  if (m_epoch != 0) {
    check_accesses();
  }
  Process& l_p = *m_process;
  if (m_iterations > 0) {
    // The clock sits at the previous iteration's issue, moved by whatever it stalled on
    // (a stall holds the whole pipeline): the next one issues II later, or the II its
    // bank conflicts need.
    l_p.advance(p_ii, Cause::kIssue);
    const unsigned l_effective = m_site.effective_ii(p_ii);
    if (l_effective > p_ii) {
      l_p.advance(l_effective - p_ii, Cause::kConflict, &m_site, m_site.name());
    }
  }
  m_ii = p_ii;
  ++m_iterations;
  m_epoch = m_site.counting() ? ++g_epoch : 0;
}

PipelinedLoop::~PipelinedLoop() {
  if (m_process == nullptr) {
    return;
  }
  if (m_epoch != 0) {
    check_accesses();
  }
  Process& l_p = *m_process;
  if (m_iterations == 0) {
    l_p.advance(1, Cause::kSequential);  // the exit test
  } else {
    l_p.advance(m_depth, Cause::kDrain, &m_site, m_site.name());
    l_p.wait_until(m_pending, Cause::kMemory, nullptr, "");
  }
  l_p.m_pipeline = m_outer;
}

// ---------------------------------------------------------------------------------------
// Dataflow regions

Dataflow::Dataflow(const char* p_name) : m_name(p_name) {}

Dataflow::~Dataflow() {
  if (!m_ran && !m_queued.empty()) {
    std::fprintf(stderr, "csim: DATAFLOW region '%s' queued processes but never ran them (FIBHA_DATAFLOW_RUN)\n",
                 m_name.c_str());
    std::abort();
  }
}

void Dataflow::process(const char* p_name, std::function<void()> p_body) {
  m_queued.emplace_back(p_name, std::move(p_body));
}

void Dataflow::run() {
  m_ran = true;
  Kernel* const l_kernel = Kernel::active();
  if (l_kernel == nullptr) {
    for (auto& l_q : m_queued) {
      l_q.second();  // untimed: in order, streams unbounded
    }
    return;
  }
  Process& l_parent = l_kernel->current();
  const std::size_t l_first = l_parent.m_children.size();
  for (auto& l_q : m_queued) {
    l_kernel->spawn(l_parent, l_q.first, std::move(l_q.second));
  }
  m_queued.clear();
  l_kernel->join(l_parent);
  Cycle l_end = l_parent.m_now;
  for (std::size_t l_i = l_first; l_i < l_parent.m_children.size(); ++l_i) {
    l_end = std::max(l_end, l_parent.m_children[l_i]->m_end);
  }
  l_parent.wait_until(l_end, Cause::kChildren, nullptr, "");
}

// ---------------------------------------------------------------------------------------
// Kernel: the scheduler

Kernel* Kernel::s_active = nullptr;

Kernel::Kernel(std::string p_name, const Platform& p_platform) : m_name(std::move(p_name)), m_platform(p_platform) {}

Kernel::~Kernel() {
  if (s_active == this) {
    s_active = nullptr;
  }
}

namespace {
/// The DDR calendar of the active run (ports of one run share it).
std::unique_ptr<DdrCalendar>& ddr_of_run() {
  static std::unique_ptr<DdrCalendar> l_ddr;
  return l_ddr;
}
}  // namespace

Cycle Kernel::run(const std::function<void()>& p_top) {
  if (s_active != nullptr) {
    throw std::logic_error("csim: a kernel run cannot start inside another");
  }
  s_active = this;
  for (LoopSite* l_site : LoopSite::all()) {
    l_site->reset();  // a loop's II and findings belong to one run's design
  }
  LoopSite::all().clear();
  ddr_of_run().reset(new DdrCalendar(m_platform.ddr_bytes_per_cycle));
  m_thread.reset(new Fiber());
  m_root.reset(new Process(m_name, nullptr, 0));
  m_root->m_body = p_top;
  Process* const l_root = m_root.get();
  m_root->m_fiber.reset(new Fiber([this, l_root] { body_of(*l_root); }, kProcessStackBytes));
  m_root->m_fiber->set_exit(m_thread.get());
  make_ready(*m_root);
  schedule();
  m_root->m_end = m_root->m_now;
  m_cycles = m_root->m_end;
  m_current = nullptr;
  s_active = nullptr;
  if (!m_deadlock.empty()) {
    throw Deadlock(m_deadlock);
  }
  if (m_failure) {
    std::rethrow_exception(m_failure);
  }
  return m_cycles;
}

void Kernel::spawn(Process& p_parent, std::string p_name, std::function<void()> p_body) {
  p_parent.m_children.emplace_back(new Process(std::move(p_name), &p_parent, p_parent.m_now));
  Process* const l_child = p_parent.m_children.back().get();
  l_child->m_body = std::move(p_body);
  l_child->m_fiber.reset(new Fiber([this, l_child] { body_of(*l_child); }, kProcessStackBytes));
  l_child->m_fiber->set_exit(m_thread.get());
  ++p_parent.m_pendingChildren;
  make_ready(*l_child);
}

void Kernel::join(Process& p_parent) {
  while (p_parent.m_pendingChildren > 0) {
    p_parent.m_wait = Process::Wait::kJoin;
    suspend();
    p_parent.m_wait = Process::Wait::kNone;
  }
  if (m_cancelling) {
    throw Cancelled{};
  }
}

void Kernel::body_of(Process& p_process) {
  try {
    p_process.m_body();
  } catch (const Cancelled&) {
    // unwound after a deadlock or a failure elsewhere
  } catch (...) {
    if (!m_failure) {
      m_failure = std::current_exception();
    }
    m_cancelling = true;
  }
  p_process.m_body = nullptr;
  p_process.await_writes();
  p_process.m_end = p_process.m_now;
  p_process.m_finished = true;
  wake_emptiness_waiters();
  if (Process* const l_parent = p_process.m_parent) {
    if (--l_parent->m_pendingChildren == 0 && l_parent->m_wait == Process::Wait::kJoin) {
      make_ready(*l_parent);
    }
  }
}

void Kernel::make_ready(Process& p_process) {
  if (!p_process.m_queued) {
    p_process.m_queued = true;
    m_ready.push_back(&p_process);
  }
}

void Kernel::suspend() { Fiber::switch_to(*m_current->m_fiber, *m_thread); }

void Kernel::block_on(StreamBase& p_stream, bool p_write) {
  Process& l_p = *m_current;
  if (m_cancelling) {
    throw Cancelled{};
  }
  l_p.m_wait = p_write ? Process::Wait::kWrite : Process::Wait::kRead;
  l_p.m_waitStream = &p_stream;
  p_stream.waiter() = &l_p;
  suspend();
  l_p.m_wait = Process::Wait::kNone;
  l_p.m_waitStream = nullptr;
  if (m_cancelling) {
    throw Cancelled{};
  }
}

bool Kernel::await_writer(StreamBase& p_stream, Cycle p_cycle) {
  Process& l_p = *m_current;
  if (m_cancelling) {
    throw Cancelled{};
  }
  l_p.m_wait = Process::Wait::kEmpty;
  l_p.m_waitStream = &p_stream;
  l_p.m_queryTime = p_cycle;
  l_p.m_resolvedEmpty = false;
  p_stream.waiter() = &l_p;
  if (!l_p.m_listedEmpty) {
    l_p.m_listedEmpty = true;
    m_emptyWaiters.push_back(&l_p);
  }
  suspend();
  l_p.m_wait = Process::Wait::kNone;
  l_p.m_waitStream = nullptr;
  if (m_cancelling) {
    throw Cancelled{};
  }
  return l_p.m_resolvedEmpty;
}

void Kernel::wake(StreamBase& p_stream) {
  ++m_moves;
  Process*& l_waiter = p_stream.waiter();
  if (l_waiter != nullptr) {
    // No longer a waiter from now on, though it runs later: a stream has one waiter slot,
    // which the other side may take before this process resumes.
    l_waiter->m_wait = Process::Wait::kNone;
    make_ready(*l_waiter);
    l_waiter = nullptr;
  }
}

/// Takes p_process out of its stream's waiter slot (if it still holds it) and queues it.
void Kernel::release(Process& p_process) {
  Process*& l_slot = const_cast<StreamBase*>(p_process.m_waitStream)->waiter();
  if (l_slot == &p_process) {
    l_slot = nullptr;
  }
  p_process.m_wait = Process::Wait::kNone;
  make_ready(p_process);
}

namespace {
void collect(Process& p_process, std::vector<Process*>& p_out) {
  p_out.push_back(&p_process);
  for (auto& l_child : p_process.children()) {
    collect(*l_child, p_out);
  }
}
}  // namespace

void Kernel::wake_emptiness_waiters() {
  std::vector<Process*> l_all;
  collect(*m_root, l_all);
  for (Process* l_p : l_all) {
    if (!l_p->m_finished && l_p->m_wait == Process::Wait::kEmpty) {
      release(*l_p);
    }
  }
}

/// Emptiness answers in a row with no token moved before the run is declared stuck.
constexpr uint64_t kIdleResolutions = uint64_t{1} << 20;

bool Kernel::resolve_emptiness() {
  // Every process is blocked. A token a blocked process writes later comes after the
  // event that unblocks it, and every such event happens at or after the earliest pending
  // emptiness question: so that question's answer is "empty".
  Process* l_first = nullptr;
  std::size_t l_kept = 0;
  for (Process* l_p : m_emptyWaiters) {
    if (l_p->m_finished || l_p->m_wait != Process::Wait::kEmpty) {
      l_p->m_listedEmpty = false;  // answered by a write since it asked
      continue;
    }
    m_emptyWaiters[l_kept++] = l_p;
    if (l_first == nullptr || l_p->m_queryTime < l_first->m_queryTime) {
      l_first = l_p;
    }
  }
  m_emptyWaiters.resize(l_kept);
  if (l_first == nullptr) {
    return false;
  }
  // Processes that only keep asking while no token moves anywhere cannot change anything:
  // the design is stuck (they would spin forever in hardware).
  if (m_moves == m_movesAtResolve) {
    if (++m_idleResolutions > kIdleResolutions) {
      return false;
    }
  } else {
    m_movesAtResolve = m_moves;
    m_idleResolutions = 0;
  }
  l_first->m_resolvedEmpty = true;
  release(*l_first);
  return true;
}

void Kernel::schedule() {
  while (!m_root->m_finished) {
    if (m_ready.empty() && !m_cancelling && resolve_emptiness()) {
      continue;
    }
    if (m_ready.empty()) {
      if (m_cancelling && !m_deadlock.empty()) {
        std::fprintf(stderr, "csim: the processes could not be unwound after a deadlock\n%s\n", m_deadlock.c_str());
        std::abort();
      }
      if (!m_cancelling) {
        std::ostringstream l_msg;
        l_msg << "deadlock in '" << m_name
              << "': no process can make progress (the design would hang in hardware):";
        std::vector<Process*> l_all;
        collect(*m_root, l_all);
        for (const Process* l_p : l_all) {
          if (!l_p->m_finished && l_p->m_wait != Process::Wait::kNone && l_p->m_wait != Process::Wait::kJoin) {
            l_msg << "\n  " << describe_wait(*l_p);
          }
        }
        m_deadlock = l_msg.str();
      }
      m_cancelling = true;
      // Unwind every blocked process (children first finish, then their parents' joins).
      std::vector<Process*> l_all;
      collect(*m_root, l_all);
      for (Process* l_p : l_all) {
        if (!l_p->m_finished && l_p->m_wait != Process::Wait::kNone) {
          if (l_p->m_waitStream != nullptr) {
            release(*l_p);
          } else {
            make_ready(*l_p);
          }
        }
      }
      if (m_ready.empty()) {
        std::fprintf(stderr, "csim: no process to unwind after a deadlock\n");
        std::abort();
      }
      continue;
    }
    Process* const l_next = m_ready.front();
    m_ready.pop_front();
    l_next->m_queued = false;
    if (l_next->m_finished) {
      continue;
    }
    m_current = l_next;
    Fiber::switch_to(*m_thread, *l_next->m_fiber);
    if (l_next->m_finished) {
      l_next->m_fiber.reset();
    }
  }
}

std::string Kernel::describe_wait(const Process& p_process) const {
  std::ostringstream l_msg;
  const StreamBase* const l_s = p_process.m_waitStream;
  l_msg << "process '" << p_process.path() << "' at cycle " << p_process.now();
  if (l_s == nullptr) {
    return l_msg.str();
  }
  // Who last wrote the stream a process waits on, the usual lead to a stuck pipeline.
  const auto l_writer = [&]() {
    if (l_s->writer() != nullptr) {
      l_msg << "last written by '" << l_s->writer()->path() << "'"
            << (l_s->writer()->m_finished ? ", which has finished" : "") << ")";
    } else {
      l_msg << "no process has written it)";
    }
  };
  if (p_process.m_wait == Process::Wait::kEmpty) {
    l_msg << " keeps asking whether stream '" << l_s->name() << "' is empty (it is; ";
    l_writer();
  } else if (p_process.m_wait == Process::Wait::kRead) {
    l_msg << " waits to read stream '" << l_s->name() << "' (empty; ";
    l_writer();
  } else {
    l_msg << " waits to write stream '" << l_s->name() << "' (full: " << l_s->occupancy() << " of depth "
          << l_s->depth() << "; ";
    if (l_s->reader() != nullptr) {
      l_msg << "last read by '" << l_s->reader()->path() << "'"
            << (l_s->reader()->m_finished ? ", which has finished" : "") << ")";
    } else {
      l_msg << "no process has read it)";
    }
  }
  return l_msg.str();
}

AxiPort& Kernel::port(const char* p_bundle) {
  for (auto& l_port : m_ports) {
    if (l_port->name() == p_bundle) {
      return *l_port;
    }
  }
  m_ports.emplace_back(new AxiPort(p_bundle, m_platform, *ddr_of_run()));
  return *m_ports.back();
}

std::size_t Kernel::begin_span(const char* p_kind, uint32_t p_index) {
  SpanReport l_span{p_kind, p_index, m_current->path(), m_current->now(), m_current->now(), {}};
  for (int l_c = 0; l_c < static_cast<int>(Cause::kCount); ++l_c) {
    l_span.by_cause[l_c] = m_current->charged(static_cast<Cause>(l_c));
  }
  m_spans.push_back(l_span);
  m_spanOwners.push_back(m_current);
  return m_spans.size() - 1;
}

void Kernel::end_span(std::size_t p_handle) {
  SpanReport& l_span = m_spans[p_handle];
  const Process& l_owner = *m_spanOwners[p_handle];
  l_span.end = l_owner.now();
  for (int l_c = 0; l_c < static_cast<int>(Cause::kCount); ++l_c) {
    l_span.by_cause[l_c] = l_owner.charged(static_cast<Cause>(l_c)) - l_span.by_cause[l_c];
  }
}

std::vector<ProcessReport> Kernel::processes() const {
  std::vector<ProcessReport> l_out;
  std::function<void(const Process&, int)> l_walk = [&](const Process& p_p, int p_depth) {
    l_out.push_back(ProcessReport{p_p.path(), p_depth, p_p.start(), p_p.end(), p_p.charges()});
    for (const auto& l_child : p_p.children()) {
      l_walk(*l_child, p_depth + 1);
    }
  };
  if (m_root) {
    l_walk(*m_root, 0);
  }
  return l_out;
}

void Kernel::write_json(std::FILE* p_out) const {
  std::fprintf(p_out, "{\"kernel\":\"%s\",\"cycles\":%" PRIu64 ",\"processes\":[", json_escape(m_name).c_str(),
               m_cycles);
  const std::vector<ProcessReport> l_processes = processes();
  for (std::size_t l_i = 0; l_i < l_processes.size(); ++l_i) {
    const ProcessReport& l_p = l_processes[l_i];
    std::fprintf(p_out, "%s{\"path\":\"%s\",\"start\":%" PRIu64 ",\"end\":%" PRIu64 ",\"charges\":[",
                 l_i == 0 ? "" : ",", json_escape(l_p.path).c_str(), l_p.start, l_p.end);
    for (std::size_t l_c = 0; l_c < l_p.charges.size(); ++l_c) {
      const Charge& l_ch = l_p.charges[l_c];
      std::fprintf(p_out, "%s{\"cause\":\"%s\",\"what\":\"%s\",\"cycles\":%" PRIu64 "}", l_c == 0 ? "" : ",",
                   cause_name(l_ch.cause), json_escape(l_ch.what).c_str(), l_ch.cycles);
    }
    std::fprintf(p_out, "]}");
  }
  std::fprintf(p_out, "],\"spans\":[");
  for (std::size_t l_i = 0; l_i < m_spans.size(); ++l_i) {
    const SpanReport& l_s = m_spans[l_i];
    std::fprintf(p_out,
                 "%s{\"kind\":\"%s\",\"index\":%u,\"process\":\"%s\",\"start\":%" PRIu64 ",\"end\":%" PRIu64
                 ",\"charges\":[",
                 l_i == 0 ? "" : ",", json_escape(l_s.kind).c_str(), l_s.index, json_escape(l_s.process).c_str(),
                 l_s.start, l_s.end);
    bool l_firstCharge = true;
    for (int l_c = 0; l_c < static_cast<int>(Cause::kCount); ++l_c) {
      if (l_s.by_cause[l_c] > 0) {
        std::fprintf(p_out, "%s{\"cause\":\"%s\",\"what\":\"\",\"cycles\":%" PRIu64 "}", l_firstCharge ? "" : ",",
                     cause_name(static_cast<Cause>(l_c)), l_s.by_cause[l_c]);
        l_firstCharge = false;
      }
    }
    std::fprintf(p_out, "]}");
  }
  std::fprintf(p_out, "],\"ports\":[");
  for (std::size_t l_i = 0; l_i < m_ports.size(); ++l_i) {
    const AxiPort& l_port = *m_ports[l_i];
    const AxiPort::Traffic& l_r = l_port.read_traffic();
    const AxiPort::Traffic& l_w = l_port.write_traffic();
    std::fprintf(p_out,
                 "%s{\"bundle\":\"%s\",\"read\":{\"transactions\":%" PRIu64 ",\"beats\":%" PRIu64 ",\"bytes\":%" PRIu64
                 "},\"write\":{\"transactions\":%" PRIu64 ",\"beats\":%" PRIu64 ",\"bytes\":%" PRIu64 "}}",
                 l_i == 0 ? "" : ",", json_escape(l_port.name()).c_str(), l_r.transactions, l_r.beats, l_r.bytes,
                 l_w.transactions, l_w.beats, l_w.bytes);
  }
  std::fprintf(p_out, "],\"schedule\":[");
  bool l_first = true;
  for (const LoopSite* l_site : LoopSite::all()) {
    for (const LoopSite::Finding& l_f : l_site->findings()) {
      std::fprintf(p_out,
                   "%s{\"loop\":\"%s\",\"source\":\"%s:%d\",\"array\":\"%s\",\"accesses\":%u,\"ports\":%u,"
                   "\"declared_ii\":%u,\"effective_ii\":%u}",
                   l_first ? "" : ",", json_escape(l_site->name()).c_str(), json_escape(l_site->file()).c_str(),
                   l_site->line(), json_escape(l_f.array).c_str(), l_f.accesses, l_f.ports, l_f.declared_ii,
                   l_f.needed_ii);
      l_first = false;
    }
  }
  std::fprintf(p_out, "]}\n");
}

// ---------------------------------------------------------------------------------------
// m_axi ports

AxiPort::AxiPort(std::string p_name, const Platform& p_platform, DdrCalendar& p_ddr)
    : m_name(std::move(p_name)), m_platform(p_platform), m_ddr(p_ddr) {}

Cycle AxiPort::place(Channel& p_channel, Cycle p_earliest, unsigned p_beats, uint64_t p_bytes) {
  const uint32_t l_bytesPerBeat = static_cast<uint32_t>((p_bytes + p_beats - 1) / p_beats);
  std::map<Cycle, Cycle>& l_busy = p_channel.busy;
  Cycle l_start = p_earliest;
  for (;;) {
    if (!l_busy.empty() && l_start >= l_busy.rbegin()->second) {
      // The common case: after everything placed so far.
    } else {
      // First gap of p_beats free cycles at or after l_start.
      auto l_it = l_busy.upper_bound(l_start);
      if (l_it != l_busy.begin()) {
        auto l_prev = std::prev(l_it);
        if (l_prev->second > l_start) {
          l_start = l_prev->second;
        }
      }
      while (l_it != l_busy.end() && l_it->first < l_start + p_beats) {
        l_start = std::max(l_start, l_it->second);
        ++l_it;
      }
    }
    // Every beat also needs room on the shared DDR.
    bool l_fits = true;
    for (Cycle l_c = l_start; l_c < l_start + p_beats && l_fits; ++l_c) {
      if (!m_ddr.fits(l_c, l_bytesPerBeat)) {
        l_fits = false;
        l_start = (l_c / DdrCalendar::kWindow + 1) * DdrCalendar::kWindow;
      }
    }
    if (l_fits) {
      break;
    }
  }
  for (Cycle l_c = l_start; l_c < l_start + p_beats; ++l_c) {
    m_ddr.take(l_c, l_bytesPerBeat);
  }
  // Insert [l_start, l_start + p_beats), merged with its neighbours.
  Cycle l_lo = l_start;
  Cycle l_hi = l_start + p_beats;
  auto l_next = l_busy.lower_bound(l_lo);
  if (l_next != l_busy.begin()) {
    auto l_prev = std::prev(l_next);
    if (l_prev->second == l_lo) {
      l_lo = l_prev->first;
      l_busy.erase(l_prev);
    }
  }
  l_next = l_busy.find(l_hi);
  if (l_next != l_busy.end()) {
    l_hi = l_next->second;
    l_busy.erase(l_next);
  }
  l_busy.emplace_hint(l_busy.end(), l_lo, l_hi);
  p_channel.traffic.beats += p_beats;
  p_channel.traffic.bytes += p_bytes;
  return l_start;
}

AxiPort::Slots& AxiPort::slots_of(Channel& p_channel, const Process& p_process) {
  for (Slots& l_s : p_channel.slots) {
    if (l_s.process == &p_process) {
      return l_s;
    }
  }
  p_channel.slots.push_back(Slots{&p_process, std::vector<Cycle>(m_platform.outstanding, 0), 0});
  return p_channel.slots.back();
}

Cycle AxiPort::slot_free(const Process& p_process, bool p_write) {
  Slots& l_s = slots_of(p_write ? m_write : m_read, p_process);
  return l_s.release[l_s.issued % m_platform.outstanding];
}

uint64_t AxiPort::release_slot(const Process& p_process, bool p_write, Cycle p_at) {
  Slots& l_s = slots_of(p_write ? m_write : m_read, p_process);
  l_s.release[l_s.issued % m_platform.outstanding] = p_at;
  return l_s.issued++;
}

void AxiPort::move_release(const Process& p_process, bool p_write, uint64_t p_transaction, Cycle p_at) {
  Slots& l_s = slots_of(p_write ? m_write : m_read, p_process);
  Cycle& l_slot = l_s.release[p_transaction % m_platform.outstanding];
  l_slot = std::max(l_slot, p_at);
}

Cycle AxiPort::read_transaction(Process& p_process, Cycle p_request, unsigned p_beats, uint64_t p_bytes) {
  (void)p_process;
  ++m_read.traffic.transactions;
  return place(m_read, p_request + m_platform.latency, p_beats, p_bytes);
}

Cycle AxiPort::write_beats(Cycle p_ready, unsigned p_beats, uint64_t p_bytes) {
  return place(m_write, p_ready, p_beats, p_bytes) + p_beats;
}

void AxiPort::single_read(Process& p_process, unsigned p_bytes) {
  const unsigned l_beats = beats_of(p_bytes);  // one element
  PipelinedLoop* const l_loop = p_process.pipeline();
  if (l_loop != nullptr) {
    // The pipeline keeps issuing: wait only for a free slot.
    p_process.wait_until(slot_free(p_process, false), Cause::kMemory, this, m_name.c_str());
  }
  const Cycle l_first = read_transaction(p_process, p_process.now(), l_beats, p_bytes);
  const Cycle l_done = l_first + l_beats;
  release_slot(p_process, false, l_done);
  if (l_loop != nullptr) {
    l_loop->pending_until(l_done);
  } else {
    p_process.wait_until(l_done, Cause::kMemory, this, m_name.c_str());
  }
}

void AxiPort::single_write(Process& p_process, unsigned p_bytes) {
  const unsigned l_beats = beats_of(p_bytes);
  PipelinedLoop* const l_loop = p_process.pipeline();
  const Cycle l_offset = p_process.write_offset();
  if (l_loop != nullptr) {
    const Cycle l_slot = slot_free(p_process, true);
    if (l_slot > p_process.now() + l_offset) {
      p_process.wait_until(l_slot - l_offset, Cause::kMemory, this, m_name.c_str());
    }
  }
  if (l_loop == nullptr) {
    p_process.wait_until(slot_free(p_process, true), Cause::kMemory, this, m_name.c_str());
  }
  count_write_transaction();
  const Cycle l_response = write_beats(p_process.now() + l_offset, l_beats, p_bytes) + m_platform.latency;
  release_slot(p_process, true, l_response);
  if (l_loop != nullptr) {
    l_loop->pending_until(l_response);
  } else {
    // Nothing waits for a write's response but the end of the process (Vitis schedules
    // the response check late): one state for the write itself.
    p_process.advance(1, Cause::kSequential);
    p_process.pending_write(l_response);
  }
}

BurstRead::BurstRead(AxiPort* p_port, unsigned p_elementBytes, unsigned p_perAccess, uint32_t p_accesses)
    : m_port(p_port),
      m_process(current_process()),
      m_elementBeats(p_port != nullptr ? p_port->beats_of(p_elementBytes, p_perAccess) : 1),
      m_elementBytes(p_elementBytes * p_perAccess),
      m_count(p_accesses),
      m_start(m_process != nullptr ? m_process->now() : 0) {}

void BurstRead::arrive(uint32_t p_index) {
  if (m_port == nullptr || m_process == nullptr) {
    return;
  }
  const unsigned l_maxBurst = m_port->platform().max_burst;
  const uint64_t l_lastBeat = (uint64_t{p_index} + 1) * m_elementBeats - 1;
  const uint64_t l_txn = l_lastBeat / l_maxBurst;
  const uint64_t l_totalBeats = uint64_t{m_count} * m_elementBeats;
  while (m_issued <= l_txn) {
    // Requests leave one per cycle from the loop's start, each once a slot is free.
    const uint64_t l_firstBeat = m_issued * l_maxBurst;
    const unsigned l_beats = static_cast<unsigned>(std::min<uint64_t>(l_maxBurst, l_totalBeats - l_firstBeat));
    Cycle l_request = std::max(m_issued == 0 ? m_start : m_lastRequest + 1, m_port->slot_free(*m_process, false));
    const uint64_t l_bytes = l_beats * uint64_t{m_elementBytes} / m_elementBeats;
    m_firstBeat.push_back(m_port->read_transaction(*m_process, l_request, l_beats, l_bytes));
    m_lastRequest = l_request;
    // The slot is released when the consumer takes the transaction's last beat: at its
    // arrival for now, moved below if the consumer takes it later. (Transaction j + N is
    // only issued once the consumer needs it, after it has taken all of transaction j.)
    m_slot.push_back(m_port->release_slot(*m_process, false, m_firstBeat.back() + l_beats));
    ++m_issued;
  }
  const Cycle l_arrival = m_firstBeat[l_txn] + (l_lastBeat - l_txn * l_maxBurst);
  m_process->wait_until(l_arrival, Cause::kMemory, m_port, m_port->name().c_str());
  const bool l_closes = (l_lastBeat + 1) % l_maxBurst == 0 || p_index + 1 == m_count;
  if (l_closes) {
    m_port->move_release(*m_process, false, m_slot[l_txn], m_process->now() + 1);
  }
}

BurstWrite::BurstWrite(AxiPort* p_port, unsigned p_elementBytes, unsigned p_perAccess, uint32_t p_accesses)
    : m_port(p_port),
      m_process(current_process()),
      m_elementBeats(p_port != nullptr ? p_port->beats_of(p_elementBytes, p_perAccess) : 1),
      m_elementBytes(p_elementBytes * p_perAccess),
      m_count(p_accesses) {}

void BurstWrite::send(uint32_t p_index) {
  if (m_port == nullptr || m_process == nullptr) {
    return;
  }
  const unsigned l_maxBurst = m_port->platform().max_burst;
  const uint64_t l_firstBeat = uint64_t{p_index} * m_elementBeats;
  const Cycle l_offset = m_process->write_offset();
  if (l_firstBeat % l_maxBurst == 0 || m_elementBeats > l_maxBurst) {
    // This element opens a transaction: it needs a free slot.
    const Cycle l_slot = m_port->slot_free(*m_process, true);
    if (l_slot > m_process->now() + l_offset) {
      m_process->wait_until(l_slot - l_offset, Cause::kMemory, m_port, m_port->name().c_str());
    }
    m_port->count_write_transaction();
  }
  const Cycle l_end = m_port->write_beats(m_process->now() + l_offset, m_elementBeats, m_elementBytes);
  if (l_end > m_process->now() + l_offset + m_elementBeats) {
    // The channel was busy: the beat left late and held the pipeline.
    m_process->wait_until(l_end - m_elementBeats - l_offset, Cause::kMemory, m_port, m_port->name().c_str());
  }
  const uint64_t l_lastBeat = l_firstBeat + m_elementBeats - 1;
  const bool l_closes = (l_lastBeat + 1) % l_maxBurst == 0 || p_index + 1 == m_count;
  if (l_closes) {
    const Cycle l_response = l_end + m_port->platform().latency;
    m_port->release_slot(*m_process, true, l_response);
    if (PipelinedLoop* const l_loop = m_process->pipeline()) {
      l_loop->pending_until(l_response);
    } else {
      m_process->pending_write(l_response);
    }
  }
}

}  // namespace csim
}  // namespace fibha
