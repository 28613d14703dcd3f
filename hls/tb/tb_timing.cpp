// Testbench of the timed C simulation itself (fibha/csim/timing.hpp): small designs whose
// cycle counts are worked out here from first principles (the recurrences Vitis's
// schedule implies, written out independently of the model's code), then compared with
// what the model reports. Also the deadlock reports and the schedule check's findings.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "fibha/axi.hpp"
#include "fibha/sesl_conv.hpp"
#include "fibha/sesl_pw.hpp"
#include "fibha/schedule.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"
#include "fill_params.hpp"
#include "tb_common.hpp"

namespace {

using fibha::Array;
using fibha::Vec;
using fibha::csim::Cycle;
using fibha::csim::Kernel;
using fibha::csim::Platform;

/// Platform parameters of the hand-computed cases (the ZCU102's, stated here again so the
/// expected figures do not depend on anything the model reads).
constexpr unsigned kLatency = 64;
constexpr unsigned kPortBytes = 16;
constexpr unsigned kMaxBurst = 16;
constexpr unsigned kOutstanding = 16;

Platform platform() {
  Platform l_p;
  l_p.port_bytes = kPortBytes;
  l_p.latency = kLatency;
  l_p.max_burst = kMaxBurst;
  l_p.outstanding = kOutstanding;
  l_p.ddr_bytes_per_cycle = 96.0;
  return l_p;
}

/// Runs p_top as a kernel and returns its cycles.
Cycle run(const char* p_name, const std::function<void()>& p_top, Kernel* p_keep = nullptr) {
  if (p_keep != nullptr) {
    return p_keep->run(p_top);
  }
  Kernel l_kernel(p_name, platform());
  return l_kernel.run(p_top);
}

void expect_cycles(const std::string& p_what, Cycle p_got, Cycle p_want) {
  if (p_got != p_want) {
    fibha::tb::fail(p_what + ": " + std::to_string(p_got) + " cycles, expected " + std::to_string(p_want));
  } else {
    std::printf("  ok  %-64s %8llu cycles\n", p_what.c_str(), static_cast<unsigned long long>(p_got));
  }
}

// ---- Two processes through a FIFO -------------------------------------------------------

constexpr unsigned kTokens = 100;
constexpr unsigned kProducerDepth = 4;
constexpr unsigned kConsumerDepth = 5;
constexpr unsigned kConsumerIi = 3;

template <int t_Depth>
void produce(hls::stream<uint32_t, t_Depth>& p_out) {
  FIBHA_PIPELINED_FOR(produce_loop, kProducerDepth) (uint32_t l_i = 0; l_i < kTokens; ++l_i) {
    FIBHA_PIPELINE(produce_loop, 1);
    p_out.write(l_i);
  }
}

template <int t_Depth>
void consume(hls::stream<uint32_t, t_Depth>& p_in, uint32_t& p_sum) {
  uint32_t l_sum = 0;
  FIBHA_PIPELINED_FOR(consume_loop, kConsumerDepth) (uint32_t l_i = 0; l_i < kTokens; ++l_i) {
    FIBHA_PIPELINE(consume_loop, 3);
    l_sum += p_in.read();
  }
  p_sum = l_sum;
}

template <int t_Depth>
void producer_consumer(uint32_t& p_sum) {
  FIBHA_DATAFLOW(region);
  hls::stream<uint32_t, t_Depth> l_fifo("fifo");
  FIBHA_PROCESS(region, "producer", produce<t_Depth>(l_fifo));
  FIBHA_PROCESS(region, "consumer", consume<t_Depth>(l_fifo, p_sum));
  FIBHA_DATAFLOW_RUN(region);
}

/// Issue cycles worked out by hand: a token written in the last stage of iteration i
/// (issue + depth - 1) is readable one cycle later; token n may be written once token
/// n - D was read (one cycle before). Both pipelines stall as a whole.
struct TwoProcessExpectation {
  Cycle producer_end;
  Cycle consumer_end;
};

TwoProcessExpectation expected_two_process(unsigned p_depth) {
  std::vector<Cycle> l_p(kTokens);
  std::vector<Cycle> l_c(kTokens);
  // The recurrences interleave: iterate until the schedule is stable (it is monotone).
  for (int l_round = 0; l_round < 1000; ++l_round) {
    bool l_changed = false;
    for (unsigned l_i = 0; l_i < kTokens; ++l_i) {
      Cycle l_issue = l_i == 0 ? 0 : l_p[l_i - 1] + 1;
      if (l_i >= p_depth) {
        const Cycle l_free = l_c[l_i - p_depth] + 1;  // slot free for the write
        const Cycle l_write = l_issue + kProducerDepth - 1;
        if (l_write < l_free) {
          l_issue = l_free - (kProducerDepth - 1);
        }
      }
      l_changed = l_changed || l_issue != l_p[l_i];
      l_p[l_i] = l_issue;
    }
    for (unsigned l_i = 0; l_i < kTokens; ++l_i) {
      Cycle l_issue = l_i == 0 ? 0 : l_c[l_i - 1] + kConsumerIi;
      const Cycle l_ready = l_p[l_i] + (kProducerDepth - 1) + 1;
      l_issue = l_issue > l_ready ? l_issue : l_ready;
      l_changed = l_changed || l_issue != l_c[l_i];
      l_c[l_i] = l_issue;
    }
    if (!l_changed) {
      break;
    }
  }
  return TwoProcessExpectation{l_p.back() + kProducerDepth, l_c.back() + kConsumerDepth};
}

template <int t_Depth>
void check_two_process(const std::string& p_name) {
  uint32_t l_sum = 0;
  Kernel l_kernel(p_name, platform());
  const Cycle l_cycles = l_kernel.run([&] { producer_consumer<t_Depth>(l_sum); });
  const TwoProcessExpectation l_want = expected_two_process(t_Depth);
  Cycle l_producerEnd = 0;
  Cycle l_producerBlocked = 0;
  for (const fibha::csim::ProcessReport& l_p : l_kernel.processes()) {
    if (l_p.path == p_name + "/producer") {
      l_producerEnd = l_p.end;
      for (const fibha::csim::Charge& l_ch : l_p.charges) {
        if (l_ch.cause == fibha::csim::Cause::kBlocked) {
          l_producerBlocked += l_ch.cycles;
        }
      }
    }
  }
  expect_cycles(p_name + ": producer end", l_producerEnd, l_want.producer_end);
  expect_cycles(p_name + ": kernel (consumer end)", l_cycles, l_want.consumer_end);
  const bool l_shouldBlock = t_Depth < static_cast<int>(kTokens);
  if (l_shouldBlock != (l_producerBlocked > 0)) {
    fibha::tb::fail(p_name + ": producer blocked for " + std::to_string(l_producerBlocked) + " cycles");
  }
  if (l_sum != kTokens * (kTokens - 1) / 2) {
    fibha::tb::fail(p_name + ": wrong data through the FIFO");
  }
}

// ---- The schedule check ----------------------------------------------------------------

/// Checks that the last run's schedule check reported p_loop / p_array as stated.
void expect_finding(const std::string& p_loop, const std::string& p_array, unsigned p_accesses, unsigned p_ports,
                    unsigned p_ii) {
  for (const fibha::csim::LoopSite* l_site : fibha::csim::LoopSite::all()) {
    for (const fibha::csim::LoopSite::Finding& l_f : l_site->findings()) {
      if (l_site->name() == p_loop && l_f.array == p_array && l_f.accesses == p_accesses && l_f.ports == p_ports &&
          l_f.needed_ii == p_ii && l_f.declared_ii == 1) {
        std::printf("  ok  schedule check: %s on %s, %u accesses to a %u-port bank: II 1 -> %u\n", p_loop.c_str(),
                    p_array.c_str(), p_accesses, p_ports, p_ii);
        return;
      }
    }
  }
  fibha::tb::fail("the schedule check did not report " + p_loop + " / " + p_array);
}

constexpr unsigned kLoopTrips = 50;
constexpr unsigned kLoopDepth = 3;

/// Sums three elements of p_a per iteration.
template <class t_A>
uint32_t three_reads(t_A& p_a) {
  uint32_t l_sum = 0;
  FIBHA_PIPELINED_FOR(three_reads_loop, kLoopDepth) (unsigned l_i = 0; l_i < kLoopTrips; ++l_i) {
    FIBHA_PIPELINE(three_reads_loop, 1);
    l_sum += p_a[3 * l_i] + p_a[3 * l_i + 1] + p_a[3 * l_i + 2];
  }
  return l_sum;
}

void check_bank_conflicts() {
  // One dual-port bank, three reads per iteration: II 2 = ceil(3 / 2).
  {
    Array<uint32_t, 3 * kLoopTrips> l_a;
    for (unsigned l_i = 0; l_i < 3 * kLoopTrips; ++l_i) {
      l_a.data()[l_i] = l_i;
    }
    FIBHA_BIND_STORAGE(l_a, ram_2p, bram);
    uint32_t l_sum = 0;
    const Cycle l_c = run("bank_conflict", [&] { l_sum = three_reads(l_a); });
    expect_cycles("3 reads of one ram_2p bank per iteration: II 2", l_c, (kLoopTrips - 1) * 2 + kLoopDepth);
    if (l_sum != (3 * kLoopTrips) * (3 * kLoopTrips - 1) / 2) {
      fibha::tb::fail("bank conflict case: wrong sum");
    }
    expect_finding("three_reads_loop", "l_a", 3, 2, 2);
  }
  // Partitioned cyclic by 3: one read per bank, II stays 1.
  {
    Array<uint32_t, 3 * kLoopTrips> l_a;
    FIBHA_ARRAY_PARTITION(l_a, cyclic, 3, 1);
    const Cycle l_c = run("partitioned", [&] { (void)three_reads(l_a); });
    expect_cycles("3 reads of 3 cyclic banks per iteration: II 1", l_c, (kLoopTrips - 1) * 1 + kLoopDepth);
  }
  // A one-port RAM: II 3.
  {
    Array<uint32_t, 3 * kLoopTrips> l_a;
    FIBHA_BIND_STORAGE(l_a, ram_1p, bram);
    const Cycle l_c = run("one_port", [&] { (void)three_reads(l_a); });
    expect_cycles("3 reads of one ram_1p bank per iteration: II 3", l_c, (kLoopTrips - 1) * 3 + kLoopDepth);
  }
  // A word of 8 lanes not aggregated: Vitis splits the struct, 8 reads of one bank: II 4.
  for (const bool l_aggregate : {false, true}) {
    Array<Vec<8>, kLoopTrips> l_words;
    if (l_aggregate) {
      FIBHA_AGGREGATE(l_words);
    } else {
      FIBHA_BIND_STORAGE(l_words, ram_2p, bram);
    }
    int32_t l_sum = 0;
    const Cycle l_c = run("vec_words", [&] {
      FIBHA_PIPELINED_FOR(word_loop, kLoopDepth) (unsigned l_i = 0; l_i < kLoopTrips; ++l_i) {
        FIBHA_PIPELINE(word_loop, 1);
        const Vec<8> l_w = l_words[l_i];
        l_sum += l_w.v[0];
      }
    });
    const unsigned l_ii = l_aggregate ? 1 : 4;
    expect_cycles(std::string("Vec<8> words, ") + (l_aggregate ? "aggregated: II 1" : "split per lane: II 4"), l_c,
                  (kLoopTrips - 1) * l_ii + kLoopDepth);
  }
}

// ---- m_axi ------------------------------------------------------------------------------

constexpr unsigned kBurstBytes = 4096;
constexpr unsigned kSingleDepth = 2;

void check_axi() {
  std::vector<uint8_t> l_memory(kBurstBytes, 7);

  // 4096 bytes as 256 words of 128 bits: 16 transactions of 16 beats, issued one per cycle,
  // back to back on the port: word i arrives at L + i, the copy loop issues it then, and
  // drains after the last: L + (256 - 1) + depth.
  {
    Array<Vec<16>, kBurstBytes / 16> l_dst;
    FIBHA_AGGREGATE(l_dst);
    const auto* l_src = reinterpret_cast<const Vec<16>*>(l_memory.data());
    const Cycle l_c = run("burst128", [&] {
      fibha::AxiIn<Vec<16>> l_port(l_src);
      FIBHA_M_AXI(l_port, gmem0, 256);
      fibha::axi::burst_read<kBurstBytes / 16>(l_port, 0, kBurstBytes / 16, l_dst);
    });
    expect_cycles("burst read of 4096 B over a 128-bit port", l_c,
                  kLatency + (kBurstBytes / 16 - 1) + fibha::axi::kBurstDepth);
  }
  // The same bytes over an int8_t port: one byte per beat.
  {
    Array<int8_t, kBurstBytes> l_dst;
    const auto* l_src = reinterpret_cast<const int8_t*>(l_memory.data());
    const Cycle l_c = run("burst8", [&] {
      fibha::AxiIn<int8_t> l_port(l_src);
      FIBHA_M_AXI(l_port, gmem0, 4096);
      fibha::axi::burst_read<kBurstBytes>(l_port, 0, kBurstBytes, l_dst);
    });
    expect_cycles("burst read of 4096 B over an 8-bit port", l_c,
                  kLatency + (kBurstBytes - 1) + fibha::axi::kBurstDepth);
  }
  // Byte by byte, no burst (a pipelined loop of single reads): 16 transactions in flight,
  // each occupies its slot for L + 1 cycles, so every 16 requests take L + 1 cycles.
  {
    const auto* l_src = reinterpret_cast<const int8_t*>(l_memory.data());
    int32_t l_sum = 0;
    const Cycle l_c = run("singles", [&] {
      fibha::AxiIn<int8_t> l_port(l_src);
      FIBHA_M_AXI(l_port, gmem0, 4096);
      FIBHA_PIPELINED_FOR(single_loop, kSingleDepth) (unsigned l_i = 0; l_i < kBurstBytes; ++l_i) {
        FIBHA_PIPELINE(single_loop, 1);
        l_sum += l_port[l_i];
      }
    });
    Cycle l_issue = 0;
    std::vector<Cycle> l_release(kBurstBytes);
    for (unsigned l_i = 0; l_i < kBurstBytes; ++l_i) {
      l_issue = l_i == 0 ? 0 : l_issue + 1;
      if (l_i >= kOutstanding && l_release[l_i - kOutstanding] > l_issue) {
        l_issue = l_release[l_i - kOutstanding];
      }
      l_release[l_i] = l_issue + kLatency + 1;
    }
    const Cycle l_want = std::max<Cycle>(l_issue + kSingleDepth, l_release.back());
    expect_cycles("4096 single-byte reads in a pipelined loop (no burst)", l_c, l_want);
  }
  // In straight-line code each single read waits for its data: L + 1 cycles.
  {
    const auto* l_src = reinterpret_cast<const uint32_t*>(l_memory.data());
    uint32_t l_sum = 0;
    const Cycle l_c = run("straight", [&] {
      fibha::AxiIn<uint32_t> l_port(l_src);
      FIBHA_M_AXI(l_port, gmem1, 1024);
      l_sum = l_port[0] + l_port[1] + l_port[2];
    });
    expect_cycles("3 single reads in straight-line code", l_c, 3 * (kLatency + 1));
  }
  // A burst write of 256 words: beat i leaves at i + depth - 1; the last transaction's
  // response comes L after its last beat.
  {
    std::vector<Vec<16>> l_out(kBurstBytes / 16);
    Array<Vec<16>, kBurstBytes / 16> l_src;
    FIBHA_AGGREGATE(l_src);
    const Cycle l_c = run("burst_write", [&] {
      fibha::AxiOut<Vec<16>> l_port(l_out.data());
      FIBHA_M_AXI(l_port, gmem0, 256);
      fibha::axi::burst_write<kBurstBytes / 16>(l_src, l_port, 0, kBurstBytes / 16);
    });
    const Cycle l_lastBeat = (kBurstBytes / 16 - 1) + (fibha::axi::kBurstDepth - 1);
    expect_cycles("burst write of 4096 B over a 128-bit port", l_c, l_lastBeat + 1 + kLatency);
  }
}

// ---- Deadlocks --------------------------------------------------------------------------

void expect_deadlock(const std::string& p_name, const std::function<void()>& p_top,
                     const std::vector<std::string>& p_mentions) {
  Kernel l_kernel(p_name, platform());
  try {
    l_kernel.run(p_top);
    fibha::tb::fail(p_name + ": no deadlock reported");
  } catch (const fibha::csim::Deadlock& l_e) {
    const std::string l_msg = l_e.what();
    for (const std::string& l_m : p_mentions) {
      if (l_msg.find(l_m) == std::string::npos) {
        fibha::tb::fail(p_name + ": the report does not mention '" + l_m + "':\n" + l_msg);
        return;
      }
    }
    std::printf("  ok  %s reported:\n      %s\n", p_name.c_str(), l_msg.c_str());
  }
  fibha::csim::StreamLedger::instance().clear_leftovers();  // the hung FIFOs' tokens, expected here
}

void check_deadlocks() {
  // A reader wants one token more than its writer writes.
  expect_deadlock(
      "starved_reader",
      [] {
        FIBHA_DATAFLOW(region);
        hls::stream<uint32_t, 2> l_s("short_stream");
        FIBHA_PROCESS(region, "writer", for (unsigned l_i = 0; l_i < 3; ++l_i) l_s.write(l_i));
        FIBHA_PROCESS(region, "reader", for (unsigned l_i = 0; l_i < 4; ++l_i) (void)l_s.read());
        FIBHA_DATAFLOW_RUN(region);
      },
      {"reader", "short_stream", "writer", "finished"});
  // Two processes each filling the other's input before reading their own: both FIFOs
  // full, both writers blocked.
  expect_deadlock(
      "full_cycle",
      [] {
        FIBHA_DATAFLOW(region);
        hls::stream<uint32_t, 2> l_ab("a_to_b");
        hls::stream<uint32_t, 2> l_ba("b_to_a");
        FIBHA_PROCESS(region, "a", for (unsigned l_i = 0; l_i < 3; ++l_i) l_ab.write(l_i); (void)l_ba.read());
        FIBHA_PROCESS(region, "b", for (unsigned l_i = 0; l_i < 3; ++l_i) l_ba.write(l_i); (void)l_ab.read());
        FIBHA_DATAFLOW_RUN(region);
      },
      {"'full_cycle/a'", "'full_cycle/b'", "a_to_b", "b_to_a", "full"});
  // One process overfilling a FIFO it reads itself later.
  expect_deadlock(
      "self_fifo",
      [] {
        hls::stream<uint32_t, 2> l_s("own_fifo");
        for (unsigned l_i = 0; l_i < 3; ++l_i) {
          l_s.write(l_i);
        }
        for (unsigned l_i = 0; l_i < 3; ++l_i) {
          (void)l_s.read();
        }
      },
      {"self_fifo", "own_fifo", "full"});
}

}  // namespace

