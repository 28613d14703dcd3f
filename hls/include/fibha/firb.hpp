// FIRB: the Fused Inverted Residual Bottleneck engine (expand PW -> DW -> project PW,
// optional skip ADD) as one fine-grained pipeline.
//
// kExpC = t_InC x t_Expand is the expanded channel count. The engine walks the DW's scan
// grid once. At each scan position:
//   1. expand: the input pixel is read (t_InC / t_SimdE words), kept in registers for the
//      kExpC / t_PeE expand passes, and each pass writes its t_PeE expanded channels
//      straight into the DW line buffer (t_PeE == t_SimdD, one pass = one buffer word).
//      Padding positions store the DW's input zero point. With t_Expand == 1 there is no
//      expand layer and the input words go to the line buffer as they are.
//      With a skip, every input word is also pushed into the skip FIFO.
//   2. when a DW window is complete, the DW computes the kExpC outputs of this one pixel
//      into a register array (l_dwPixel), t_SimdD channels at a time;
//   3. the project PW reads l_dwPixel directly (t_SimdP channels per cycle, t_PeP outputs
//      per pass); with a skip, the matching input pixel comes out of the skip FIFO and
//      the ADD is applied before each output word is written.
// The stages of one scan position follow each other, each an II=1 pipelined loop, while
// positions stream through.
//
// On-chip buffers, all of them (sizes as constexprs below, in bytes):
//   kLineBufferBytes  DW line buffer, (K-1) scan rows + K pixels of kExpC channels: the
//                     only feature-map buffer (BRAM).
//   kInPixelBytes     expand input pixel, t_InC registers (0 without expand).
//   kDwPixelBytes     DW output of one pixel, kExpC registers.
//   kSkipFifoBytes    skip FIFO: the input pixels between a pixel's arrival and its
//                     output, (K-1)/2 rows + (K-1)/2 + 1 pixels of t_InC (0 without skip).
//   kSkipPixelBytes   skip operand of the current output pixel, t_InC registers.
//   kOnChipBytes      their sum (weights not included: kWeightBytes).
// A layer-by-layer pipeline of the same three layers would also keep an expand-output
// feature-map buffer besides the DW's line buffer, a DW-output buffer and a project-input
// buffer; FIRB has none of them (the per-pixel register arrays replace them).
//
// Stream format: in  Vec<t_SimdE>, t_InC / t_SimdE words per pixel;
//                out Vec<t_PeP>,   t_OutC / t_PeP words per pixel.
// Weights: expand [kExpC][t_InC] (OHWI, 1x1), dw [K*K][kExpC], project [t_OutC][kExpC].
// Padding is SAME (as every MobileNet-style bottleneck).
#ifndef FIBHA_FIRB_HPP
#define FIBHA_FIRB_HPP

#include <cstdint>

#ifndef __SYNTHESIS__
#include <cassert>
#endif

#include "fibha/arith.hpp"
#include "fibha/latency.hpp"
#include "fibha/line_buffer.hpp"
#include "fibha/schedule.hpp"
#include "fibha/sesl_dw.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"

namespace fibha {

/// Fused inverted residual bottleneck.
/// \tparam t_InH    input rows
/// \tparam t_InW    input columns
/// \tparam t_InC    input channels
/// \tparam t_Expand expansion factor t; 1 means no expand layer (t_ExpC = t_InC)
/// \tparam t_OutC   output channels
/// \tparam t_K      DW kernel size (3 or 5 in MobileNet-style networks; any odd size works)
/// \tparam t_Stride DW stride
/// \tparam t_Skip   residual ADD of the block input (needs stride 1 and t_InC == t_OutC)
/// \tparam t_SimdE  expand input channels per cycle (divides t_InC); input word width
/// \tparam t_PeE    expand output channels per cycle (divides t_ExpC); equals t_SimdD
/// \tparam t_SimdD  DW channels per cycle (divides t_ExpC); line-buffer word width
/// \tparam t_SimdP  project input channels per cycle (divides t_ExpC)
/// \tparam t_PeP    project output channels per cycle (divides t_OutC); output word width
///
/// Accumulators are int32, TFLite's definition.
template <unsigned t_InH, unsigned t_InW, unsigned t_InC, unsigned t_Expand, unsigned t_OutC, unsigned t_K,
          unsigned t_Stride, bool t_Skip, unsigned t_SimdE, unsigned t_PeE, unsigned t_SimdD, unsigned t_SimdP,
          unsigned t_PeP>
struct Firb {
  static constexpr bool kHasExpand = t_Expand != 1;
  static constexpr bool kSkip = t_Skip;
  static constexpr unsigned kExpC = t_InC * t_Expand;

