// Window geometry and the window generator of the streaming (SESL and FIRB) engines.
//
// A streaming engine's input is walked on a "scan" grid: the input surrounded by its
// padding, in raster order. The window generator (finn-hlslib's
// ConvolutionInputGenerator is the model) stores scan pixels into a ring of kRows scan
// rows (padding positions get the zero point, so the multiply-accumulate needs no border
// tests: (zp - zp) * w contributes nothing, as in TFLite) and emits, for each output
// pixel in raster order, the words of its K x K window:
//   kTapMajor   for each tap, the pixel's kSf words (a convolution's OHWI columns);
//   kWordMajor  for each word (channel group), the K x K taps (a depthwise stage).
// One loop at II=1 writes one input word (when one has arrived) and reads one window word
// per iteration when it can: the ring is a simple dual-port memory (one read port, one
// write port), so both
// happen in the same cycle and the generator runs at the rate of its larger side, with
// the first window's fill ((K - 1) rows + K pixels) once. The writer runs ahead of the
// reader by at most t_Ahead (the next output pixel, or the next output row), and never
// overwrites a row the reader still needs.
//
// Invariants: every input word is consumed exactly once (trailing rows or columns no
// window uses, VALID padding, are read and dropped); windows leave in raster order; a
// read never returns a word older than its window or not yet written.
#ifndef FIBHA_WINDOW_HPP
#define FIBHA_WINDOW_HPP

#include <cstdint>

#include "fibha/latency.hpp"
#include "fibha/schedule.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"

namespace fibha {

/// Larger of two constants (std::max is not constexpr-friendly in every HLS front end).
constexpr unsigned const_max(unsigned p_a, unsigned p_b) { return p_a > p_b ? p_a : p_b; }
/// Smaller of two constants.
constexpr unsigned const_min(unsigned p_a, unsigned p_b) { return p_a < p_b ? p_a : p_b; }
/// ceil(p_a / p_b).
constexpr unsigned ceil_div(unsigned p_a, unsigned p_b) { return (p_a + p_b - 1) / p_b; }

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
/// \tparam t_InH    input rows
/// \tparam t_InW    input columns
/// \tparam t_K      kernel size (square)
/// \tparam t_Stride stride in both dimensions
/// \tparam t_Pad    SAME or VALID, as TFLite
template <unsigned t_InH, unsigned t_InW, unsigned t_K, unsigned t_Stride, Padding t_Pad>
struct WindowGeometry {
  static_assert(t_InH > 0 && t_InW > 0, "empty input");
  static_assert(t_K > 0 && t_Stride > 0, "kernel and stride must be positive");
  static_assert(t_Pad == Padding::kSame || (t_InH >= t_K && t_InW >= t_K),
                "VALID padding needs an input at least as large as the kernel");

  static constexpr unsigned kK = t_K;
  static constexpr unsigned kStride = t_Stride;
  static constexpr unsigned kInH = t_InH;
  static constexpr unsigned kInW = t_InW;
  static constexpr unsigned kOutH = window_out_extent(t_InH, t_K, t_Stride, t_Pad);
  static constexpr unsigned kOutW = window_out_extent(t_InW, t_K, t_Stride, t_Pad);
  static constexpr unsigned kPadTop = window_pad_before(t_InH, t_K, t_Stride, t_Pad);
  static constexpr unsigned kPadLeft = window_pad_before(t_InW, t_K, t_Stride, t_Pad);
  /// Scan grid: every window position and every input pixel.
  static constexpr unsigned kScanH = const_max((kOutH - 1) * t_Stride + t_K, kPadTop + t_InH);
  static constexpr unsigned kScanW = const_max((kOutW - 1) * t_Stride + t_K, kPadLeft + t_InW);
  static constexpr unsigned kTaps = t_K * t_K;
  static constexpr unsigned kScanPixels = kScanH * kScanW;
  static constexpr unsigned kInPixels = t_InH * t_InW;
  static constexpr unsigned kOutPixels = kOutH * kOutW;