// ---- A streaming 3x3 convolution engine -----------------------------------------------

/// SeslConv on a 4x4x4 map, 3x3 stride 1 SAME, 8 output channels, SIMD 4, PE 2: one input
/// word per pixel, 9 window words per output pixel, 4 folds. Worked out by hand from the
/// declared depths and the FIFO rules (every input word is there at cycle 0):
///  * the window generator writes one scan pixel per cycle from cycle 0 and can emit the
///    first window word once the window's last pixel, scan pixel (K-1)*(W+2) + K-1 = 14, is
///    written: in iteration 15, whose write lands at 15 + depth - 1 and is readable a
///    cycle later;
///  * the MVAU, the slowest process (16 pixels x 4 folds x 9 = 576 iterations at II 1),
///    then never waits: it reads a pixel's 9 words in its first fold only, so the window
///    generator has the other 27 cycles of each pixel to write the next pixel's input and
///    to refill the depth-2 FIFO; its last accumulator lands at last issue + depth - 1;
///  * the requantizer (one lane a cycle: 2 iterations per accumulator of 2 lanes) reads it
///    a cycle later and ends its second iteration's pipeline after its depth.
void check_conv_engine() {
  constexpr unsigned kH = 4, kW = 4, kInC = 4, kOutC = 8, kSimd = 4, kPe = 2;
  using E = fibha::SeslConv<kH, kW, kInC, kOutC, 3, 1, fibha::Padding::kSame, kSimd, kPe>;
  constexpr Cycle kWindowDepth = 1 + 2 + 1;           // FIFO read, BRAM read, FIFO write
  constexpr Cycle kMvauDepth = 1 + (2 + 3 + 2 + 1) + 1;  // read, BRAM + multiply + 2 adder levels + accumulate, write
  constexpr Cycle kRequantDepth = 1 + 6 + 1;          // read, requantize, write
  constexpr Cycle kFirstWindowIteration = (3 - 1) * (kW + 2) + 3 - 1 + 1;
  constexpr Cycle kMvauIterations = Cycle{kH} * kW * (kOutC / kPe) * (9 * kInC / kSimd);
  constexpr Cycle kFirstRead = kFirstWindowIteration + (kWindowDepth - 1) + 1;
  constexpr Cycle kLastAcc = kFirstRead + kMvauIterations - 1 + (kMvauDepth - 1) + 1;
  constexpr Cycle kWant = kLastAcc + 1 + kRequantDepth;  // the last accumulator's 2 iterations
  static_assert(E::M::kDepth == kMvauDepth && E::Window::kDepth == kWindowDepth && E::Rq::kDepth == kRequantDepth,
                "the engine's declared depths changed: work the expected cycles out again");
  fibha::tb::Rng l_rng(11);
  auto l_p = fibha::tb::make_box<E::Params>();
  const std::vector<int8_t> l_w = fibha::tb::random_bytes(l_rng, size_t{kOutC} * E::kDepth, -127, 127);
  fibha::tb::fill(l_p->value, l_w, fibha::tb::random_channel_quant(l_rng, kOutC, static_cast<int>(E::kDepth)),
                  fibha::tb::random_quant(l_rng, false));
  hls::stream<E::InWord> l_in("conv_in");
  hls::stream<E::OutWord> l_out("conv_out");
  for (unsigned l_i = 0; l_i < kH * kW; ++l_i) {
    l_in.write(E::InWord{});
  }
  const Cycle l_cycles = run("conv_engine", [&] { E::run(l_in, l_out, l_p->value); });
  for (unsigned l_i = 0; l_i < kH * kW * kOutC / kPe; ++l_i) {
    l_out.read();
  }
  expect_cycles("SeslConv 4x4x4->8 3x3/1 SAME, SIMD 4, PE 2 (576 MVAU iterations)", l_cycles, kWant);
}