  static_assert(t_Expand >= 1, "the expansion factor is at least 1");
  static_assert(t_K % 2 == 1, "SAME padding of a bottleneck needs an odd kernel");
  static_assert(t_InC % t_SimdE == 0, "t_SimdE must divide the input channels");
  static_assert(kExpC % t_SimdD == 0, "t_SimdD must divide the expanded channels");
  static_assert(kExpC % t_SimdP == 0, "t_SimdP must divide the expanded channels");
  static_assert(t_OutC % t_PeP == 0, "t_PeP must divide the output channels");
  static_assert(!kHasExpand || (kExpC % t_PeE == 0 && t_PeE == t_SimdD),
                "the expand PE must equal the DW SIMD: one expand pass fills one line-buffer word");
  static_assert(kHasExpand || t_SimdE == t_SimdD,
                "without expand, input words go to the line buffer: t_SimdE must equal t_SimdD");
  static_assert(!t_Skip || (t_Stride == 1 && t_InC == t_OutC),
                "a residual needs stride 1 and equal input and output channels");

  using Geo = WindowGeometry<t_InH, t_InW, t_K, t_Stride, Padding::kSame>;
  using Dw = SeslDw<t_InH, t_InW, kExpC, t_K, t_Stride, Padding::kSame, t_SimdD>;
  using InWord = Vec<t_SimdE>;
  using DwWord = Vec<t_SimdD>;
  using OutWord = Vec<t_PeP>;

  static constexpr unsigned kOutH = Geo::kOutH;
  static constexpr unsigned kOutW = Geo::kOutW;
  static constexpr unsigned kOutC = t_OutC;
  static constexpr unsigned kTaps = Geo::kTaps;
  static constexpr unsigned kSfE = t_InC / t_SimdE;   ///< input words per pixel
  static constexpr unsigned kNfE = kExpC / t_PeE;     ///< expand passes per pixel
  static constexpr unsigned kWordsD = kExpC / t_SimdD;  ///< line-buffer words per pixel
  static constexpr unsigned kSfP = kExpC / t_SimdP;   ///< project iterations per pass
  static constexpr unsigned kNfP = t_OutC / t_PeP;    ///< project passes per pixel
  /// Expand weight extents; 1 x 1 placeholders when there is no expand layer.
  static constexpr unsigned kExpRows = kHasExpand ? kExpC : 1;
  static constexpr unsigned kExpCols = kHasExpand ? t_InC : 1;

  /// Input pixels in flight between arrival and output: (K-1)/2 rows + (K-1)/2 + 1 pixels.
  static constexpr unsigned kSkipPixels =
      t_Skip ? const_min(t_InH * t_InW, Geo::kPadTop * t_InW + Geo::kPadLeft + 1) : 0;
  static constexpr unsigned kSkipFifoWords = kSkipPixels * kSfE;

  static constexpr unsigned kLineBufferBytes = Geo::kBufPixels * kExpC;
  static constexpr unsigned kInPixelBytes = kHasExpand ? t_InC : 0;
  static constexpr unsigned kDwPixelBytes = kExpC;
  static constexpr unsigned kSkipFifoBytes = kSkipFifoWords * t_SimdE;
  static constexpr unsigned kSkipPixelBytes = t_Skip ? t_InC : 0;
  static constexpr unsigned kOnChipBytes =
      kLineBufferBytes + kInPixelBytes + kDwPixelBytes + kSkipFifoBytes + kSkipPixelBytes;

  /// Multipliers instantiated per cycle by the expand, DW and project MAC arrays. The ADD
  /// adds 3 per output lane (both inputs and the sum are rescaled): kAddMultipliers.
  static constexpr unsigned kMacsPerCycle = (kHasExpand ? t_PeE * t_SimdE : 0) + t_SimdD + t_PeP * t_SimdP;
  static constexpr unsigned kAddMultipliers = t_Skip ? 3 * t_PeP : 0;
  static constexpr unsigned kWeightBytes =
      (kHasExpand ? kExpC * t_InC + kExpC * kChannelQuantRows * 4 : 0) + kTaps * kExpC +
      kExpC * kChannelQuantRows * 4 + t_OutC * kExpC + t_OutC * kChannelQuantRows * 4;