  /// True where scan position (y, x) is an input pixel (not padding).
  static bool is_input(unsigned p_y, unsigned p_x) {
    return p_y >= kPadTop && p_y < kPadTop + t_InH && p_x >= kPadLeft && p_x < kPadLeft + t_InW;
  }
};

/// The order in which a window's words leave.
enum class WindowOrder : uint8_t {
  kTapMajor,   ///< for each tap, every word of the pixel
  kWordMajor,  ///< for each word, every tap
};

/// How far the writer may run ahead of the reader.
enum class Lookahead : uint8_t {
  kPixel,  ///< the next output pixel's window (stride 1: one new pixel per output)
  kRow,    ///< the next output row's windows (stride 2: S new rows per output row)
};

/// The window generator.
/// \tparam t_Geo   a WindowGeometry
/// \tparam t_Simd  channels per word
/// \tparam t_Sf    words per pixel
/// \tparam t_Order the order of a window's words
/// \tparam t_Ahead how far the writer runs ahead
template <class t_Geo, unsigned t_Simd, unsigned t_Sf, WindowOrder t_Order, Lookahead t_Ahead>
struct WindowGen {
  /// Ring rows: a window's K rows and the S rows of the next output row.
  static constexpr unsigned kRows = t_Geo::kK + t_Geo::kStride;
  static constexpr unsigned kBufWords = kRows * t_Geo::kScanW * t_Sf;
  static constexpr unsigned kBufBytes = kBufWords * t_Simd;
  static constexpr uint64_t kReads = uint64_t{t_Geo::kOutPixels} * t_Geo::kTaps * t_Sf;
  static constexpr uint64_t kWrites = uint64_t{t_Geo::kScanPixels} * t_Sf;
  static constexpr unsigned kDepth = latency::kStreamRead + latency::kBramRead + latency::kStreamWrite;

  /// Streams p_images images: their input pixels in, their windows out (one image after
  /// the other; the ring starts afresh with each). p_zp fills the padding.
  template <int t_InDepth, int t_OutDepth>
  static void run(hls::stream<Vec<t_Simd>, t_InDepth>& p_in, hls::stream<Vec<t_Simd>, t_OutDepth>& p_out,
                  int32_t p_zp, uint32_t p_images = 1) {
    Array<Vec<t_Simd>, kBufWords> l_ring;
    FIBHA_AGGREGATE(l_ring);
    FIBHA_BIND_STORAGE(l_ring, ram_s2p, bram);
  window_image_loop:
    for (uint32_t l_n = 0; l_n < p_images; ++l_n) {
#pragma HLS LOOP_TRIPCOUNT max=kStreamImages
      image(p_in, p_out, p_zp, l_ring);
    }
  }

