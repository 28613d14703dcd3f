// FIRB: the Fused Inverted Residual Bottleneck engine (expand PW -> DW -> project PW,
// optional skip ADD) as a pipeline of concurrent stages.
//
// kExpC = t_InC x t_Expand is the expanded channel count. The stages are DATAFLOW
// processes joined by streams, each one flattened loop at II=1, so the engine takes its
// slowest stage's time (the compiler's model: the maximum of the three layers' cycles):
//   front      the block input; with a skip, every input word is also pushed into the
//              skip FIFO; with an expansion, the expand MVAU and its requantizer turn
//              each input pixel into its kExpC expanded channels;
//   window     the depthwise window generator over the expanded pixels (a ring of K + S
//              scan rows: the only feature-map buffer, fibha/window.hpp);
//   dwmac      the depthwise MAC, t_SimdD channels per cycle, and its requantizer;
//   regroup    t_SimdD-wide words to the projection's t_SimdP;
//   project    the project MVAU;
//   tail       its requantizer, with a skip the ADD against the block input from the
//              skip FIFO (regrouped to t_PeP).
// The expanded and depthwise values never touch a feature-map buffer: they stream.
//
// On-chip buffers (bytes as constexprs below): kLineBufferBytes, the window ring;
// kSkipFifoBytes, the skip FIFO: the input pixels between a pixel's arrival and its
// output, (K-1)/2 rows + (K-1)/2 + 1 pixels, plus kSkipSlack pixels for the words in
// flight between the stages (without them the ADD would hold the depthwise stage back
// to the pipeline's latency per pixel); weights (kWeightBytes) beside the MACs.
//
// Stream format: in  Vec<t_SimdE>, t_InC / t_SimdE words per pixel;
//                out Vec<t_PeP>,   t_OutC / t_PeP words per pixel.
// Weights: expand W[kExpC][t_InC], depthwise [K*K][kExpC], project W[t_OutC][kExpC], in
// the stages' layouts (fibha/params.hpp). Padding is SAME (every MobileNet-style bottleneck).
#ifndef FIBHA_FIRB_HPP
#define FIBHA_FIRB_HPP

#include <cstdint>
#include <type_traits>

#include "fibha/arith.hpp"
#include "fibha/dwmac.hpp"
#include "fibha/latency.hpp"
#include "fibha/mvau.hpp"
#include "fibha/params.hpp"
#include "fibha/requant.hpp"
#include "fibha/schedule.hpp"
#include "fibha/sesl_pw.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"
#include "fibha/window.hpp"

