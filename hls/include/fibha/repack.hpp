// Repacking a byte stream from words of one width into words of another, any two widths,
// one output word per cycle.
//
// The kernel's edges need it: the input image arrives in 16-byte m_axi beats and the
// first engine takes words of its SIMD width (3 channels for an RGB image); the SESL part
// hands the SEML part 16-channel words. A record (a pixel, or the whole image) of t_Bytes
// bytes is t_Bytes / t_In input words and ceil(t_Bytes / t_Out) output words, the last
// one zero-padded; records do not share words. A shift register of t_In + t_Out bytes
// holds what was read and not yet written: each cycle it takes an input word when it
// holds less than an output word, and gives an output word when it holds one (or the
// record's last bytes), so a record takes about max(input words, output words) cycles
// (repack_trips counts them exactly).
#ifndef FIBHA_REPACK_HPP
#define FIBHA_REPACK_HPP

#include <cstdint>

#include "fibha/latency.hpp"
#include "fibha/schedule.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"

namespace fibha {

/// Cycles Repack spends on a record: its loop, run on byte counts alone.
constexpr unsigned repack_trips(unsigned p_bytes, unsigned p_in, unsigned p_out) {
  unsigned l_have = 0, l_read = 0, l_written = 0, l_trips = 0;
  const unsigned l_inWords = p_bytes / p_in;
  const unsigned l_outWords = (p_bytes + p_out - 1) / p_out;
  while (l_written < l_outWords) {
    if (l_read < l_inWords && l_have < p_out) {
      l_have += p_in;
      ++l_read;
    }
    if (l_have >= p_out || l_read == l_inWords) {
      l_have = l_have > p_out ? l_have - p_out : 0;
      ++l_written;
    }
    ++l_trips;
  }
  return l_trips;
}

/// Repacks t_Records records of t_Bytes bytes from t_In-byte words into t_Out-byte words.
template <unsigned t_Records, unsigned t_Bytes, unsigned t_In, unsigned t_Out>
struct Repack {
  static_assert(t_Bytes % t_In == 0, "a record is whole input words");

  static constexpr unsigned kInWords = t_Bytes / t_In;
  static constexpr unsigned kOutWords = (t_Bytes + t_Out - 1) / t_Out;
  static constexpr unsigned kTrips = repack_trips(t_Bytes, t_In, t_Out);
  static constexpr unsigned kHold = t_In + t_Out;

  /// Repacks p_times x t_Records records.
  template <int t_InDepth, int t_OutDepth>
  static void run(hls::stream<Vec<t_In>, t_InDepth>& p_in, hls::stream<Vec<t_Out>, t_OutDepth>& p_out,
                  uint32_t p_times = 1) {
    int8_t l_hold[kHold];
#pragma HLS ARRAY_PARTITION variable=l_hold type=complete
    unsigned l_have = 0;
    unsigned l_read = 0;
    unsigned l_written = 0;
    unsigned l_trip = 0;
    FIBHA_PIPELINED_FOR(repack_loop, latency::kCopy)
    (uint64_t l_i = 0; l_i < uint64_t{p_times} * t_Records * kTrips; ++l_i) {
      FIBHA_PIPELINE(repack_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_Records * kTrips * kStreamImages
      if (l_read < kInWords && l_have < t_Out) {
        const Vec<t_In> l_word = p_in.read();
        for (unsigned l_k = 0; l_k < kHold; ++l_k) {
#pragma HLS UNROLL
          if (l_k >= l_have && l_k < l_have + t_In) {
            l_hold[l_k] = l_word.v[l_k - l_have];
          }
        }
        l_have += t_In;
        ++l_read;
      }
      if (l_written < kOutWords && (l_have >= t_Out || l_read == kInWords)) {
        Vec<t_Out> l_out;
        for (unsigned l_k = 0; l_k < t_Out; ++l_k) {
#pragma HLS UNROLL
          l_out.v[l_k] = l_k < l_have ? l_hold[l_k] : int8_t{0};
        }
        p_out.write(l_out);
        for (unsigned l_k = 0; l_k + t_Out < kHold; ++l_k) {
#pragma HLS UNROLL
          l_hold[l_k] = l_hold[l_k + t_Out];
        }
        l_have = l_have > t_Out ? l_have - t_Out : 0;
        ++l_written;
      }
      if (l_trip + 1 == kTrips) {
        l_trip = l_have = l_read = l_written = 0;
      } else {
        ++l_trip;
      }
    }
  }
};

}  // namespace fibha

#endif  // FIBHA_REPACK_HPP
