// Window geometry and the line buffer of the streaming (SESL and FIRB) engines.
//
// A streaming engine walks a "scan" grid: the input surrounded by its padding, in raster
// order. At each scan position it stores one pixel (the input pixel, or the zero point
// where the position is padding) into a ring of pixels, the line buffer. A K x K window
// whose bottom-right corner is the current position then lies entirely in the ring,
// because the ring holds the last (K - 1) scan rows plus K pixels:
//     kBufPixels = (K - 1) * kScanW + K.
// Storing the zero point at padding positions keeps the multiply-accumulate loops free
// of border tests: (zero point - zero point) * w contributes nothing, as in TFLite.
//
// Invariants: every input pixel is consumed exactly once (the scan covers the whole input
// even where VALID padding drops trailing rows or columns); windows are reported in
// raster order of the output; a ring read never returns a pixel older than the window.
#ifndef FIBHA_LINE_BUFFER_HPP
#define FIBHA_LINE_BUFFER_HPP

#include <cstdint>

#ifndef __SYNTHESIS__
#include <cassert>
#endif

#include "fibha/latency.hpp"
#include "fibha/schedule.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"

namespace fibha {

/// Larger of two constants (std::max is not constexpr-friendly in every HLS front end).
constexpr unsigned const_max(unsigned p_a, unsigned p_b) { return p_a > p_b ? p_a : p_b; }
/// Smaller of two constants.
constexpr unsigned const_min(unsigned p_a, unsigned p_b) { return p_a < p_b ? p_a : p_b; }

/// Output size and padding of a K x K, stride-S window over one dimension, as TFLite
/// computes them (ComputePaddingHeightWidth with dilation 1).
constexpr unsigned window_out_extent(unsigned p_in, unsigned p_k, unsigned p_stride, Padding p_pad) {
  return p_pad == Padding::kSame ? (p_in + p_stride - 1) / p_stride : (p_in - p_k) / p_stride + 1;
}
/// Padding before the first input row/column (the smaller half of the total).
constexpr unsigned window_pad_before(unsigned p_in, unsigned p_k, unsigned p_stride, Padding p_pad) {
  return p_pad == Padding::kValid
             ? 0
             : ((window_out_extent(p_in, p_k, p_stride, p_pad) - 1) * p_stride + p_k > p_in
                    ? ((window_out_extent(p_in, p_k, p_stride, p_pad) - 1) * p_stride + p_k - p_in) / 2
                    : 0);
}

/// Compile-time geometry of a sliding K x K window with stride S over an H x W input.
/// \tparam t_InH   input rows
/// \tparam t_InW   input columns
/// \tparam t_K     kernel size (square)
/// \tparam t_Stride stride in both dimensions
/// \tparam t_Pad   SAME or VALID, as TFLite
template <unsigned t_InH, unsigned t_InW, unsigned t_K, unsigned t_Stride, Padding t_Pad>
struct WindowGeometry {
  static_assert(t_InH > 0 && t_InW > 0, "empty input");
  static_assert(t_K > 0 && t_Stride > 0, "kernel and stride must be positive");
  static_assert(t_Pad == Padding::kSame || (t_InH >= t_K && t_InW >= t_K),
                "VALID padding needs an input at least as large as the kernel");

  static constexpr unsigned kOutH = window_out_extent(t_InH, t_K, t_Stride, t_Pad);
  static constexpr unsigned kOutW = window_out_extent(t_InW, t_K, t_Stride, t_Pad);
  static constexpr unsigned kPadTop = window_pad_before(t_InH, t_K, t_Stride, t_Pad);
  static constexpr unsigned kPadLeft = window_pad_before(t_InW, t_K, t_Stride, t_Pad);
  /// Scan grid: every window position and every input pixel.
  static constexpr unsigned kScanH = const_max((kOutH - 1) * t_Stride + t_K, kPadTop + t_InH);
  static constexpr unsigned kScanW = const_max((kOutW - 1) * t_Stride + t_K, kPadLeft + t_InW);
  /// Pixels the line buffer ring holds: K - 1 scan rows plus K pixels.
  static constexpr unsigned kBufPixels = (t_K - 1) * kScanW + t_K;
  static constexpr unsigned kTaps = t_K * t_K;
  static constexpr unsigned kScanPositions = kScanH * kScanW;
  static constexpr unsigned kInPixels = t_InH * t_InW;
  static constexpr unsigned kOutPixels = kOutH * kOutW;

  /// True where scan position (y, x) is an input pixel (not padding).
  static bool is_input(unsigned p_y, unsigned p_x) {
    return p_y >= kPadTop && p_y < kPadTop + t_InH && p_x >= kPadLeft && p_x < kPadLeft + t_InW;
  }