namespace fibha {

/// The parameters of a stage a FIRB does not have (no expansion): nothing on chip.
struct NoStage {
  static constexpr uint32_t kBlobBeats = 0;
  void declare() const {}
  bool load(AxiIn<BundleBeat>, uint32_t&) { return true; }
};

/// Copies every input word to two streams (the expansion and the skip FIFO).
template <unsigned t_Words, unsigned t_W, int t_DepthIn, int t_DepthA, int t_DepthB>
void split_words(hls::stream<Vec<t_W>, t_DepthIn>& p_in, hls::stream<Vec<t_W>, t_DepthA>& p_a,
                 hls::stream<Vec<t_W>, t_DepthB>& p_b, uint32_t p_images = 1) {
  FIBHA_PIPELINED_FOR(split_loop, latency::kCopy) (uint64_t l_i = 0; l_i < p_images * t_Words; ++l_i) {
    FIBHA_PIPELINE(split_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_Words * kStreamImages
    const Vec<t_W> l_x = p_in.read();
    p_a.write(l_x);
    p_b.write(l_x);
  }
}

/// Copies every input word (a front that only forwards).
template <unsigned t_Words, unsigned t_W, int t_DepthIn, int t_DepthOut>
void copy_words(hls::stream<Vec<t_W>, t_DepthIn>& p_in, hls::stream<Vec<t_W>, t_DepthOut>& p_out,
                uint32_t p_images = 1) {
  FIBHA_PIPELINED_FOR(copy_words_loop, latency::kCopy) (uint64_t l_i = 0; l_i < p_images * t_Words; ++l_i) {
    FIBHA_PIPELINE(copy_words_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_Words * kStreamImages
    p_out.write(p_in.read());
  }
}

/// The front of a FIRB: skip split and expansion, as the block needs them.
template <class t_F, bool t_Expand = t_F::kHasExpand, bool t_Skip = t_F::kSkip>
struct FirbFront;

template <class t_F>
struct FirbFront<t_F, true, true> {
  template <int t_InDepth, int t_DwDepth>
  static void run(hls::stream<typename t_F::InWord, t_InDepth>& p_in, hls::stream<typename t_F::DwWord, t_DwDepth>& p_dw,
                  typename t_F::SkipFifo& p_skip, const typename t_F::ExpParams& p_exp, uint32_t p_images) {
    FIBHA_DATAFLOW(firb_front);
    // The expansion reads a pixel's words in its first fold only: room for one pixel.
    hls::stream<typename t_F::InWord, t_F::ExpM::kSf + 2> l_expIn("firb.expand_in");
    hls::stream<Acc<t_F::ExpM::kPe>> l_acc("firb.expand_acc");
    FIBHA_PROCESS(firb_front, "split", (split_words<t_F::kInWords, t_F::kSimdE>(p_in, l_expIn, p_skip, p_images)));
    FIBHA_PROCESS(firb_front, "expand",
                  t_F::ExpM::run(l_expIn, l_acc, p_exp.w, p_exp.bias, p_exp.q.in_zp, p_exp.q.w_zp, p_images));
    FIBHA_PROCESS(firb_front, "expand_requant",
                  t_F::ExpRq::run(l_acc, p_dw, p_exp.mult, p_exp.shift, p_exp.q, p_images));
    FIBHA_DATAFLOW_RUN(firb_front);
  }
};

template <class t_F>
struct FirbFront<t_F, true, false> {
  template <int t_InDepth, int t_DwDepth>
  static void run(hls::stream<typename t_F::InWord, t_InDepth>& p_in, hls::stream<typename t_F::DwWord, t_DwDepth>& p_dw,
                  typename t_F::SkipFifo&, const typename t_F::ExpParams& p_exp, uint32_t p_images) {
    FIBHA_DATAFLOW(firb_front);
    hls::stream<Acc<t_F::ExpM::kPe>> l_acc("firb.expand_acc");
    FIBHA_PROCESS(firb_front, "expand", t_F::ExpM::run(p_in, l_acc, p_exp.w, p_exp.bias, p_exp.q.in_zp, p_exp.q.w_zp, p_images));
    FIBHA_PROCESS(firb_front, "expand_requant",
                  t_F::ExpRq::run(l_acc, p_dw, p_exp.mult, p_exp.shift, p_exp.q, p_images));
    FIBHA_DATAFLOW_RUN(firb_front);
  }
};

template <class t_F>
struct FirbFront<t_F, false, true> {
  template <int t_InDepth, int t_DwDepth>
  static void run(hls::stream<typename t_F::InWord, t_InDepth>& p_in, hls::stream<typename t_F::DwWord, t_DwDepth>& p_dw,
                  typename t_F::SkipFifo& p_skip, const NoStage&, uint32_t p_images) {
    split_words<t_F::kInWords, t_F::kSimdE>(p_in, p_dw, p_skip, p_images);
  }
};

template <class t_F>
struct FirbFront<t_F, false, false> {
  template <int t_InDepth, int t_DwDepth>
  static void run(hls::stream<typename t_F::InWord, t_InDepth>& p_in, hls::stream<typename t_F::DwWord, t_DwDepth>& p_dw,
                  typename t_F::SkipFifo&, const NoStage&, uint32_t p_images) {
    copy_words<t_F::kInWords, t_F::kSimdE>(p_in, p_dw, p_images);
  }
};

/// The tail of a FIRB: the projection's requantizer, with the ADD when it has a skip.
template <class t_F, bool t_Skip = t_F::kSkip>
struct FirbTail {
  template <int t_AccDepth, int t_OutDepth>
  static void run(hls::stream<Acc<t_F::kPeP>, t_AccDepth>& p_acc, typename t_F::SkipFifo& p_skip,
                  hls::stream<typename t_F::OutWord, t_OutDepth>& p_out, const typename t_F::ProjParams& p_proj,
                  const AddParams& p_add, uint32_t p_images) {
    FIBHA_DATAFLOW(firb_tail);
    hls::stream<typename t_F::OutWord> l_skip("firb.skip_regrouped");
    FIBHA_PROCESS(firb_tail, "skip_regroup",
                  (Regroup<t_F::kSkipTotalWords, t_F::kSimdE, t_F::kPeP>::run(p_skip, l_skip, p_images)));
    FIBHA_PROCESS(firb_tail, "project_requant",
                  t_F::ProjRq::run_add(p_acc, l_skip, p_out, p_proj.mult, p_proj.shift, p_proj.q, p_add, p_images));
    FIBHA_DATAFLOW_RUN(firb_tail);
  }
};

template <class t_F>
struct FirbTail<t_F, false> {
  template <int t_AccDepth, int t_OutDepth>
  static void run(hls::stream<Acc<t_F::kPeP>, t_AccDepth>& p_acc, typename t_F::SkipFifo&,
                  hls::stream<typename t_F::OutWord, t_OutDepth>& p_out, const typename t_F::ProjParams& p_proj,
                  const AddParams&, uint32_t p_images) {
    t_F::ProjRq::run(p_acc, p_out, p_proj.mult, p_proj.shift, p_proj.q, p_images);
  }
};

/// Fused inverted residual bottleneck.
/// \tparam t_InH    input rows
/// \tparam t_InW    input columns
/// \tparam t_InC    input channels
/// \tparam t_Expand expansion factor t; 1 means no expand layer (kExpC = t_InC)
/// \tparam t_OutC   output channels
/// \tparam t_K      DW kernel size (odd)
/// \tparam t_Stride DW stride
/// \tparam t_Skip   residual ADD of the block input (needs stride 1 and t_InC == t_OutC)
/// \tparam t_SimdE  expand input channels per cycle (divides t_InC); input word width
/// \tparam t_PeE    expand output channels per cycle (divides kExpC); equals t_SimdD
/// \tparam t_SimdD  DW channels per cycle (divides kExpC)
/// \tparam t_SimdP  project input channels per cycle (divides kExpC)
/// \tparam t_PeP    project output channels per cycle (divides t_OutC); output word width
/// \tparam t_Re, t_Rd, t_Rp  requantizers of the three stages (by default as few as keep up)
template <unsigned t_InH, unsigned t_InW, unsigned t_InC, unsigned t_Expand, unsigned t_OutC, unsigned t_K,
          unsigned t_Stride, bool t_Skip, unsigned t_SimdE, unsigned t_PeE, unsigned t_SimdD, unsigned t_SimdP,
          unsigned t_PeP, unsigned t_Re = requant_lanes(t_PeE, t_InC / t_SimdE),
          unsigned t_Rd = requant_lanes(t_SimdD, t_K * t_K),
          unsigned t_Rp = requant_lanes(t_PeP, t_InC * t_Expand / t_SimdP)>
struct Firb {
  static constexpr bool kHasExpand = t_Expand != 1;
  static constexpr bool kSkip = t_Skip;
  static constexpr unsigned kExpC = t_InC * t_Expand;
  static constexpr unsigned kSimdE = t_SimdE;
  static constexpr unsigned kPeP = t_PeP;

  static_assert(t_Expand >= 1, "the expansion factor is at least 1");
  static_assert(t_K % 2 == 1, "SAME padding of a bottleneck needs an odd kernel");
  static_assert(!kHasExpand || t_PeE == t_SimdD, "the expand PE must equal the DW SIMD");
  static_assert(kHasExpand || t_SimdE == t_SimdD, "without expand, input words go to the DW: t_SimdE == t_SimdD");
  static_assert(!t_Skip || (t_Stride == 1 && t_InC == t_OutC),
                "a residual needs stride 1 and equal input and output channels");

  using Geo = WindowGeometry<t_InH, t_InW, t_K, t_Stride, Padding::kSame>;
  using InWord = Vec<t_SimdE>;
  using DwWord = Vec<t_SimdD>;
  using OutWord = Vec<t_PeP>;

  static constexpr unsigned kSfE = t_InC / t_SimdE;  ///< input words per pixel
  static constexpr unsigned kInWords = Geo::kInPixels * kSfE;
  static constexpr unsigned kOutH = Geo::kOutH;
  static constexpr unsigned kOutW = Geo::kOutW;
  static constexpr unsigned kOutC = t_OutC;
  static constexpr unsigned kTaps = Geo::kTaps;

  using ExpM = Mvau<Geo::kInPixels, t_InC, kExpC, t_SimdE, t_PeE>;
  using ExpRq = Requant<Geo::kInPixels * ExpM::kNf, kExpC, t_PeE, t_Re>;
  using Window = WindowGen<Geo, t_SimdD, kExpC / t_SimdD, WindowOrder::kWordMajor,
                           t_Stride == 1 ? Lookahead::kPixel : Lookahead::kRow>;
  using Dw = DwMac<Geo::kOutPixels, kExpC, kTaps, t_SimdD>;
  using DwRq = Requant<Geo::kOutPixels * Dw::kGroups, kExpC, t_SimdD, t_Rd>;
  using ProjM = Mvau<Geo::kOutPixels, kExpC, t_OutC, t_SimdP, t_PeP>;
  using ProjRq = Requant<Geo::kOutPixels * ProjM::kNf, t_OutC, t_PeP, t_Rp, t_Skip>;
  using ExpParams = typename std::conditional<kHasExpand, MvauParams<ExpM, ExpRq>, NoStage>::type;
  using DwStage = DwParams<Dw, DwRq>;
  using ProjParams = MvauParams<ProjM, ProjRq>;

  /// Skip FIFO: the pixels between a pixel's arrival and its output, and the slack for
  /// the words in flight between the stages.
  static constexpr unsigned kSkipSlack = 4;
  static constexpr unsigned kSkipPixels =
      t_Skip ? const_min(Geo::kInPixels, Geo::kPadTop * t_InW + Geo::kPadLeft + 1 + kSkipSlack) : 0;
  static constexpr unsigned kSkipFifoWords = kSkipPixels * kSfE;
  static constexpr unsigned kSkipTotalWords = Geo::kInPixels * kSfE;
  using SkipFifo = hls::stream<InWord, (kSkipFifoWords > 0 ? kSkipFifoWords : 1)>;

  /// FIFO depth an engine in front of this one should give its output: one input pixel,
  /// which the first stage reads in bursts.
  static constexpr unsigned kInputFifoDepth = (kHasExpand ? ExpM::kSf : kSfE) + 2;
  /// Input rows the window generator scans below the input (the SAME padding at the bottom):
  /// while it emits their windows it reads nothing.
  static constexpr unsigned kDrainRows = Geo::kScanH - Geo::kPadTop - t_InH;
  /// FIFO between the front and the window generator: the new input words of one output
  /// pixel (S x S pixels), and kDrainRows rows of input. The projection holds each pixel for its NF folds without
  /// reading; the depthwise stages back up and the window generator stalls on its output.
  /// With the default depth of 2 the front stalls with it and, when it is nearly as slow
  /// as the projection, never catches up: the timed C simulation put a stride-2 FIRB of
  /// MobileNetV2 (expansion 802,816 cycles, projection 903,168) at 1,241,230 cycles an
  /// image; with this depth it runs at the projection's rate. The rows: while the window
  /// generator finishes an image over its bottom padding, the front goes on with the next
  /// image's first rows instead of stalling, so a chain of FIRBs overlaps its images (the
  /// timed C simulation put ProxylessNAS-Mobile's 18-engine chain with 7x7 and 5x5 kernels
  /// at 141,261 cycles an image without them, 85,965 with them; its slowest engine takes
  /// 73,738).
  static constexpr unsigned kDwInDepth = t_Stride * t_Stride * (kExpC / t_SimdD) + 2 + kDrainRows * t_InW * (kExpC / t_SimdD);
  static constexpr unsigned kLineBufferBytes = Window::kBufBytes;
  static constexpr unsigned kSkipFifoBytes = kSkipFifoWords * t_SimdE;
  /// The FIFOs in front of the two MVAUs (one pixel each) and of the window generator.
  static constexpr unsigned kFifoBytes =
      (kHasExpand ? (ExpM::kSf + 2) * t_SimdE : 0) + kDwInDepth * t_SimdD + (ProjM::kSf + 2) * t_SimdP;
  static constexpr unsigned kOnChipBytes = kLineBufferBytes + kSkipFifoBytes + kFifoBytes;
  /// int8 multipliers the three MAC stages instantiate per cycle.
  static constexpr unsigned kMacsPerCycle = (kHasExpand ? t_PeE * t_SimdE : 0) + t_SimdD + t_PeP * t_SimdP;
  /// 32 x 32-bit multipliers of the requantizers (and the ADD's rescaling).
  static constexpr unsigned kRequantizers =
      (kHasExpand ? ExpRq::kMultipliersPerCycle : 0) + DwRq::kMultipliersPerCycle + ProjRq::kMultipliersPerCycle;
  static constexpr unsigned kWeightBytes =
      (kHasExpand ? kExpC * t_InC + kExpC * kChannelQuantRows * 4 : 0) + kTaps * kExpC +
      kExpC * kChannelQuantRows * 4 + t_OutC * kExpC + t_OutC * kChannelQuantRows * 4;

  /// On-chip parameters of the three stages and the ADD.
  struct Params {
    ExpParams exp;
    DwStage dw;
    ProjParams proj;
    AddParams add;

    static constexpr uint32_t kBlobBeats =
        ExpParams::kBlobBeats + DwStage::kBlobBeats + ProjParams::kBlobBeats + (t_Skip ? kAddBlobBeats : 0);

    void declare() const {
      exp.declare();
      dw.declare();
      proj.declare();
    }

    /// Loads the stages' blobs at p_beat (advanced past them); false on out-of-range
    /// parameters.
    bool load(AxiIn<BundleBeat> p_bundle, uint32_t& p_beat) {
      bool l_ok = exp.load(p_bundle, p_beat);
      l_ok = dw.load(p_bundle, p_beat) && l_ok;
      l_ok = proj.load(p_bundle, p_beat) && l_ok;
      return (!t_Skip || load_add(p_bundle, p_beat, add)) && l_ok;
    }
  };

  /// Runs p_images images through the bottleneck, one after the other.
  template <int t_InDepth, int t_OutDepth>
  static void run(hls::stream<InWord, t_InDepth>& p_in, hls::stream<OutWord, t_OutDepth>& p_out, const Params& p_p,
                  uint32_t p_images = 1) {
#ifndef __SYNTHESIS__
    assert(quant_params_valid(p_p.dw.q) && quant_params_valid(p_p.proj.q));
    assert(!t_Skip || add_params_valid(p_p.add));
#endif
    p_p.declare();
    FIBHA_DATAFLOW(firb);
    hls::stream<DwWord, kDwInDepth> l_dwIn("firb.dw_in");
    SkipFifo l_skip("firb.skip");
    hls::stream<DwWord> l_windows("firb.windows");
    hls::stream<Acc<t_SimdD>> l_dwAcc("firb.dw_acc");
    hls::stream<DwWord> l_dwOut("firb.dw_out");
    // The projection reads a pixel's words in its first fold only: room for one pixel.
    hls::stream<Vec<t_SimdP>, ProjM::kSf + 2> l_projIn("firb.project_in");
    hls::stream<Acc<t_PeP>> l_projAcc("firb.project_acc");
    FIBHA_PROCESS(firb, "front", FirbFront<Firb>::run(p_in, l_dwIn, l_skip, p_p.exp, p_images));
    FIBHA_PROCESS(firb, "window", Window::run(l_dwIn, l_windows, p_p.dw.q.in_zp, p_images));
    FIBHA_PROCESS(firb, "dwmac", Dw::run(l_windows, l_dwAcc, p_p.dw.w, p_p.dw.bias, p_p.dw.q.in_zp, p_p.dw.q.w_zp, p_images));
    FIBHA_PROCESS(firb, "dw_requant", DwRq::run(l_dwAcc, l_dwOut, p_p.dw.mult, p_p.dw.shift, p_p.dw.q, p_images));
    FIBHA_PROCESS(firb, "regroup",
                  (Regroup<Geo::kOutPixels * Dw::kGroups, t_SimdD, t_SimdP>::run(l_dwOut, l_projIn, p_images)));
    FIBHA_PROCESS(firb, "project",
                  ProjM::run(l_projIn, l_projAcc, p_p.proj.w, p_p.proj.bias, p_p.proj.q.in_zp, p_p.proj.q.w_zp, p_images));
    FIBHA_PROCESS(firb, "tail", FirbTail<Firb>::run(l_projAcc, l_skip, p_out, p_p.proj, p_p.add, p_images));
    FIBHA_DATAFLOW_RUN(firb);
  }
};

}  // namespace fibha

#endif  // FIBHA_FIRB_HPP
