// SESL depthwise convolution: a dedicated streaming engine for one K x K depthwise layer
// (depth multiplier 1, as in every MobileNet-style network fibha maps).
//
// Three DATAFLOW processes: the window generator emits, per output pixel and group of
// t_Simd channels, the K x K tap words (word-major); the depthwise MAC (fibha/dwmac.hpp)
// accumulates t_Simd channels per cycle, one tap per cycle; the requantizer turns each
// group into a word. OutPixels x (t_C / t_Simd) x K * K cycles, the compiler's formula.
//
// Stream format: in and out Vec<t_Simd>, t_C / t_Simd words per pixel.
// Weights: TFLite's [1][K][K][C] layout as [K*K][t_C], in the depthwise stage's layout.
#ifndef FIBHA_SESL_DW_HPP
#define FIBHA_SESL_DW_HPP

#include <cstdint>

#include "fibha/dwmac.hpp"
#include "fibha/params.hpp"
#include "fibha/requant.hpp"
#include "fibha/schedule.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"
#include "fibha/window.hpp"

namespace fibha {

/// Streaming K x K depthwise convolution with on-chip weights.
/// \tparam t_InH    input rows
/// \tparam t_InW    input columns
/// \tparam t_C      channels (input = output)
/// \tparam t_K      kernel size (square)
/// \tparam t_Stride stride (both dimensions)
/// \tparam t_Pad    SAME or VALID padding
/// \tparam t_Simd   channels computed per cycle (divides t_C); stream word width
/// \tparam t_R      requantizers (divides t_Simd); by default as few as keep up
template <unsigned t_InH, unsigned t_InW, unsigned t_C, unsigned t_K, unsigned t_Stride, Padding t_Pad,
          unsigned t_Simd, unsigned t_R = requant_lanes(t_Simd, t_K * t_K)>
struct SeslDw {
  static_assert(t_C % t_Simd == 0, "t_Simd must divide the channels");

  using Geo = WindowGeometry<t_InH, t_InW, t_K, t_Stride, t_Pad>;
  using Window = WindowGen<Geo, t_Simd, t_C / t_Simd, WindowOrder::kWordMajor,
                           t_Stride == 1 ? Lookahead::kPixel : Lookahead::kRow>;
  using D = DwMac<Geo::kOutPixels, t_C, Geo::kTaps, t_Simd>;
  using Rq = Requant<Geo::kOutPixels * D::kGroups, t_C, t_Simd, t_R>;
  using Word = Vec<t_Simd>;
  using InWord = Word;
  using OutWord = Word;
  using Params = DwParams<D, Rq>;

  static constexpr unsigned kOutH = Geo::kOutH;
  static constexpr unsigned kOutW = Geo::kOutW;
  static constexpr unsigned kOutC = t_C;
  static constexpr unsigned kTaps = Geo::kTaps;
  static constexpr unsigned kMacsPerCycle = D::kMacsPerCycle;
  /// FIFO depth an engine in front of this one should give its output.
  static constexpr unsigned kInputFifoDepth = 2;
  static constexpr unsigned kRequantizers = Rq::kMultipliersPerCycle;
  static constexpr unsigned kLineBufferBytes = Window::kBufBytes;
  static constexpr unsigned kWeightBytes = kTaps * t_C + t_C * kChannelQuantRows * 4;

  /// Runs p_images images, one after the other.
  template <int t_InDepth, int t_OutDepth>
  static void run(hls::stream<Word, t_InDepth>& p_in, hls::stream<Word, t_OutDepth>& p_out, const Params& p_p,
                  uint32_t p_images = 1) {
    p_p.declare();
    FIBHA_DATAFLOW(sesl_dw);
    hls::stream<Word> l_windows("dw.windows");
    hls::stream<Acc<t_Simd>> l_acc("dw.acc");
    FIBHA_PROCESS(sesl_dw, "window", Window::run(p_in, l_windows, p_p.q.in_zp, p_images));
    FIBHA_PROCESS(sesl_dw, "dwmac", D::run(l_windows, l_acc, p_p.w, p_p.bias, p_p.q.in_zp, p_p.q.w_zp, p_images));
    FIBHA_PROCESS(sesl_dw, "requant", Rq::run(l_acc, p_out, p_p.mult, p_p.shift, p_p.q, p_images));
    FIBHA_DATAFLOW_RUN(sesl_dw);
  }
};

}  // namespace fibha

#endif  // FIBHA_SESL_DW_HPP