 private:
  /// One image through the ring.
  template <int t_InDepth, int t_OutDepth>
  static void image(hls::stream<Vec<t_Simd>, t_InDepth>& p_in, hls::stream<Vec<t_Simd>, t_OutDepth>& p_out,
                    int32_t p_zp, Array<Vec<t_Simd>, kBufWords>& p_ring) {
    using G = t_Geo;
    constexpr unsigned kK = G::kK;
    constexpr unsigned kS = G::kStride;
    constexpr unsigned kW = G::kScanW;
    constexpr unsigned kNoLimit = G::kScanPixels;
    const Vec<t_Simd> l_pad = splat<t_Simd>(p_zp);
    // Writer: scan position (row, column, word), its ring row, scan pixels complete.
    unsigned l_wRow = 0;
    unsigned l_wCol = 0;
    unsigned l_wSf = 0;
    unsigned l_wRing = 0;
    unsigned l_wPix = 0;
    uint64_t l_writes = 0;
    // Reader: output pixel, its window's top ring row, the tap (ky, kx) and word.
    unsigned l_oy = 0;
    unsigned l_ox = 0;
    unsigned l_topRing = 0;
    unsigned l_ky = 0;
    unsigned l_kx = 0;
    unsigned l_rSf = 0;
    unsigned l_need = (kK - 1) * kW + kK - 1;  // scan index of the window's last pixel
    uint64_t l_reads = 0;
    FIBHA_PIPELINED_FOR(window_loop, kDepth) (; l_reads < kReads || l_writes < kWrites;) {
      FIBHA_PIPELINE(window_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=kReads + kWrites
      const bool l_readerDone = l_reads == kReads;
      const bool l_canRead = !l_readerDone && l_wPix > l_need;
      // How far the writer may go: the next output pixel's or row's window, and no row
      // the current window still needs may be overwritten.
      unsigned l_limit = kNoLimit;
      if (!l_readerDone) {
        const bool l_lastRow = l_oy + 1 == G::kOutH;
        const bool l_lastCol = l_ox + 1 == G::kOutW;
        if (t_Ahead == Lookahead::kPixel) {
          l_limit = !l_lastCol ? l_need + kS : (!l_lastRow ? l_need + kS * kW - (G::kOutW - 1) * kS : kNoLimit);
        } else {
          l_limit = !l_lastRow ? l_need + kS * kW : kNoLimit;
        }
      }
      // While a complete window is being emitted, an input word is taken only when one has
      // arrived (a non-blocking check), so a slow producer never holds the windows back;
      // when nothing else can happen, the read blocks (the loop stalls for its input
      // instead of spinning, which is the same in time and is charged as a wait).
      const bool p_ringFree = l_readerDone || l_wRow < l_oy * kS + kRows;
      const bool l_input = G::is_input(l_wRow, l_wCol);
      const bool l_canWrite = l_writes < kWrites && l_wPix <= l_limit && p_ringFree &&
                              (!l_input || !l_canRead || !p_in.empty());
      if (l_canWrite) {
        const Vec<t_Simd> l_word = l_input ? p_in.read() : l_pad;
        p_ring[(l_wRing * kW + l_wCol) * t_Sf + l_wSf] = l_word;
        ++l_writes;
        if (l_wSf + 1 == t_Sf) {
          l_wSf = 0;
          ++l_wPix;
          if (l_wCol + 1 == kW) {
            l_wCol = 0;
            ++l_wRow;
            l_wRing = l_wRing + 1 == kRows ? 0 : l_wRing + 1;
          } else {
            ++l_wCol;
          }
        } else {
          ++l_wSf;
        }
      }
      if (l_canRead) {
        const unsigned p_ring0 = l_topRing + l_ky;
        const unsigned l_row = p_ring0 >= kRows ? p_ring0 - kRows : p_ring0;
        p_out.write(p_ring[(l_row * kW + l_ox * kS + l_kx) * t_Sf + l_rSf]);
        ++l_reads;
        // Advance the inner indices in the chosen order; then the output pixel.
        bool l_pixelDone = false;
        if (t_Order == WindowOrder::kTapMajor) {
          if (l_rSf + 1 < t_Sf) {
            ++l_rSf;
          } else {
            l_rSf = 0;
            if (l_kx + 1 < kK) {
              ++l_kx;
            } else {
              l_kx = 0;
              if (l_ky + 1 < kK) {
                ++l_ky;
              } else {
                l_ky = 0;
                l_pixelDone = true;
              }
            }
          }
        } else {
          if (l_kx + 1 < kK) {
            ++l_kx;
          } else {
            l_kx = 0;
            if (l_ky + 1 < kK) {
              ++l_ky;
            } else {
              l_ky = 0;
              if (l_rSf + 1 < t_Sf) {
                ++l_rSf;
              } else {
                l_rSf = 0;
                l_pixelDone = true;
              }
            }
          }
        }
        if (l_pixelDone) {
          if (l_ox + 1 < G::kOutW) {
            ++l_ox;
            l_need += kS;
          } else {
            l_ox = 0;
            ++l_oy;
            l_need = (l_oy * kS + kK - 1) * kW + kK - 1;
            const unsigned l_top = l_topRing + kS;
            l_topRing = l_top >= kRows ? l_top - kRows : l_top;
          }
        }
      }
    }
  }
};

}  // namespace fibha

#endif  // FIBHA_WINDOW_HPP