  /// True where scan coordinate p_c ends a window along one axis with p_out outputs.
  static bool ends_window(unsigned p_c, unsigned p_out) {
    return p_c >= t_K - 1 && (p_c - (t_K - 1)) % t_Stride == 0 && (p_c - (t_K - 1)) / t_Stride < p_out;
  }

  /// True where scan position (y, x) is the bottom-right corner of an output window.
  static bool window_ready(unsigned p_y, unsigned p_x) {
    return ends_window(p_y, kOutH) && ends_window(p_x, kOutW);
  }

  /// How many pixels back in the ring tap (ky, kx) lies from the window's corner.
  static unsigned tap_distance(unsigned p_tap) {
    const unsigned l_ky = p_tap / t_K;
    const unsigned l_kx = p_tap % t_K;
    return (t_K - 1 - l_ky) * kScanW + (t_K - 1 - l_kx);
  }
};

/// Index arithmetic of a ring of t_Pixels slots, without a divider.
/// \tparam t_Pixels ring size in pixels
template <unsigned t_Pixels>
struct Ring {
  static_assert(t_Pixels > 0, "empty ring");

  /// Slot after p_head.
  static unsigned next(unsigned p_head) { return p_head + 1 == t_Pixels ? 0 : p_head + 1; }

  /// Slot p_distance pixels before p_head (p_distance < t_Pixels).
  static unsigned back(unsigned p_head, unsigned p_distance) {
#ifndef __SYNTHESIS__
    assert(p_distance < t_Pixels);
#endif
    return p_head >= p_distance ? p_head - p_distance : p_head + t_Pixels - p_distance;
  }
};

/// Walks the scan grid of a WindowGeometry in raster order without dividers.
/// \tparam t_Geo a WindowGeometry
template <class t_Geo>
class ScanCursor {
 public:
  unsigned y() const { return m_y; }
  unsigned x() const { return m_x; }
  bool is_input() const { return t_Geo::is_input(m_y, m_x); }
  bool window_ready() const { return t_Geo::window_ready(m_y, m_x); }
  void advance() {
    if (m_x + 1 == t_Geo::kScanW) {
      m_x = 0;
      ++m_y;
    } else {
      ++m_x;
    }
  }

 private:
  unsigned m_y = 0;
  unsigned m_x = 0;
};

/// The line buffer of a streaming engine: kBufPixels slots of t_Sf words. Its words are
/// Vec structs that Vitis splits per lane (no AGGREGATE), in a simple dual-port RAM.
template <class t_Geo, unsigned t_Simd, unsigned t_Sf>
using LineBuffer = Array<Vec<t_Simd>, t_Geo::kBufPixels, t_Sf>;

/// Stores one scan position's pixel (t_Sf words) into line-buffer slot p_slot: the next
/// input pixel at an input position, the zero point p_zp at a padding position.
template <unsigned t_Simd, unsigned t_Sf, class t_Buf, class t_Stream>
inline void fill_slot(t_Buf& p_lineBuf, unsigned p_slot, t_Stream& p_in, bool p_isInput, int32_t p_zp) {
#pragma HLS INLINE
  FIBHA_PIPELINED_FOR(fill_loop, latency::kCopy) (unsigned l_sf = 0; l_sf < t_Sf; ++l_sf) {
    FIBHA_PIPELINE(fill_loop, 1);
    p_lineBuf[p_slot][l_sf] = p_isInput ? p_in.read() : splat<t_Simd>(p_zp);
  }
}

/// Streams one image through a windowed engine: at every scan position stores the pixel
/// into the line buffer and, when a window is complete, has t_Engine::compute_window
/// write its outputs from the ring (weights p_w, tables p_cq).
template <class t_Engine, class t_Geo, unsigned t_Simd, unsigned t_Sf, class t_In, class t_Out, class t_W, class t_Cq>
inline void scan_image(t_In& p_in, t_Out& p_out, const t_W& p_w, const t_Cq& p_cq, const QuantParams& p_q) {
#pragma HLS INLINE
  LineBuffer<t_Geo, t_Simd, t_Sf> l_lineBuf;
  FIBHA_BIND_STORAGE(l_lineBuf, ram_s2p, bram);
  unsigned l_head = 0;
  ScanCursor<t_Geo> l_scan;

scan_loop:
  for (unsigned l_pos = 0; l_pos < t_Geo::kScanPositions; ++l_pos) {
    fill_slot<t_Simd, t_Sf>(l_lineBuf, l_head, p_in, l_scan.is_input(), p_q.in_zp);
    if (l_scan.window_ready()) {
      t_Engine::compute_window(l_lineBuf, l_head, p_out, p_w, p_cq, p_q);
    }
    l_head = Ring<t_Geo::kBufPixels>::next(l_head);
    l_scan.advance();
  }
}

}  // namespace fibha

#endif  // FIBHA_LINE_BUFFER_HPP
