// SESL standard convolution: a dedicated streaming engine for one K x K conv layer
// (MobileNetV2's first layer: 3x3, stride 2, 3 -> 32 channels).
//
// Three DATAFLOW processes joined by streams: the window generator (fibha/window.hpp)
// turns the pixel stream into each output pixel's window, tap by tap (OHWI order); the
// MVAU (fibha/mvau.hpp) multiplies it with the on-chip weights, t_Pe outputs x t_Simd
// inputs per cycle, over kNf folds; the requantizer (fibha/requant.hpp) turns the
// accumulators into int8 words. The engine runs at its slowest process's pace: the MVAU's
// OutPixels x kNf x (K * K * t_InC / t_Simd) cycles, the compiler's formula.
//
// Stream format: in  Vec<t_Simd>, t_InC / t_Simd words per input pixel;
//                out Vec<t_Pe>,   t_OutC / t_Pe words per output pixel.
// Weights: TFLite's OHWI layout, [t_OutC][K][K][t_InC], in the MVAU's layout.
#ifndef FIBHA_SESL_CONV_HPP
#define FIBHA_SESL_CONV_HPP

#include <cstdint>

#include "fibha/mvau.hpp"
#include "fibha/params.hpp"
#include "fibha/requant.hpp"
#include "fibha/schedule.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"
#include "fibha/window.hpp"

namespace fibha {

/// Streaming K x K convolution with on-chip weights.
/// \tparam t_InH    input rows
/// \tparam t_InW    input columns
/// \tparam t_InC    input channels
/// \tparam t_OutC   output channels
/// \tparam t_K      kernel size (square)
/// \tparam t_Stride stride (both dimensions)
/// \tparam t_Pad    SAME or VALID padding
/// \tparam t_Simd   input channels multiplied per cycle (divides t_InC); input word width
/// \tparam t_Pe     output channels computed per cycle (divides t_OutC); output word width
/// \tparam t_R      requantizers (divides t_Pe); by default as few as keep up
template <unsigned t_InH, unsigned t_InW, unsigned t_InC, unsigned t_OutC, unsigned t_K, unsigned t_Stride,
          Padding t_Pad, unsigned t_Simd, unsigned t_Pe,
          unsigned t_R = requant_lanes(t_Pe, t_K * t_K * t_InC / t_Simd)>
struct SeslConv {
  static_assert(t_InC % t_Simd == 0, "t_Simd must divide the input channels");

  using Geo = WindowGeometry<t_InH, t_InW, t_K, t_Stride, t_Pad>;
  using Window = WindowGen<Geo, t_Simd, t_InC / t_Simd, WindowOrder::kTapMajor,
                           t_Stride == 1 ? Lookahead::kPixel : Lookahead::kRow>;
  using M = Mvau<Geo::kOutPixels, Geo::kTaps * t_InC, t_OutC, t_Simd, t_Pe>;
  using Rq = Requant<Geo::kOutPixels * M::kNf, t_OutC, t_Pe, t_R>;
  using InWord = Vec<t_Simd>;
  using OutWord = Vec<t_Pe>;
  using Params = MvauParams<M, Rq>;

  static constexpr unsigned kOutH = Geo::kOutH;
  static constexpr unsigned kOutW = Geo::kOutW;
  static constexpr unsigned kOutC = t_OutC;
  static constexpr unsigned kDepth = Geo::kTaps * t_InC;  ///< weights per output channel
  static constexpr unsigned kMacsPerCycle = M::kMacsPerCycle;
  /// FIFO depth an engine in front of this one should give its output.
  static constexpr unsigned kInputFifoDepth = 2;
  static constexpr unsigned kRequantizers = Rq::kMultipliersPerCycle;
  static constexpr unsigned kLineBufferBytes = Window::kBufBytes;
  static constexpr unsigned kWeightBytes = t_OutC * kDepth + t_OutC * kChannelQuantRows * 4;

  /// Runs p_images images, one after the other.
  template <int t_InDepth, int t_OutDepth>
  static void run(hls::stream<InWord, t_InDepth>& p_in, hls::stream<OutWord, t_OutDepth>& p_out, const Params& p_p,
                  uint32_t p_images = 1) {
    p_p.declare();
    FIBHA_DATAFLOW(sesl_conv);
    hls::stream<InWord> l_windows("conv.windows");
    hls::stream<Acc<t_Pe>> l_acc("conv.acc");
    FIBHA_PROCESS(sesl_conv, "window", Window::run(p_in, l_windows, p_p.q.in_zp, p_images));
    FIBHA_PROCESS(sesl_conv, "mvau", M::run(l_windows, l_acc, p_p.w, p_p.bias, p_p.q.in_zp, p_p.q.w_zp, p_images));
    FIBHA_PROCESS(sesl_conv, "requant", Rq::run(l_acc, p_out, p_p.mult, p_p.shift, p_p.q, p_images));
    FIBHA_DATAFLOW_RUN(sesl_conv);
  }
};

}  // namespace fibha

#endif  // FIBHA_SESL_CONV_HPP
