// The SEML part: one reusable pointwise engine and one reusable depthwise engine that run
// the layers after the SESL part one after another, with every feature map on chip.
//
// Processes (a DATAFLOW region, SemlPart::run):
//   sequence    reads each image's layer descriptors from the bundle (one burst of 8
//               beats per descriptor) and hands them to the engine and the two loaders;
//   load_a/b    stream each layer's parameter blob from DDR in 128-bit bursts, one half
//               each over their own m_axi port (two beats, 32 bytes, per cycle in all);
//   engine      owns the feature-map memories and runs, per image: the hand-off (the SESL
//               part's output into FM 0), every layer, the copy-out of the last layer's
//               map; while a phase computes, it absorbs the parameters of the next phase
//               into the other half of a double buffer (the prefetch);
//   write_out   the output stream to DDR in bursts.
//
// Feature maps: three on-chip memories (buffer_id fm0..fm2) of 16-channel words (a pixel
// of C channels is ceil(C / 16) words, lanes past C unused). Word j of pixel p of a map
// with G = ceil(words / t_Kd) word groups lives in bank [p % t_Pp][j % t_Kd] at
// (p / t_Pp) * G + j / t_Kd: the pointwise engine reads word j of t_Pp pixels per cycle,
// the depthwise engine t_Kd words of one pixel, each from its own bank.
//
// Pointwise engine: t_Pp pixels x t_Pe output channels x 16 input channels per cycle.
// A layer is cut into folds of t_Pe output channels; a fold runs one flattened loop over
// pixel groups and input words (CF = ceil(C_in / 16)) and holds its weights, t_Pe x CF
// words, in one half of a double-buffered tile. When a pixel group's accumulators are
// complete they are staged, and the requantizer writes them back while the next group
// accumulates: t_RqWords words per cycle, or with a residual (TFLite ADD fused into the
// write-back) t_AddLanes lanes per cycle; a group takes max(CF, drain steps) cycles.
// Depthwise engine: t_Kd words (16 t_Kd channels) of one output pixel per cycle, one tap
// per cycle; the zero point outside the image; t_DwRqWords words requantized per cycle.
//
// Parameter blobs (the bundle's SEML section; the packer in tools/compiler/src/pack.rs
// writes this layout, hls/tb/bundle_builder.hpp the testbench's): a blob is a sequence of
// blocks, one per compute phase, each an even number of 16-byte beats; logical beat 2k
// goes to loader A and 2k+1 to loader B, and the blob is stored as [A's beats][B's beats]
// so that each loader reads one contiguous burst.
//   pointwise, per fold f:  bias, multiplier, shift of channels f*t_Pe .. + t_Pe (int32,
//                           t_Pe / 4 beats each); then for each input word cf, for each
//                           output channel pe of the fold: the 16 weights
//                           W[f*t_Pe + pe][16 cf .. 16 cf + 16) as one beat;
//                           channels past C_out (and inputs past C_in) are zero
//   depthwise:              bias, multiplier, shift of 16 * words channels (4 * words
//                           beats each); then for each tap, the words of weights
//                           W[tap][16 j .. 16 j + 16); one zero beat if the total is odd
//
// Safety invariant: the engine only runs descriptors check_layer() accepted against this
// instance's maximums (every index it forms is then inside its arrays); the chain between
// descriptors (each layer reads what the one before wrote) is check_program()'s.
// Multipliers and shifts are checked as they are absorbed; a bad one makes the run end
// with StatusCode::kQuant naming the layer (the outputs of that image are then undefined).
#ifndef FIBHA_SEML_HPP
#define FIBHA_SEML_HPP

#include <cstdint>

#include "fibha/arith.hpp"
#include "fibha/axi.hpp"
#include "fibha/latency.hpp"
#include "fibha/params.hpp"
#include "fibha/regmap.hpp"
#include "fibha/schedule.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"
#include "fibha/window.hpp"

namespace fibha {

using regmap::BufferId;
using regmap::LayerDesc;
using regmap::LayerKind;
using regmap::StatusCode;

/// Channels per feature-map word of the SEML part.
constexpr unsigned kFmLanes = 16;
/// One feature-map word.
using FmWord = Vec<kFmLanes>;
/// Feature-map memories of the SEML part.
constexpr unsigned kFmCount = 3;

/// Words of a pixel of p_c channels.
constexpr uint32_t fm_words(uint32_t p_c) { return (p_c + kFmLanes - 1) / kFmLanes; }

/// Beats of one pointwise fold block: three tables of p_pe entries, p_pe x p_cf weight beats.
constexpr uint32_t pw_fold_beats(uint32_t p_pe, uint32_t p_cf) { return 3 * (p_pe / 4) + p_pe * p_cf; }
/// Beats of a depthwise block: three tables of 16 * p_words entries, p_taps x p_words
/// weight beats, rounded up to even.
constexpr uint32_t dw_block_beats(uint32_t p_words, uint32_t p_taps) {
  return (12 * p_words + p_taps * p_words + 1) / 2 * 2;
}

/// True when [p_off, p_off + p_bytes) lies inside a region of p_size.
inline bool region_inside(uint64_t p_off, uint64_t p_bytes, uint64_t p_size) {
  return p_off <= p_size && p_bytes <= p_size - p_off;
}

/// Where a loader finds its half of a blob.
struct ParamRange {
  uint32_t beat;   ///< first beat in the bundle
  uint32_t beats;  ///< beats to stream
};

/// A layer as the engine runs it: a descriptor's facts in the engine's units.
struct SemlLayer {
  bool depthwise;
  bool residual;
  uint32_t in_buf, out_buf, res_buf;
  uint32_t in_h, in_w, out_h, out_w;
  uint32_t in_words, out_words;
  uint32_t kernel, stride, pad_top, pad_left;
  QuantParams q;       ///< the conv's requantization (with a residual: clamp = int8 range)
  AddParams add;       ///< the residual ADD (a = the conv's output, b = the residual)