  /// Runs one image through the bottleneck.
  /// \param p_in       block input, raster order
  /// \param p_out      block output, raster order
  /// \param p_expW     expand weights (placeholder when t_Expand == 1)
  /// \param p_expCq    expand per-channel table (placeholder when t_Expand == 1)
  /// \param p_expQ     expand zero points / clamp (in_zp = block input zero point)
  /// \param p_dwW      DW weights
  /// \param p_dwCq     DW per-channel table
  /// \param p_dwQ      DW zero points / clamp (in_zp = expand output zero point)
  /// \param p_projW    project weights
  /// \param p_projCq   project per-channel table
  /// \param p_projQ    project zero points / clamp
  /// \param p_add      ADD parameters (a = project output, b = block input); unused without skip
  static void run(hls::stream<InWord>& p_in, hls::stream<OutWord>& p_out,
                  const int8_t p_expW[kExpRows][kExpCols], const int32_t p_expCq[kChannelQuantRows][kExpRows],
                  const QuantParams& p_expQ, const int8_t p_dwW[kTaps][kExpC],
                  const int32_t p_dwCq[kChannelQuantRows][kExpC], const QuantParams& p_dwQ,
                  const int8_t p_projW[t_OutC][kExpC], const int32_t p_projCq[kChannelQuantRows][t_OutC],
                  const QuantParams& p_projQ, const AddParams& p_add) {
#pragma HLS ARRAY_PARTITION variable=p_expW type=cyclic factor=t_PeE dim=1
#pragma HLS ARRAY_PARTITION variable=p_expW type=cyclic factor=t_SimdE dim=2
#pragma HLS ARRAY_PARTITION variable=p_expCq type=complete dim=1
#pragma HLS ARRAY_PARTITION variable=p_expCq type=cyclic factor=t_PeE dim=2
#pragma HLS ARRAY_PARTITION variable=p_projW type=cyclic factor=t_PeP dim=1
#pragma HLS ARRAY_PARTITION variable=p_projW type=cyclic factor=t_SimdP dim=2
#pragma HLS ARRAY_PARTITION variable=p_projCq type=complete dim=1
#pragma HLS ARRAY_PARTITION variable=p_projCq type=cyclic factor=t_PeP dim=2
#ifndef __SYNTHESIS__
    assert(quant_params_valid(p_dwQ) && quant_params_valid(p_projQ));
    assert(!kHasExpand || quant_params_valid(p_expQ));
    assert(!t_Skip || add_params_valid(p_add));
#endif
    LineBuffer<Geo, t_SimdD, kWordsD> l_lineBuf;
    FIBHA_BIND_STORAGE(l_lineBuf, ram_s2p, bram);
    int8_t l_inPixel[t_InC];
#pragma HLS ARRAY_PARTITION variable=l_inPixel type=complete
    int8_t l_dwPixel[kExpC];
#pragma HLS ARRAY_PARTITION variable=l_dwPixel type=complete
    int8_t l_skipPixel[t_InC];
#pragma HLS ARRAY_PARTITION variable=l_skipPixel type=complete
    // The depth is the template argument: C simulation fails if the FIFO would overflow.
    hls::stream<InWord, (kSkipFifoWords > 0 ? kSkipFifoWords : 1)> l_skip("firb.skip");
    unsigned l_head = 0;
    ScanCursor<Geo> l_scan;

  scan_loop:
    for (unsigned l_pos = 0; l_pos < Geo::kScanPositions; ++l_pos) {
      if (!l_scan.is_input()) {
        FIBHA_PIPELINED_FOR(pad_loop, latency::kCopy) (unsigned l_w = 0; l_w < kWordsD; ++l_w) {
          FIBHA_PIPELINE(pad_loop, 1);
          l_lineBuf[l_head][l_w] = splat<t_SimdD>(p_dwQ.in_zp);
        }
      } else if (kHasExpand) {
        expand_pixel(p_in, l_skip, l_inPixel, l_lineBuf, l_head, p_expW, p_expCq, p_expQ);
      } else {
        FIBHA_PIPELINED_FOR(copy_loop, latency::kCopy) (unsigned l_sf = 0; l_sf < kSfE; ++l_sf) {
          FIBHA_PIPELINE(copy_loop, 1);
          const InWord l_x = p_in.read();
          if (t_Skip) {
            l_skip.write(l_x);
          }
          DwWord l_word;
          for (unsigned l_s = 0; l_s < t_SimdE; ++l_s) {
#pragma HLS UNROLL
            l_word.v[l_s] = l_x.v[l_s];
          }
          l_lineBuf[l_head][l_sf] = l_word;
        }
      }
      if (l_scan.window_ready()) {
      dw_loop:
        for (unsigned l_w = 0; l_w < kWordsD; ++l_w) {
          const DwWord l_y = Dw::compute_group(l_lineBuf, l_head, l_w, p_dwW, p_dwCq, p_dwQ);
          for (unsigned l_s = 0; l_s < t_SimdD; ++l_s) {
#pragma HLS UNROLL
            l_dwPixel[l_w * t_SimdD + l_s] = l_y.v[l_s];
          }
        }
        if (t_Skip) {
          FIBHA_PIPELINED_FOR(skip_loop, latency::kCopy) (unsigned l_sf = 0; l_sf < kSfE; ++l_sf) {
            FIBHA_PIPELINE(skip_loop, 1);
            const InWord l_x = l_skip.read();
            for (unsigned l_s = 0; l_s < t_SimdE; ++l_s) {
#pragma HLS UNROLL
              l_skipPixel[l_sf * t_SimdE + l_s] = l_x.v[l_s];
            }
          }
        }
        project_pixel(p_out, l_dwPixel, l_skipPixel, p_projW, p_projCq, p_projQ, p_add);
      }
      l_head = Ring<Geo::kBufPixels>::next(l_head);
      l_scan.advance();
    }
  }

