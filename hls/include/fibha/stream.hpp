// Stream header selection and the end-of-run stream check.
//
// With Vitis HLS installed, <hls_stream.h> is the vendor's; elsewhere the timed C model in
// fibha/csim/hls_stream.h stands in for it, so g++ builds the same sources. Nothing
// else in fibha names the vendor header. The check compiles away under __SYNTHESIS__.
#ifndef FIBHA_STREAM_HPP
#define FIBHA_STREAM_HPP

#include <cstdint>
#include <cstdio>

#if __has_include(<hls_stream.h>)
#include <hls_stream.h>
#define FIBHA_VENDOR_STREAM 1
#else
#include "fibha/csim/hls_stream.h"
#define FIBHA_VENDOR_STREAM 0
#endif

namespace fibha {
namespace csim {

/// True when no stream holds data: every stream destroyed so far was drained, and every
/// live one is empty. Prints each offender to p_report. With the vendor header, Vitis
/// reports leftovers itself and this returns true.
inline bool streams_clean(std::FILE* p_report = stderr) {
#if FIBHA_VENDOR_STREAM
  (void)p_report;
  return true;
#else
  bool l_clean = true;
  StreamLedger& l_ledger = StreamLedger::instance();
  for (const StreamLedger::Leftover& l_left : l_ledger.leftovers()) {
    std::fprintf(p_report, "csim: stream '%s' was destroyed holding %zu element(s)\n",
                 l_left.name.c_str(), l_left.count);
    l_clean = false;
  }
  for (const void* l_ptr : l_ledger.live()) {
    const StreamBase* l_stream = static_cast<const StreamBase*>(l_ptr);
    if (l_stream->occupancy() != 0) {
      std::fprintf(p_report, "csim: stream '%s' still holds %zu element(s)\n",
                   l_stream->name().c_str(), l_stream->occupancy());
      l_clean = false;
    }
  }
  l_ledger.clear_leftovers();
  return l_clean;
#endif
}

}  // namespace csim
}  // namespace fibha

#endif  // FIBHA_STREAM_HPP