  uint32_t in_pixels() const { return in_h * in_w; }
  uint32_t out_pixels() const { return out_h * out_w; }
};

/// The engine's view of descriptor p_d (check_layer accepted it).
inline SemlLayer seml_layer(const LayerDesc& p_d) {
  SemlLayer l_l;
  l_l.depthwise = p_d.kind == static_cast<uint32_t>(LayerKind::kDepthwise);
  l_l.residual = (p_d.flags & regmap::kFlagResidual) != 0;
  l_l.in_buf = p_d.in_buf;
  l_l.out_buf = p_d.out_buf;
  l_l.res_buf = p_d.res_buf;
  l_l.in_h = p_d.in_h;
  l_l.in_w = p_d.in_w;
  l_l.out_h = p_d.out_h;
  l_l.out_w = p_d.out_w;
  l_l.in_words = fm_words(p_d.in_c);
  l_l.out_words = fm_words(p_d.out_c);
  l_l.kernel = p_d.kernel;
  l_l.stride = p_d.stride;
  l_l.pad_top = p_d.pad_top;
  l_l.pad_left = p_d.pad_left;
  l_l.q = QuantParams{p_d.in_zp, l_l.residual ? p_d.conv_zp : p_d.out_zp, l_l.residual ? -128 : p_d.act_min,
                      l_l.residual ? 127 : p_d.act_max};
  l_l.add = AddParams{p_d.conv_zp, p_d.a_mult,   p_d.a_shift,   p_d.res_zp, p_d.b_mult,  p_d.b_shift,
                      p_d.left_shift, p_d.add_mult, p_d.add_shift, p_d.out_zp, p_d.act_min, p_d.act_max};
  return l_l;
}

/// The SEML part of an instance.
/// \tparam t_Pp        pointwise pixels per cycle
/// \tparam t_Pe        pointwise output channels per cycle (a multiple of 16)
/// \tparam t_Kd        depthwise words per cycle; the feature maps' word banks
/// \tparam t_MaxPixels largest map (pixels)
/// \tparam t_MaxWords  largest pixel (words)
/// \tparam t_FmDepth   words per feature-map bank (the largest map's pixel groups x word groups)
/// \tparam t_MaxTaps   largest depthwise window (K * K)
/// \tparam t_RqWords   pointwise words requantized per cycle without a residual
/// \tparam t_AddLanes  pointwise lanes requantized and added per cycle with a residual (divides 16)
/// \tparam t_DwRqWords depthwise words requantized per cycle (divides t_Kd)
/// \tparam t_HandoffWords the SESL part's output map in words (the hand-off FIFO)
template <unsigned t_Pp, unsigned t_Pe, unsigned t_Kd, unsigned t_MaxPixels, unsigned t_MaxWords, unsigned t_FmDepth,
          unsigned t_MaxTaps, unsigned t_RqWords, unsigned t_AddLanes, unsigned t_DwRqWords, unsigned t_HandoffWords>
struct SemlPart {
  static_assert(t_Pe % kFmLanes == 0, "the pointwise engine computes whole words");
  static_assert(kFmLanes % t_AddLanes == 0, "ADD lanes divide a word");
  static_assert(t_Kd % t_DwRqWords == 0, "depthwise requantizer words divide t_Kd");
  static_assert(t_Kd >= 2, "two parameter beats a cycle go to two word banks");

  static constexpr unsigned kPp = t_Pp;
  static constexpr unsigned kPe = t_Pe;
  static constexpr unsigned kKd = t_Kd;
  static constexpr unsigned kPeWords = t_Pe / kFmLanes;
  static constexpr unsigned kMaxCf = t_MaxWords;
  static constexpr unsigned kDwGroups = (t_MaxWords + t_Kd - 1) / t_Kd;
  static constexpr unsigned kMaxChannels = t_MaxWords * kFmLanes;
  static constexpr unsigned kDwLanes = t_Kd * kFmLanes;
  /// int8 multipliers per cycle: pointwise and depthwise.
  static constexpr unsigned kPwMacsPerCycle = t_Pp * t_Pe * kFmLanes;
  static constexpr unsigned kDwMacsPerCycle = kDwLanes;
  /// 32 x 32-bit multipliers of the requantizers: one per requantized lane, four per lane
  /// of the residual path (its requantization and the ADD's three rescalings).
  static constexpr unsigned kPwRequantizers = t_RqWords * kFmLanes + 4 * t_AddLanes;
  static constexpr unsigned kDwRequantizers = t_DwRqWords * kFmLanes;
  /// Feature-map memory bytes as declared.
  static constexpr uint64_t kFmBytes = uint64_t{kFmCount} * t_Pp * t_Kd * t_FmDepth * kFmLanes;
  static constexpr unsigned kLoaderFifoDepth = 32;
  static constexpr unsigned kHandoffWords = t_HandoffWords;
  /// Iteration latency of the engine's loops: operand read, then the longer of the MAC
  /// and the requantization with ADD, then the store.
  static constexpr unsigned kDepth =
      latency::kBramRead +
      (latency::mac(kFmLanes) > latency::kRequantize + latency::kAddRequantize
           ? latency::mac(kFmLanes)
           : latency::kRequantize + latency::kAddRequantize) +
      1;

  using Fm = Array<FmWord, kFmCount, t_Pp, t_Kd, t_FmDepth>;
  using BeatStream = hls::stream<BundleBeat, kLoaderFifoDepth>;
  using Handoff = hls::stream<FmWord, t_HandoffWords>;

  /// Beats of a layer's parameter blob.
  static uint32_t blob_beats(const LayerDesc& p_d) {
    if (p_d.kind == static_cast<uint32_t>(LayerKind::kDepthwise)) {
      return dw_block_beats(fm_words(p_d.in_c), p_d.kernel * p_d.kernel);
    }
    return ceil_div(p_d.out_c, t_Pe) * pw_fold_beats(t_Pe, fm_words(p_d.in_c));
  }

  /// Feature-map bank depth a map of p_pixels x p_words needs.
  static uint64_t map_depth(uint32_t p_pixels, uint32_t p_words) {
    return uint64_t{ceil_div(p_pixels, t_Pp)} * ceil_div(p_words, t_Kd);
  }