/// A Regroup between widths neither of which divides the other (16 -> 3 channels, 12 words
/// in, 64 out): records of lcm(16, 3) = 48 channels, 4 of them. Worked by hand, a record's
/// trips, reading when fewer than 3 channels are held and writing whenever 3 are: trip 1
/// reads 16 and writes 3, trips 2-5 write (13 -> 1 held), trip 6 reads and writes, trips 7-10
/// write (14 -> 2), trip 11 reads and writes, trips 12-16 write (15 -> 0): 16 trips, one per
/// output word. Its input, written before the kernel starts (cycle 0), is readable from
/// cycle 1; the loop then issues 64 trips at II 1 and ends its last after the copy depth
/// (read, write).
void check_regroup() {
  constexpr unsigned kInWords = 12, kIn = 16, kOut = 3;
  constexpr unsigned kOutWords = kInWords * kIn / kOut;
  constexpr Cycle kTrips = 4 * 16;
  constexpr Cycle kDepth = fibha::latency::kStreamRead + fibha::latency::kStreamWrite;
  hls::stream<Vec<kIn>> l_in("regroup_in");
  hls::stream<Vec<kOut>, kOutWords> l_out("regroup_out");
  for (unsigned l_i = 0; l_i < kInWords; ++l_i) {
    l_in.write(Vec<kIn>{});
  }
  const Cycle l_c = run("regroup", [&] { fibha::Regroup<kInWords, kIn, kOut>::run(l_in, l_out); });
  for (unsigned l_i = 0; l_i < kOutWords; ++l_i) {
    l_out.read();
  }
  expect_cycles("Regroup 16->3, 12 words in, 64 out: 4 records of 16 trips", l_c, 1 + (kTrips - 1) + kDepth);
}

int main() {
  std::printf("tb_timing: two processes through a FIFO (producer II 1, consumer II %u)\n", kConsumerIi);
  check_two_process<2>("fifo_depth_2");
  check_two_process<kTokens>("fifo_depth_100");
  std::printf("tb_timing: a streaming 3x3 convolution engine\n");
  check_conv_engine();
  std::printf("tb_timing: a width converter between widths that do not divide\n");
  check_regroup();
  std::printf("tb_timing: schedule check\n");
  check_bank_conflicts();
  std::printf("tb_timing: m_axi\n");
  check_axi();
  std::printf("tb_timing: deadlocks\n");
  check_deadlocks();
  return fibha::tb::finish("tb_timing");
}