 private:
  /// Stage 1: reads one input pixel and writes its t_ExpC expanded channels into the
  /// line-buffer slot p_slot, one expand pass (t_PeE channels) per word.
  template <class t_SkipStream, class t_Buf>
  static void expand_pixel(hls::stream<InWord>& p_in, t_SkipStream& p_skip, int8_t p_inPixel[t_InC],
                           t_Buf& p_lineBuf, unsigned p_slot, const int8_t p_expW[kExpRows][kExpCols],
                           const int32_t p_expCq[kChannelQuantRows][kExpRows], const QuantParams& p_expQ) {
  expand_fold_loop:
    for (unsigned l_nf = 0; l_nf < kNfE; ++l_nf) {
      int32_t l_acc[t_PeE];
#pragma HLS ARRAY_PARTITION variable=l_acc type=complete
      bias_init<t_PeE, kExpRows>(l_acc, p_expCq, l_nf * t_PeE);
      FIBHA_PIPELINED_FOR(expand_mac_loop, latency::kStreamRead + latency::mac(t_SimdE)) (unsigned l_sf = 0;
                                                                                          l_sf < kSfE; ++l_sf) {
        FIBHA_PIPELINE(expand_mac_loop, 1);
        if (l_nf == 0) {
          const InWord l_x = p_in.read();
          if (t_Skip) {
            p_skip.write(l_x);
          }
          for (unsigned l_s = 0; l_s < t_SimdE; ++l_s) {
#pragma HLS UNROLL
            p_inPixel[l_sf * t_SimdE + l_s] = l_x.v[l_s];
          }
        }
        mac_block<t_PeE, t_SimdE, kExpRows, kExpCols>(l_acc, p_inPixel + l_sf * t_SimdE, p_expQ.in_zp, p_expW,
                                                      l_nf * t_PeE, l_sf * t_SimdE);
      }
      FIBHA_SPEND(latency::kRequantize);
      DwWord l_y;
      for (unsigned l_pe = 0; l_pe < t_PeE; ++l_pe) {
#pragma HLS UNROLL
        const unsigned l_oc = l_nf * t_PeE + l_pe;
        l_y.v[l_pe] = requantize(l_acc[l_pe], p_expCq[kMultRow][l_oc], p_expCq[kShiftRow][l_oc], p_expQ);
      }
      p_lineBuf[p_slot][l_nf] = l_y;
    }
  }

  /// Stage 3: the project PW over the DW output registers, then the optional ADD.
  static void project_pixel(hls::stream<OutWord>& p_out, const int8_t p_dwPixel[kExpC],
                            const int8_t p_skipPixel[t_InC], const int8_t p_projW[t_OutC][kExpC],
                            const int32_t p_projCq[kChannelQuantRows][t_OutC], const QuantParams& p_projQ,
                            const AddParams& p_add) {
  project_fold_loop:
    for (unsigned l_nf = 0; l_nf < kNfP; ++l_nf) {
      int32_t l_acc[t_PeP];
#pragma HLS ARRAY_PARTITION variable=l_acc type=complete
      bias_init<t_PeP, t_OutC>(l_acc, p_projCq, l_nf * t_PeP);
      FIBHA_PIPELINED_FOR(project_mac_loop, latency::mac(t_SimdP)) (unsigned l_sf = 0; l_sf < kSfP; ++l_sf) {
        FIBHA_PIPELINE(project_mac_loop, 1);
        mac_block<t_PeP, t_SimdP, t_OutC, kExpC>(l_acc, p_dwPixel + l_sf * t_SimdP, p_projQ.in_zp, p_projW,
                                                 l_nf * t_PeP, l_sf * t_SimdP);
      }
      FIBHA_SPEND(t_Skip ? latency::kRequantize + latency::kAddRequantize : latency::kRequantize);
      OutWord l_y;
      for (unsigned l_pe = 0; l_pe < t_PeP; ++l_pe) {
#pragma HLS UNROLL
        const unsigned l_oc = l_nf * t_PeP + l_pe;
        const int8_t l_proj = requantize(l_acc[l_pe], p_projCq[kMultRow][l_oc], p_projCq[kShiftRow][l_oc], p_projQ);
        l_y.v[l_pe] = t_Skip ? add_requantize(l_proj, p_skipPixel[l_oc], p_add) : l_proj;
      }
      p_out.write(l_y);
    }
  }
};

}  // namespace fibha

#endif  // FIBHA_FIRB_HPP