  /// Checks one descriptor against the engines' maximums and the bundle's parameter
  /// section [p_paramsBeat, p_paramsEnd) (beats).
  static StatusCode check_layer(const LayerDesc& p_d, uint32_t p_paramsBeat, uint32_t p_paramsEnd) {
    if (p_d.magic != regmap::kDescMagic || p_d.reserved != 0) {
      return StatusCode::kDescMagic;
    }
    const bool l_dw = p_d.kind == static_cast<uint32_t>(LayerKind::kDepthwise);
    if (!l_dw && p_d.kind != static_cast<uint32_t>(LayerKind::kPointwise)) {
      return StatusCode::kLayerKind;
    }
    const bool l_res = (p_d.flags & regmap::kFlagResidual) != 0;
    if ((p_d.flags & ~regmap::kFlagResidual) != 0 || (l_res && l_dw)) {
      return StatusCode::kLayerKind;
    }
    if (p_d.in_h == 0 || p_d.in_w == 0 || p_d.in_c == 0 || p_d.out_h == 0 || p_d.out_w == 0 || p_d.out_c == 0 ||
        p_d.stride == 0 || p_d.stride > 2 || p_d.kernel == 0) {
      return StatusCode::kGeometry;
    }
    if (l_dw) {
      if (p_d.out_c != p_d.in_c || p_d.pad_top >= p_d.kernel || p_d.pad_left >= p_d.kernel ||
          (p_d.out_h - 1) * p_d.stride >= p_d.in_h + p_d.pad_top || (p_d.out_w - 1) * p_d.stride >= p_d.in_w + p_d.pad_left) {
        return StatusCode::kGeometry;
      }
    } else if (p_d.kernel != 1 || p_d.stride != 1 || p_d.pad_top != 0 || p_d.pad_left != 0 || p_d.out_h != p_d.in_h ||
               p_d.out_w != p_d.in_w) {
      return StatusCode::kGeometry;
    }
    if (p_d.in_h > t_MaxPixels || p_d.in_w > t_MaxPixels || uint64_t{p_d.in_h} * p_d.in_w > t_MaxPixels ||
        fm_words(p_d.in_c) > t_MaxWords || fm_words(p_d.out_c) > t_MaxWords || p_d.kernel * p_d.kernel > t_MaxTaps ||
        map_depth(p_d.in_h * p_d.in_w, fm_words(p_d.in_c)) > t_FmDepth ||
        map_depth(p_d.out_h * p_d.out_w, fm_words(p_d.out_c)) > t_FmDepth) {
      return StatusCode::kEngineLimit;
    }
    if (p_d.in_buf >= kFmCount || p_d.out_buf >= kFmCount || p_d.in_buf == p_d.out_buf ||
        (l_res && (p_d.res_buf >= kFmCount || p_d.res_buf == p_d.in_buf || p_d.res_buf == p_d.out_buf)) ||
        (!l_res && p_d.res_buf != 0)) {
      return StatusCode::kBufferId;
    }
    const QuantParams l_q{p_d.in_zp, l_res ? p_d.conv_zp : p_d.out_zp, l_res ? -128 : p_d.act_min,
                          l_res ? 127 : p_d.act_max};
    const SemlLayer l_l = seml_layer(p_d);
    if (!quant_params_valid(l_q) || (l_res && !add_params_valid(l_l.add)) ||
        (!l_res && (p_d.conv_zp | p_d.res_zp | p_d.left_shift | p_d.a_mult | p_d.a_shift | p_d.b_mult | p_d.b_shift |
                    p_d.add_mult | p_d.add_shift) != 0)) {
      return StatusCode::kQuant;
    }
    if (p_d.params_beats != blob_beats(p_d) || p_d.params_beats % 2 != 0 || p_d.params_off < p_paramsBeat ||
        !region_inside(p_d.params_off - p_paramsBeat, p_d.params_beats, p_paramsEnd - p_paramsBeat)) {
      return StatusCode::kParamRange;
    }
    return StatusCode::kOk;
  }

  /// Checks the chain of a program of p_count accepted descriptors: layer 0 reads the
  /// hand-off (fm0, the SESL part's output shape), each later layer its predecessor's
  /// output, a residual has the output's shape and was written earlier and not
  /// overwritten since, the last layer's output has whole words and p_outBytes bytes.
  /// p_prev/p_live carry the state between calls (call with p_index 0, 1, ...).
  struct ProgramCheck {
    uint32_t buf = 0;           ///< where the previous layer's output lives
    bool depthwise = false;     ///< the previous layer is a depthwise one
    uint32_t h = 0, w = 0, c = 0;
    uint32_t map_h[kFmCount] = {}, map_w[kFmCount] = {}, map_c[kFmCount] = {};

    /// The hand-off: the SESL part's output in fm0.
    void start(uint32_t p_h, uint32_t p_w, uint32_t p_c) {
      buf = 0;
      depthwise = false;
      h = p_h;
      w = p_w;
      c = p_c;
      for (unsigned l_b = 0; l_b < kFmCount; ++l_b) {
        map_h[l_b] = l_b == 0 ? p_h : 0;
        map_w[l_b] = l_b == 0 ? p_w : 0;
        map_c[l_b] = l_b == 0 ? p_c : 0;
      }
    }

    StatusCode next(const LayerDesc& p_d) {
      if (p_d.in_buf != buf) {
        return StatusCode::kBufferId;
      }
      // A depthwise layer's parameters arrive while the layer before it computes, into
      // the one depthwise parameter memory.
      const bool l_dw = p_d.kind == static_cast<uint32_t>(LayerKind::kDepthwise);
      if (l_dw && depthwise) {
        return StatusCode::kLayerKind;
      }
      depthwise = l_dw;
      if (p_d.in_h != h || p_d.in_w != w || p_d.in_c != c) {
        return StatusCode::kInputRange;
      }
      if ((p_d.flags & regmap::kFlagResidual) != 0 &&
          (map_h[p_d.res_buf] != p_d.out_h || map_w[p_d.res_buf] != p_d.out_w || map_c[p_d.res_buf] != p_d.out_c)) {
        return StatusCode::kInputRange;
      }
      buf = p_d.out_buf;
      h = map_h[buf] = p_d.out_h;
      w = map_w[buf] = p_d.out_w;
      c = map_c[buf] = p_d.out_c;
      return StatusCode::kOk;
    }

