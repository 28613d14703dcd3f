// How the synthesizable sources state their schedule: one macro per pragma, so that the
// number Vitis HLS reads and the number the timed C simulation keeps time with are the
// same token (fibha/csim/timing.hpp explains the model).
//
//   FIBHA_PIPELINED_FOR(label, depth) (init; cond; step) {
//     FIBHA_PIPELINE(label, ii);                 // #pragma HLS PIPELINE II=ii
//     ...
//   }
//       a loop pipelined at `ii` whose iteration latency is `depth` cycles (a constant
//       expression built from fibha/latency.hpp's operator latencies: Vitis reports the
//       real one in csynth's loop table; compare when Vitis is at hand);
//   FIBHA_DATAFLOW(region); FIBHA_PROCESS(region, "name", call(...)); FIBHA_DATAFLOW_RUN(region);
//       a DATAFLOW region: each call is a process running concurrently with the others;
//   FIBHA_ARRAY_PARTITION(var, cyclic|block, factor, dim), FIBHA_ARRAY_COMPLETE(var, dim),
//   FIBHA_BIND_STORAGE(var, ram_2p|ram_s2p|..., bram|lutram), FIBHA_AGGREGATE(var)
//       an on-chip array's banks, for Vitis and for the schedule check (fibha::Array);
//   FIBHA_SPAN(kind, index)
//       names an interval of the running process's clock in the timing report (an SEML
//       layer); nothing in hardware;
//   FIBHA_SPEND(cycles)
//       the latency of straight-line code outside pipelined loops (a requantization
//       between two loops), from fibha/latency.hpp.
// Under __SYNTHESIS__ each macro is its pragma (or nothing) and the code is plain HLS C++.
#ifndef FIBHA_SCHEDULE_HPP
#define FIBHA_SCHEDULE_HPP

#include <cstdint>

#ifndef __SYNTHESIS__
#include "fibha/csim/memory.hpp"
#include "fibha/csim/timing.hpp"
#endif

#define FIBHA_PRAGMA_STRING(x) _Pragma(#x)
/// Emits a pragma after macro-expanding its argument.
#define FIBHA_PRAGMA(x) FIBHA_PRAGMA_STRING(x)

#ifdef __SYNTHESIS__

#define FIBHA_PIPELINED_FOR(label, depth) label: for
#define FIBHA_PIPELINE(label, ii) FIBHA_PRAGMA(HLS PIPELINE II=ii)
#define FIBHA_DATAFLOW(region) FIBHA_PRAGMA(HLS DATAFLOW)
#define FIBHA_PROCESS(region, name, ...) __VA_ARGS__
#define FIBHA_DATAFLOW_RUN(region)
// (void)var: a declaration is a use of the array (a function that only declares its
// arguments' banks has no other).
#define FIBHA_ARRAY_PARTITION(var, kind, factor, dim) \
  FIBHA_PRAGMA(HLS ARRAY_PARTITION variable=var type=kind factor=factor dim=dim)(void)(var)
#define FIBHA_ARRAY_COMPLETE(var, dim) \
  FIBHA_PRAGMA(HLS ARRAY_PARTITION variable=var type=complete dim=dim)(void)(var)
#define FIBHA_BIND_STORAGE(var, kind, impl) \
  FIBHA_PRAGMA(HLS BIND_STORAGE variable=var type=kind impl=impl)(void)(var)
#define FIBHA_AGGREGATE(var) FIBHA_PRAGMA(HLS AGGREGATE variable=var compact=bit)(void)(var)
#define FIBHA_SPAN(kind, index)
#define FIBHA_SPEND(cycles)

namespace fibha {
namespace detail {
template <class T, unsigned... t_Dims>
struct ArrayOf;
template <class T, unsigned t_N>
struct ArrayOf<T, t_N> {
  using type = T[t_N];
};
template <class T, unsigned t_N, unsigned... t_Rest>
struct ArrayOf<T, t_N, t_Rest...> {
  using type = typename ArrayOf<T, t_Rest...>::type[t_N];
};
}  // namespace detail
/// An on-chip array T[d0][d1]...: a plain C array for Vitis.
template <class T, unsigned... t_Dims>
using Array = typename detail::ArrayOf<T, t_Dims...>::type;
}  // namespace fibha

#else

/// The loop's site (one per source location and template instantiation).
#define FIBHA_LOOP_SITE(label)                                                  \
  ([]() -> ::fibha::csim::LoopSite& {                                           \
    static ::fibha::csim::LoopSite l_site(#label, __FILE__, __LINE__);          \
    return l_site;                                                              \
  }())
#define FIBHA_PIPELINED_FOR(label, depth) \
  if (::fibha::csim::PipelinedLoop label##_pipe{FIBHA_LOOP_SITE(label), (depth)}; true) label: for
#define FIBHA_PIPELINE(label, ii) FIBHA_PRAGMA(HLS PIPELINE II=ii) label##_pipe.iteration(ii)
#define FIBHA_DATAFLOW(region) FIBHA_PRAGMA(HLS DATAFLOW)::fibha::csim::Dataflow region(#region)
#define FIBHA_PROCESS(region, name, ...) region.process(name, [&]() { __VA_ARGS__; })
#define FIBHA_DATAFLOW_RUN(region) region.run()
#define FIBHA_ARRAY_PARTITION(var, kind, factor, dim)                                         \
  FIBHA_PRAGMA(HLS ARRAY_PARTITION variable=var type=kind factor=factor dim=dim)              \
  var.partition(#var, ::fibha::csim::PartitionKind::kind, (factor), (dim))
#define FIBHA_ARRAY_COMPLETE(var, dim)                                  \
  FIBHA_PRAGMA(HLS ARRAY_PARTITION variable=var type=complete dim=dim)  \
  var.partition(#var, ::fibha::csim::PartitionKind::complete, 0, (dim))
#define FIBHA_BIND_STORAGE(var, kind, impl)                               \
  FIBHA_PRAGMA(HLS BIND_STORAGE variable=var type=kind impl=impl)         \
  var.storage(#var, ::fibha::csim::StorageKind::kind)
#define FIBHA_AGGREGATE(var) FIBHA_PRAGMA(HLS AGGREGATE variable=var compact=bit) var.aggregate(#var)
#define FIBHA_SPAN(kind, index) ::fibha::csim::Span l_span_##kind(#kind, (index))
#define FIBHA_SPEND(cycles) ::fibha::csim::spend(cycles)

namespace fibha {
/// An on-chip array T[d0][d1]...: in C simulation, one whose accesses the schedule check counts.
template <class T, unsigned... t_Dims>
using Array = csim::Array<T, t_Dims...>;
}  // namespace fibha

#endif

#endif  // FIBHA_SCHEDULE_HPP