    /// The last layer's output against the bundle's output size.
    bool finish(uint32_t p_outBytes) const { return c % kFmLanes == 0 && uint64_t{h} * w * c == p_outBytes; }
  };

  // ------------------------------------------------------------------------------------
  // Sequencer and loaders.

  /// Streams each image's descriptors (at beat p_descBeat of the bundle) to the engine,
  /// and each blob's halves to the loaders.
  template <int t_DescDepth, int t_RangeDepth>
  static void sequence(AxiIn<BundleBeat> p_bundle, uint32_t p_descBeat, uint32_t p_layers, uint32_t p_images,
                       hls::stream<LayerDesc, t_DescDepth>& p_engine, hls::stream<ParamRange, t_RangeDepth>& p_a,
                       hls::stream<ParamRange, t_RangeDepth>& p_b) {
    constexpr uint32_t kBeats = regmap::kLayerDescWords / 4;
  image_loop:
    for (uint32_t l_n = 0; l_n < p_images; ++l_n) {
#pragma HLS LOOP_TRIPCOUNT max=1
#ifndef __SYNTHESIS__
      csim::BurstRead l_burst(p_bundle.port(), kBeatBytes, p_layers * kBeats);
#endif
      uint32_t l_words[regmap::kLayerDescWords];
#pragma HLS ARRAY_PARTITION variable=l_words type=complete
      unsigned l_k = 0;
      FIBHA_PIPELINED_FOR(desc_loop, latency::kCopy) (uint32_t l_i = 0; l_i < p_layers * kBeats; ++l_i) {
        FIBHA_PIPELINE(desc_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=256
        FIBHA_AXI_ARRIVE(l_burst, l_i);
        const BundleBeat l_beat = FIBHA_AXI_RAW(p_bundle)[p_descBeat + l_i];
        for (unsigned l_w = 0; l_w < 4; ++l_w) {
#pragma HLS UNROLL
          l_words[4 * l_k + l_w] = static_cast<uint32_t>(beat_word(l_beat, l_w));
        }
        if (l_k + 1 == kBeats) {
          const LayerDesc l_d = regmap::layer_desc_from_words(l_words);
          const uint32_t l_half = l_d.params_beats / 2;
          p_engine.write(l_d);
          p_a.write(ParamRange{l_d.params_off, l_half});
          p_b.write(ParamRange{l_d.params_off + l_half, l_half});
          l_k = 0;
        } else {
          ++l_k;
        }
      }
    }
  }

  /// Streams the blob halves named by p_ranges from its own port.
  template <int t_RangeDepth>
  static void load(AxiIn<BundleBeat> p_port, uint32_t p_layers, uint32_t p_images,
                   hls::stream<ParamRange, t_RangeDepth>& p_ranges, BeatStream& p_out) {
  load_loop:
    for (uint32_t l_i = 0; l_i < p_layers * p_images; ++l_i) {
#pragma HLS LOOP_TRIPCOUNT max=64
      const ParamRange l_r = p_ranges.read();
      axi::burst_read<1u << 20>(p_port, l_r.beat, l_r.beats, p_out);
    }
  }

  /// Writes the output stream, p_words words per image, image n at word n * p_words.
  template <int t_Depth>
  static void write_out(hls::stream<FmWord, t_Depth>& p_in, AxiOut<FmWord> p_dst, uint32_t p_words, uint32_t p_images) {
  write_loop:
    for (uint32_t l_n = 0; l_n < p_images; ++l_n) {
#pragma HLS LOOP_TRIPCOUNT max=1
      axi::burst_write<1u << 20>(p_in, p_dst, l_n * p_words, p_words);
    }
  }

  // ------------------------------------------------------------------------------------
  // The engine.

  /// The engine's on-chip state: feature maps, the pointwise weight tiles and tables
  /// (double-buffered), the depthwise weights and tables.
  struct State {
    Fm fm;
    Array<FmWord, 2, t_Pe, kMaxCf> pw_w;
    Array<int32_t, 2, t_Pe> pw_bias;
    Array<int32_t, 2, t_Pe> pw_mult;
    Array<int32_t, 2, t_Pe> pw_shift;
    Array<FmWord, t_MaxTaps, kDwGroups, t_Kd> dw_w;
    Array<int32_t, kMaxChannels> dw_bias;
    Array<int32_t, kMaxChannels> dw_mult;
    Array<int32_t, kMaxChannels> dw_shift;

    void declare() const {
#pragma HLS INLINE
      FIBHA_ARRAY_COMPLETE(fm, 1);
      FIBHA_ARRAY_COMPLETE(fm, 2);
      FIBHA_ARRAY_COMPLETE(fm, 3);
      FIBHA_AGGREGATE(fm);
      FIBHA_ARRAY_COMPLETE(pw_w, 1);
      FIBHA_ARRAY_COMPLETE(pw_w, 2);
      FIBHA_AGGREGATE(pw_w);
      FIBHA_ARRAY_COMPLETE(pw_bias, 0);
      FIBHA_ARRAY_COMPLETE(pw_mult, 0);
      FIBHA_ARRAY_COMPLETE(pw_shift, 0);
      FIBHA_ARRAY_COMPLETE(dw_w, 3);
      FIBHA_AGGREGATE(dw_w);
      FIBHA_ARRAY_PARTITION(dw_bias, cyclic, kDwLanes, 1);
      FIBHA_ARRAY_PARTITION(dw_mult, cyclic, kDwLanes, 1);
      FIBHA_ARRAY_PARTITION(dw_shift, cyclic, kDwLanes, 1);
    }
  };

  /// Where the next phase's parameters go while the current phase computes: two beats a
  /// cycle, one from each loader.
  struct Absorb {
    uint32_t pairs = 0;   ///< pairs of beats left
    bool pw = false;      ///< a pointwise fold (else a depthwise layer)
    unsigned buf = 0;     ///< pointwise: the tile half it fills
    uint32_t words = 0;   ///< pointwise: CF; depthwise: words per tap
    uint32_t taps = 0;    ///< depthwise: K * K
    uint32_t table = 0;   ///< pairs of beats per table
    uint32_t k = 0;       ///< pair index within the block
    uint32_t a = 0, b = 0;  ///< weight word counters (pointwise: pe, cf; depthwise: tap, word)
    uint32_t layer = 0;   ///< the layer the block belongs to
    uint32_t fault = 0;   ///< 0, or 1 + the first layer with a multiplier or shift out of TFLite's range

    /// The block of pointwise fold (weights into tile half p_buf).
    void start_pw(uint32_t p_layer, uint32_t p_cf, unsigned p_buf) {
      layer = p_layer;
      pairs = pw_fold_beats(t_Pe, p_cf) / 2;
      pw = true;
      buf = p_buf;
      words = p_cf;
      table = t_Pe / 8;
      k = a = b = 0;
    }
    /// The block of a depthwise layer.
    void start_dw(uint32_t p_layer, uint32_t p_words, uint32_t p_taps) {
      layer = p_layer;
      pairs = dw_block_beats(p_words, p_taps) / 2;
      pw = false;
      words = p_words;
      taps = p_taps;
      table = 2 * p_words;
      k = a = b = 0;
    }

    /// Stores one pair of beats.
    void step(State& p_s, const BundleBeat& p_lo, const BundleBeat& p_hi) {
#pragma HLS INLINE
      if (k < 3 * table) {
        store_tables(p_s, k / table, (k % table) * 8, p_lo, p_hi);
      } else if (pw) {
        p_s.pw_w[buf][a][b] = p_lo;
        p_s.pw_w[buf][a + 1][b] = p_hi;
        if (a + 2 == t_Pe) {
          a = 0;
          ++b;
        } else {
          a += 2;
        }
      } else {
        store_dw_word(p_s, p_lo);
        store_dw_word(p_s, p_hi);
      }
      ++k;
      --pairs;
    }

   private:
    void store_tables(State& p_s, uint32_t p_table, uint32_t p_first, const BundleBeat& p_lo,
                      const BundleBeat& p_hi) {
#pragma HLS INLINE
      for (unsigned l_e = 0; l_e < 8; ++l_e) {
#pragma HLS UNROLL
        const int32_t l_raw = beat_word(l_e < 4 ? p_lo : p_hi, l_e % 4);
        const uint32_t l_i = p_first + l_e;
        const bool l_bad =
            (p_table == 1 && l_raw < 0) || (p_table == 2 && (l_raw < kMinShift || l_raw > kMaxShift));
        if (l_bad && fault == 0) {
          fault = layer + 1;
        }
        // The run will report the fault; until then the requantizers compute with 0.
        const int32_t l_v = l_bad ? 0 : l_raw;
        if (pw && p_table == 0) {
          p_s.pw_bias[buf][l_i] = l_v;
        } else if (pw && p_table == 1) {
          p_s.pw_mult[buf][l_i] = l_v;
        } else if (pw) {
          p_s.pw_shift[buf][l_i] = l_v;
        } else if (p_table == 0) {
          p_s.dw_bias[l_i] = l_v;
        } else if (p_table == 1) {
          p_s.dw_mult[l_i] = l_v;
        } else {
          p_s.dw_shift[l_i] = l_v;
        }
      }
    }

    void store_dw_word(State& p_s, const BundleBeat& p_beat) {
#pragma HLS INLINE
      if (a < taps) {
        p_s.dw_w[a][b / t_Kd][b % t_Kd] = p_beat;
      }
      if (b + 1 == words) {
        b = 0;
        ++a;
      } else {
        ++b;
      }
    }
  };

  /// Starts absorbing the first block of layer p_d.
  static void absorb_layer(Absorb& p_ab, uint32_t p_layer, const LayerDesc& p_d, unsigned p_pwBuf) {
    if (p_d.kind == static_cast<uint32_t>(LayerKind::kDepthwise)) {
      p_ab.start_dw(p_layer, fm_words(p_d.in_c), p_d.kernel * p_d.kernel);
    } else {
      p_ab.start_pw(p_layer, fm_words(p_d.in_c), p_pwBuf);
    }
  }

  /// One absorb step if a block is pending.
  static void absorb_step(State& p_s, Absorb& p_ab, BeatStream& p_a, BeatStream& p_b) {
#pragma HLS INLINE
    if (p_ab.pairs != 0) {
      const BundleBeat l_lo = p_a.read();
      const BundleBeat l_hi = p_b.read();
      p_ab.step(p_s, l_lo, l_hi);
    }
  }

  /// Address of word p_j of pixel group p_row in a map of p_groups word groups.
  static uint32_t fm_addr(uint32_t p_row, uint32_t p_groups, uint32_t p_j) { return p_row * p_groups + p_j / t_Kd; }

  /// The hand-off: the SESL part's map into fm0, one word per cycle, while the first
  /// layer's first block is absorbed.
  static void handoff_phase(State& p_s, Absorb& p_ab, Handoff& p_in, uint32_t p_pixels, uint32_t p_words,
                            BeatStream& p_a, BeatStream& p_b) {
    const uint32_t l_words = p_pixels * p_words;
    const uint32_t l_groups = ceil_div(p_words, t_Kd);
    const uint32_t l_trips = l_words > p_ab.pairs ? l_words : p_ab.pairs;
    uint32_t l_p = 0, l_j = 0;
    FIBHA_PIPELINED_FOR(handoff_loop, kDepth) (uint32_t l_i = 0; l_i < l_trips; ++l_i) {
      FIBHA_PIPELINE(handoff_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_HandoffWords
      if (l_i < l_words) {
        p_s.fm[0][l_p % t_Pp][l_j % t_Kd][fm_addr(l_p / t_Pp, l_groups, l_j)] = p_in.read();
        if (l_j + 1 == p_words) {
          l_j = 0;
          ++l_p;
        } else {
          ++l_j;
        }
      }
      absorb_step(p_s, p_ab, p_a, p_b);
    }
  }

  /// The last layer's map out, one word per cycle in NHWC order.
  template <int t_OutDepth>
  static void copy_out_phase(State& p_s, const SemlLayer& p_l, hls::stream<FmWord, t_OutDepth>& p_out) {
    const uint32_t l_groups = ceil_div(p_l.out_words, t_Kd);
    uint32_t l_p = 0, l_j = 0;
    FIBHA_PIPELINED_FOR(copy_out_loop, latency::kBramRead + latency::kStreamWrite)
    (uint32_t l_i = 0; l_i < p_l.out_pixels() * p_l.out_words; ++l_i) {
      FIBHA_PIPELINE(copy_out_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_MaxPixels * t_MaxWords
      p_out.write(p_s.fm[p_l.out_buf][l_p % t_Pp][l_j % t_Kd][fm_addr(l_p / t_Pp, l_groups, l_j)]);
      if (l_j + 1 == p_l.out_words) {
        l_j = 0;
        ++l_p;
      } else {
        ++l_j;
      }
    }
  }

  /// Drain steps a pointwise pixel group of p_words valid output words needs.
  static uint32_t pw_drain_steps(bool p_residual, uint32_t p_words) {
    return p_residual ? t_Pp * p_words * (kFmLanes / t_AddLanes) : ceil_div(t_Pp * p_words, t_RqWords);
  }

  /// Pointwise fold p_fold of layer p_l with the tile half p_buf, absorbing the next block.
  static void pw_fold(State& p_s, Absorb& p_ab, const SemlLayer& p_l, uint32_t p_fold, unsigned p_buf,
                      BeatStream& p_a, BeatStream& p_b) {
    const uint32_t l_pixels = p_l.in_pixels();
    const uint32_t l_groups = ceil_div(l_pixels, t_Pp);
    const uint32_t l_cf = p_l.in_words;
    const uint32_t l_inG = ceil_div(p_l.in_words, t_Kd);
    const uint32_t l_outG = ceil_div(p_l.out_words, t_Kd);
    const uint32_t l_word0 = p_fold * kPeWords;
    const uint32_t l_valid = p_l.out_words - l_word0 < kPeWords ? p_l.out_words - l_word0 : kPeWords;
    const uint32_t l_steps = pw_drain_steps(p_l.residual, l_valid);
    const uint32_t l_span = l_cf > l_steps ? l_cf : l_steps;  // cycles per pixel group
    const uint32_t l_compute = l_groups * l_span + l_steps;
    const uint32_t l_trips = l_compute > p_ab.pairs ? l_compute : p_ab.pairs;
    const uint32_t l_subs = kFmLanes / t_AddLanes;

    int32_t l_acc[t_Pp][t_Pe];
    int32_t l_stage[t_Pp][t_Pe];
#pragma HLS ARRAY_PARTITION variable=l_acc type=complete dim=0
#pragma HLS ARRAY_PARTITION variable=l_stage type=complete dim=0
    uint32_t l_g = 0, l_c = 0;             // pixel group, cycle within it
    uint32_t l_left = 0, l_dg = 0;         // drain: steps left, its pixel group
    uint32_t l_dp = 0, l_dw = 0, l_ds = 0; // drain: pixel, word, sub-step (residual)
    FmWord l_res = {};
    FmWord l_y = {};
    FIBHA_PIPELINED_FOR(pw_loop, kDepth) (uint32_t l_i = 0; l_i < l_trips; ++l_i) {
      FIBHA_PIPELINE(pw_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_MaxPixels * t_MaxWords
      // Write-back of the staged group (before this cycle's staging overwrites it).
      if (l_left != 0) {
        const uint32_t l_j = l_word0 + l_dw;
        const uint32_t l_pixel = l_dg * t_Pp + l_dp;
        const uint32_t l_addr = fm_addr(l_dg, l_outG, l_j);
        if (!p_l.residual) {
          for (unsigned l_r = 0; l_r < t_RqWords; ++l_r) {
#pragma HLS UNROLL
            if (l_dp < t_Pp) {
              FmWord l_word;
              for (unsigned l_e = 0; l_e < kFmLanes; ++l_e) {
#pragma HLS UNROLL
                const unsigned l_ch = l_dw * kFmLanes + l_e;
                l_word.v[l_e] = requantize(l_stage[l_dp][l_ch], p_s.pw_mult[p_buf][l_ch], p_s.pw_shift[p_buf][l_ch], p_l.q);
              }
              if (l_dg * t_Pp + l_dp < l_pixels) {
                p_s.fm[p_l.out_buf][l_dp][(l_word0 + l_dw) % t_Kd][fm_addr(l_dg, l_outG, l_word0 + l_dw)] = l_word;
              }
              if (l_dw + 1 == l_valid) {
                l_dw = 0;
                ++l_dp;
              } else {
                ++l_dw;
              }
            }
          }
        } else {
          if (l_ds == 0) {
            l_res = p_s.fm[p_l.res_buf][l_dp][l_j % t_Kd][l_addr];
          }
          for (unsigned l_e = 0; l_e < t_AddLanes; ++l_e) {
#pragma HLS UNROLL
            const unsigned l_lane = l_ds * t_AddLanes + l_e;
            const unsigned l_ch = l_dw * kFmLanes + l_lane;
            const int8_t l_conv =
                requantize(l_stage[l_dp][l_ch], p_s.pw_mult[p_buf][l_ch], p_s.pw_shift[p_buf][l_ch], p_l.q);
            l_y.v[l_lane] = add_requantize(l_conv, l_res.v[l_lane], p_l.add);
          }
          if (l_ds + 1 == l_subs) {
            if (l_pixel < l_pixels) {
              p_s.fm[p_l.out_buf][l_dp][l_j % t_Kd][l_addr] = l_y;
            }
            l_ds = 0;
            if (l_dw + 1 == l_valid) {
              l_dw = 0;
              ++l_dp;
            } else {
              ++l_dw;
            }
          } else {
            ++l_ds;
          }
        }
        --l_left;
      }
      // Multiply-accumulate: word l_c of t_Pp pixels against t_Pe weight rows.
      if (l_g < l_groups) {
        if (l_c < l_cf) {
          FmWord l_x[t_Pp];
          for (unsigned l_pp = 0; l_pp < t_Pp; ++l_pp) {
#pragma HLS UNROLL
            l_x[l_pp] = p_s.fm[p_l.in_buf][l_pp][l_c % t_Kd][fm_addr(l_g, l_inG, l_c)];
          }
          for (unsigned l_pe = 0; l_pe < t_Pe; ++l_pe) {
#pragma HLS UNROLL
            const FmWord l_w = p_s.pw_w[p_buf][l_pe][l_c];
            const int32_t l_bias = p_s.pw_bias[p_buf][l_pe];
            for (unsigned l_pp = 0; l_pp < t_Pp; ++l_pp) {
#pragma HLS UNROLL
              int32_t l_sum = l_c == 0 ? l_bias : l_acc[l_pp][l_pe];
              for (unsigned l_e = 0; l_e < kFmLanes; ++l_e) {
#pragma HLS UNROLL
                l_sum = wrap_add(l_sum, mac_term(l_x[l_pp].v[l_e], p_l.q.in_zp, l_w.v[l_e]));
              }
              l_acc[l_pp][l_pe] = l_sum;
            }
          }
        }
        if (l_c + 1 == l_span) {
          for (unsigned l_pp = 0; l_pp < t_Pp; ++l_pp) {
#pragma HLS UNROLL
            for (unsigned l_pe = 0; l_pe < t_Pe; ++l_pe) {
#pragma HLS UNROLL
              l_stage[l_pp][l_pe] = l_acc[l_pp][l_pe];
            }
          }
          l_left = l_steps;
          l_dg = l_g;
          l_dp = l_dw = l_ds = 0;
          l_c = 0;
          ++l_g;
        } else {
          ++l_c;
        }
      }
      absorb_step(p_s, p_ab, p_a, p_b);
    }
  }

  /// Drain steps of a depthwise group.
  static constexpr uint32_t kDwSteps = t_Kd / t_DwRqWords;

  /// Depthwise layer p_l, absorbing the next block.
  static void dw_layer(State& p_s, Absorb& p_ab, const SemlLayer& p_l, BeatStream& p_a, BeatStream& p_b) {
    const uint32_t l_taps = p_l.kernel * p_l.kernel;
    const uint32_t l_span = l_taps > kDwSteps ? l_taps : kDwSteps;  // cycles per group
    const uint32_t l_wg = ceil_div(p_l.in_words, t_Kd);             // word groups (both maps)
    const uint32_t l_units = p_l.out_pixels() * l_wg;
    const uint32_t l_compute = l_units * l_span + kDwSteps;
    const uint32_t l_trips = l_compute > p_ab.pairs ? l_compute : p_ab.pairs;

    int32_t l_acc[t_Kd][kFmLanes];
    int32_t l_stage[t_Kd][kFmLanes];
#pragma HLS ARRAY_PARTITION variable=l_acc type=complete dim=0
#pragma HLS ARRAY_PARTITION variable=l_stage type=complete dim=0
    uint32_t l_oy = 0, l_ox = 0, l_g = 0, l_ky = 0, l_kx = 0, l_c = 0, l_u = 0;
    uint32_t l_left = 0, l_dq = 0, l_dg = 0, l_ds = 0;
    FIBHA_PIPELINED_FOR(dw_loop, kDepth) (uint32_t l_i = 0; l_i < l_trips; ++l_i) {
      FIBHA_PIPELINE(dw_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_MaxPixels * kDwGroups * t_MaxTaps
      // Write-back of the staged group.
      if (l_left != 0) {
        for (unsigned l_r = 0; l_r < t_DwRqWords; ++l_r) {
#pragma HLS UNROLL
          const unsigned l_k = l_ds * t_DwRqWords + l_r;
          const uint32_t l_j = l_dg * t_Kd + l_k;
          if (l_j < p_l.out_words) {
            FmWord l_word;
            for (unsigned l_e = 0; l_e < kFmLanes; ++l_e) {
#pragma HLS UNROLL
              const uint32_t l_ch = l_j * kFmLanes + l_e;
              l_word.v[l_e] = requantize(l_stage[l_k][l_e], p_s.dw_mult[l_ch], p_s.dw_shift[l_ch], p_l.q);
            }
            p_s.fm[p_l.out_buf][l_dq % t_Pp][l_k][(l_dq / t_Pp) * l_wg + l_dg] = l_word;
          }
        }
        ++l_ds;
        --l_left;
      }
      // Multiply-accumulate: tap (l_ky, l_kx) of t_Kd words of output pixel (l_oy, l_ox).
      if (l_u < l_units) {
        if (l_c < l_taps) {
          const int32_t l_iy = static_cast<int32_t>(l_oy * p_l.stride + l_ky) - static_cast<int32_t>(p_l.pad_top);
          const int32_t l_ix = static_cast<int32_t>(l_ox * p_l.stride + l_kx) - static_cast<int32_t>(p_l.pad_left);
          const bool l_inside = l_iy >= 0 && l_ix >= 0 && l_iy < static_cast<int32_t>(p_l.in_h) &&
                                l_ix < static_cast<int32_t>(p_l.in_w);
          const uint32_t l_p = l_inside ? static_cast<uint32_t>(l_iy) * p_l.in_w + static_cast<uint32_t>(l_ix) : 0;
          for (unsigned l_k = 0; l_k < t_Kd; ++l_k) {
#pragma HLS UNROLL
            const FmWord l_x = p_s.fm[p_l.in_buf][l_p % t_Pp][l_k][(l_p / t_Pp) * l_wg + l_g];
            const FmWord l_w = p_s.dw_w[l_c][l_g][l_k];
            for (unsigned l_e = 0; l_e < kFmLanes; ++l_e) {
#pragma HLS UNROLL
              const int32_t l_start = l_c == 0 ? static_cast<int32_t>(p_s.dw_bias[(l_g * t_Kd + l_k) * kFmLanes + l_e])
                                               : l_acc[l_k][l_e];
              const int32_t l_term = l_inside ? mac_term(l_x.v[l_e], p_l.q.in_zp, l_w.v[l_e]) : 0;
              l_acc[l_k][l_e] = wrap_add(l_start, l_term);
            }
          }
          if (l_kx + 1 == p_l.kernel) {
            l_kx = 0;
            ++l_ky;
          } else {
            ++l_kx;
          }
        }
        if (l_c + 1 == l_span) {
          for (unsigned l_k = 0; l_k < t_Kd; ++l_k) {
#pragma HLS UNROLL
            for (unsigned l_e = 0; l_e < kFmLanes; ++l_e) {
#pragma HLS UNROLL
              l_stage[l_k][l_e] = l_acc[l_k][l_e];
            }
          }
          l_left = kDwSteps;
          l_dq = l_oy * p_l.out_w + l_ox;
          l_dg = l_g;
          l_ds = 0;
          l_c = l_ky = l_kx = 0;
          ++l_u;
          if (l_g + 1 == l_wg) {
            l_g = 0;
            if (l_ox + 1 == p_l.out_w) {
              l_ox = 0;
              ++l_oy;
            } else {
              ++l_ox;
            }
          } else {
            ++l_g;
          }
        } else {
          ++l_c;
        }
      }
      absorb_step(p_s, p_ab, p_a, p_b);
    }
  }

  /// The engine: p_images images of p_layers layers each.
  template <int t_DescDepth, int t_OutDepth>
  static void engine(uint32_t p_layers, uint32_t p_images, hls::stream<LayerDesc, t_DescDepth>& p_desc,
                     Handoff& p_handoff, BeatStream& p_a, BeatStream& p_b, hls::stream<FmWord, t_OutDepth>& p_out,
                     uint32_t* p_fault) {
    static State l_s;
    l_s.declare();
    Absorb l_ab;
    unsigned l_buf = 0;  // the pointwise tile half the next fold fills
  engine_image_loop:
    for (uint32_t l_n = 0; l_n < p_images; ++l_n) {
#pragma HLS LOOP_TRIPCOUNT max=1
      LayerDesc l_next = p_desc.read();
      SemlLayer l_l = seml_layer(l_next);
      absorb_layer(l_ab, 0, l_next, l_buf);
      {
        FIBHA_SPAN(seml_handoff, l_n);
        handoff_phase(l_s, l_ab, p_handoff, l_l.in_pixels(), l_l.in_words, p_a, p_b);
      }
    engine_layer_loop:
      for (uint32_t l_i = 0; l_i < p_layers; ++l_i) {
#pragma HLS LOOP_TRIPCOUNT max=64
        FIBHA_SPAN(seml_layer, l_i);
        l_l = seml_layer(l_next);
        const bool l_more = l_i + 1 < p_layers;
        if (l_more) {
          l_next = p_desc.read();
        }
        if (l_l.depthwise) {
          if (l_more) {
            absorb_layer(l_ab, l_i + 1, l_next, l_buf);
          }
          dw_layer(l_s, l_ab, l_l, p_a, p_b);
        } else {
          const uint32_t l_folds = ceil_div(l_l.out_words, kPeWords);
        fold_loop:
          for (uint32_t l_f = 0; l_f < l_folds; ++l_f) {
#pragma HLS LOOP_TRIPCOUNT max=t_MaxWords
            const unsigned l_cur = l_buf;
            l_buf ^= 1u;
            if (l_f + 1 < l_folds) {
              l_ab.start_pw(l_i, l_l.in_words, l_buf);
            } else if (l_more) {
              absorb_layer(l_ab, l_i + 1, l_next, l_buf);
            }
            pw_fold(l_s, l_ab, l_l, l_f, l_cur, p_a, p_b);
          }
        }
      }
      {
        FIBHA_SPAN(seml_copy_out, l_n);
        copy_out_phase(l_s, l_l, p_out);
      }
    }
    *p_fault = l_ab.fault;
  }

  /// Runs p_images images through p_layers layers (descriptors at beat p_descBeat of the
  /// bundle; parameter halves through the ports p_paramsA and p_paramsB, which address the
  /// same bundle), writing each image's output map, p_outWords words, to p_dst.
  /// p_fault: 0, or 1 + the first layer whose absorbed multipliers or shifts were invalid.
  static void run(AxiIn<BundleBeat> p_bundle, AxiIn<BundleBeat> p_paramsA, AxiIn<BundleBeat> p_paramsB,
                  uint32_t p_descBeat, uint32_t p_layers, uint32_t p_images, Handoff& p_handoff,
                  AxiOut<FmWord> p_dst, uint32_t p_outWords, uint32_t* p_fault) {
    FIBHA_DATAFLOW(seml);
    hls::stream<LayerDesc, 2> l_desc("seml.desc");
    hls::stream<ParamRange, 4> l_rangeA("seml.range_a");
    hls::stream<ParamRange, 4> l_rangeB("seml.range_b");
    BeatStream l_beatsA("seml.params_a");
    BeatStream l_beatsB("seml.params_b");
    hls::stream<FmWord, 16> l_out("seml.out");
    FIBHA_PROCESS(seml, "sequence",
                  sequence(p_bundle, p_descBeat, p_layers, p_images, l_desc, l_rangeA, l_rangeB));
    FIBHA_PROCESS(seml, "load_a", load(p_paramsA, p_layers, p_images, l_rangeA, l_beatsA));
    FIBHA_PROCESS(seml, "load_b", load(p_paramsB, p_layers, p_images, l_rangeB, l_beatsB));
    FIBHA_PROCESS(seml, "engine", engine(p_layers, p_images, l_desc, p_handoff, l_beatsA, l_beatsB, l_out, p_fault));
    FIBHA_PROCESS(seml, "write_out", write_out(l_out, p_dst, p_outWords, p_images));
    FIBHA_DATAFLOW_RUN(seml);
  }
};

}  // namespace fibha

#endif  // FIBHA_SEML_HPP
