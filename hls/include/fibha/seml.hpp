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
// Feature maps: four on-chip memories (buffer_id fm0..fm3) of 16-channel words (a pixel
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
// It also runs the global pooling (a pool layer): the window is the whole input map and
// every weight 1, so a unit sums the map's pixels, and the write-back rescales the sum as
// MEAN does or divides it as AVERAGE_POOL_2D does (divide_round). A depthwise layer runs concurrently with the first fold of the pointwise layer after it
// (unless that one writes the depthwise layer's input): the fold takes each pixel group
// as soon as the depthwise engine has written it; the other folds follow.
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
//                           channels past C_out are zero; inputs past C_in hold the
//                           filter zero point, so (w - w_zp) makes their unused lanes
//                           add nothing whatever the feature map holds there
//   depthwise:              bias, multiplier, shift of 16 * words channels (4 * words
//                           beats each); then for each tap, the words of weights
//                           W[tap][16 j .. 16 j + 16); one zero beat if the total is odd
//   pool:                   the depthwise block without weights: bias (zero), multiplier,
//                           shift (MEAN's rescale with the count absorbed, or
//                           divide_round's reciprocal and ceil(log2 n))
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
/// Feature-map memories of the SEML part: a bottleneck's input (its residual), the
/// expanded map the depthwise layer reads, the depthwise output, and the projection's
/// output, which is written while the depthwise layer still reads its input.
constexpr unsigned kFmCount = 4;

/// Whether the engine runs pointwise layer p_pw concurrently with depthwise layer p_dw
/// before it: its output must not overwrite the map the depthwise layer is reading.
inline bool fused(const LayerDesc& p_dw, const LayerDesc& p_pw) {
  return p_dw.kind == static_cast<uint32_t>(LayerKind::kDepthwise) &&
         p_pw.kind == static_cast<uint32_t>(LayerKind::kPointwise) && p_pw.out_buf != p_dw.in_buf;
}

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

/// Whether descriptor p_d is a global pooling layer.
inline bool is_pool(const LayerDesc& p_d) { return p_d.kind == static_cast<uint32_t>(LayerKind::kPool); }

/// Whether the depthwise engine runs descriptor p_d (a depthwise or a pool layer).
inline bool on_dw_engine(const LayerDesc& p_d) {
  return p_d.kind == static_cast<uint32_t>(LayerKind::kDepthwise) || is_pool(p_d);
}

/// Weight taps of a depthwise-engine layer's blob: K * K, none for a pool layer (every
/// tap's weight is 1).
inline uint32_t dw_blob_taps(const LayerDesc& p_d) { return is_pool(p_d) ? 0 : p_d.kernel * p_d.kernel; }

/// A layer as the engine runs it: a descriptor's facts in the engine's units.
struct SemlLayer {
  bool depthwise;  ///< on the depthwise engine (a depthwise or a pool layer)
  bool pool;       ///< a global pooling: the window is the whole input map, every weight 1
  bool divide;     ///< a pool layer that averages as AVERAGE_POOL_2D (else as MEAN)
  bool residual;
  uint32_t in_buf, out_buf, res_buf;
  uint32_t in_h, in_w, out_h, out_w;
  uint32_t in_words, out_words;
  uint32_t kernel, stride, pad_top, pad_left;
  uint32_t kh, kw;     ///< the window: K x K, or a pool layer's whole input map
  QuantParams q;       ///< the conv's requantization (with a residual: clamp = int8 range)
  AddParams add;       ///< the residual ADD (a = the conv's output, b = the residual)

  uint32_t in_pixels() const { return in_h * in_w; }
  uint32_t out_pixels() const { return out_h * out_w; }
};

/// The engine's view of descriptor p_d (check_layer accepted it).
inline SemlLayer seml_layer(const LayerDesc& p_d) {
  SemlLayer l_l;
  l_l.depthwise = on_dw_engine(p_d);
  l_l.pool = is_pool(p_d);
  l_l.divide = (p_d.flags & regmap::kFlagRoundDivide) != 0;
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
  l_l.kh = l_l.pool ? p_d.in_h : p_d.kernel;
  l_l.kw = l_l.pool ? p_d.in_w : p_d.kernel;
  l_l.q = QuantParams{p_d.in_zp, l_l.residual ? p_d.conv_zp : p_d.out_zp, l_l.residual ? -128 : p_d.act_min,
                      l_l.residual ? 127 : p_d.act_max, p_d.filter_zp};
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
  /// Channels of the depthwise tables: whole groups of t_Kd words, so the engine's reads of
  /// a group's words past a layer's last one (results it discards) stay inside them.
  static constexpr unsigned kDwChannels = kDwGroups * kDwLanes;
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
    if (on_dw_engine(p_d)) {
      return dw_block_beats(fm_words(p_d.in_c), dw_blob_taps(p_d));
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
    if (p_d.magic != regmap::kDescMagic) {
      return StatusCode::kDescMagic;
    }
    const bool l_dw = p_d.kind == static_cast<uint32_t>(LayerKind::kDepthwise);
    const bool l_pool = is_pool(p_d);
    if (!l_dw && !l_pool && p_d.kind != static_cast<uint32_t>(LayerKind::kPointwise)) {
      return StatusCode::kLayerKind;
    }
    const bool l_res = (p_d.flags & regmap::kFlagResidual) != 0;
    const bool l_divide = (p_d.flags & regmap::kFlagRoundDivide) != 0;
    if ((p_d.flags & ~(regmap::kFlagResidual | regmap::kFlagRoundDivide)) != 0 || (l_res && (l_dw || l_pool)) ||
        (l_divide && !l_pool)) {
      return StatusCode::kLayerKind;
    }
    if (p_d.in_h == 0 || p_d.in_w == 0 || p_d.in_c == 0 || p_d.out_h == 0 || p_d.out_w == 0 || p_d.out_c == 0 ||
        p_d.stride == 0 || p_d.stride > 2 || p_d.kernel == 0) {
      return StatusCode::kGeometry;
    }
    if (l_pool) {
      if (p_d.out_c != p_d.in_c || p_d.out_h != 1 || p_d.out_w != 1 || p_d.kernel != 1 || p_d.stride != 1 ||
          p_d.pad_top != 0 || p_d.pad_left != 0) {
        return StatusCode::kGeometry;
      }
    } else if (l_dw) {
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
        map_depth(p_d.out_h * p_d.out_w, fm_words(p_d.out_c)) > t_FmDepth ||
        (l_divide && p_d.in_h * p_d.in_w > kMaxRoundDividePixels)) {
      return StatusCode::kEngineLimit;
    }
    if (p_d.in_buf >= kFmCount || p_d.out_buf >= kFmCount || p_d.in_buf == p_d.out_buf ||
        (l_res && (p_d.res_buf >= kFmCount || p_d.res_buf == p_d.in_buf || p_d.res_buf == p_d.out_buf)) ||
        (!l_res && p_d.res_buf != 0)) {
      return StatusCode::kBufferId;
    }
    const SemlLayer l_l = seml_layer(p_d);
    if (!quant_params_valid(l_l.q) || (l_pool && p_d.filter_zp != 0) || (l_res && !add_params_valid(l_l.add)) ||
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
  /// start() with the hand-off, then next() once per descriptor, in order.
  struct ProgramCheck {
    uint32_t buf = 0;           ///< where the previous layer's output lives
    uint32_t h = 0, w = 0, c = 0;
    uint32_t map_h[kFmCount] = {}, map_w[kFmCount] = {}, map_c[kFmCount] = {};

    /// The hand-off: the SESL part's output in fm0.
    void start(uint32_t p_h, uint32_t p_w, uint32_t p_c) {
      buf = 0;
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

    /// The last layer's output, whole words per pixel, against the bundle's output size.
    bool finish(uint32_t p_outBytes) const { return uint64_t{h} * w * fm_words(c) * kFmLanes == p_outBytes; }
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
    Array<FmWord, 2, t_MaxTaps, kDwGroups, t_Kd> dw_w;
    Array<int32_t, 2, kDwChannels> dw_bias;
    Array<int32_t, 2, kDwChannels> dw_mult;
    Array<int32_t, 2, kDwChannels> dw_shift;

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
      FIBHA_ARRAY_COMPLETE(dw_w, 1);
      FIBHA_ARRAY_COMPLETE(dw_w, 4);
      FIBHA_AGGREGATE(dw_w);
      FIBHA_ARRAY_COMPLETE(dw_bias, 1);
      FIBHA_ARRAY_PARTITION(dw_bias, cyclic, kDwLanes, 2);
      FIBHA_ARRAY_COMPLETE(dw_mult, 1);
      FIBHA_ARRAY_PARTITION(dw_mult, cyclic, kDwLanes, 2);
      FIBHA_ARRAY_COMPLETE(dw_shift, 1);
      FIBHA_ARRAY_PARTITION(dw_shift, cyclic, kDwLanes, 2);
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
    bool queued = false;  ///< a pointwise fold block follows this one
    uint32_t queued_layer = 0, queued_cf = 0;
    unsigned queued_buf = 0;
    uint32_t fault = 0;   ///< 0, or 1 + the first layer with a multiplier or shift out of TFLite's range

    /// Pairs of beats left in this block and the one queued after it.
    uint32_t total_pairs() const { return pairs + (queued ? pw_fold_beats(t_Pe, queued_cf) / 2 : 0); }

    /// Queues a pointwise fold block to start when this one ends.
    void queue_pw(uint32_t p_layer, uint32_t p_cf, unsigned p_buf) {
      queued = true;
      queued_layer = p_layer;
      queued_cf = p_cf;
      queued_buf = p_buf;
    }

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
    void start_dw(uint32_t p_layer, uint32_t p_words, uint32_t p_taps, unsigned p_buf) {
      layer = p_layer;
      buf = p_buf;
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
      if (pairs == 0 && queued) {
        queued = false;
        start_pw(queued_layer, queued_cf, queued_buf);
      }
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
          p_s.dw_bias[buf][l_i] = l_v;
        } else if (p_table == 1) {
          p_s.dw_mult[buf][l_i] = l_v;
        } else {
          p_s.dw_shift[buf][l_i] = l_v;
        }
      }
    }

    void store_dw_word(State& p_s, const BundleBeat& p_beat) {
#pragma HLS INLINE
      if (a < taps) {
        p_s.dw_w[buf][a][b / t_Kd][b % t_Kd] = p_beat;
      }
      if (b + 1 == words) {
        b = 0;
        ++a;
      } else {
        ++b;
      }
    }
  };

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
    const uint32_t l_pairs = p_ab.total_pairs();
    const uint32_t l_trips = l_words > l_pairs ? l_words : l_pairs;
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

  /// Drain steps of a depthwise unit.
  static constexpr uint32_t kDwSteps = t_Kd / t_DwRqWords;

  /// The pointwise engine through one fold: t_Pp pixels x t_Pe channels a cycle, a pixel
  /// group's accumulators staged and written back while the next group accumulates.
  struct PwFold {
    const SemlLayer& l;
    unsigned buf;                 ///< the weight tile half
    uint32_t pixels, groups, cf, in_g, out_g, word0, valid, steps, span;
    int32_t acc[t_Pp][t_Pe];
    int32_t stage[t_Pp][t_Pe];
    uint32_t g = 0, c = 0;                 // pixel group, cycle within it
    uint32_t left = 0, dg = 0;             // write-back: steps left, its pixel group
    uint32_t dp = 0, dw = 0, ds = 0;       // write-back: pixel, word, sub-step (residual)
    FmWord res = {};
    FmWord y = {};

    PwFold(const SemlLayer& p_l, uint32_t p_fold, unsigned p_buf)
        : l(p_l),
          buf(p_buf),
          pixels(p_l.in_pixels()),
          groups(ceil_div(p_l.in_pixels(), t_Pp)),
          cf(p_l.in_words),
          in_g(ceil_div(p_l.in_words, t_Kd)),
          out_g(ceil_div(p_l.out_words, t_Kd)),
          word0(p_fold * kPeWords),
          valid(p_l.out_words - p_fold * kPeWords < kPeWords ? p_l.out_words - p_fold * kPeWords : kPeWords),
          steps(pw_drain_steps(p_l.residual, valid)),
          span(cf > steps ? cf : steps) {
#pragma HLS ARRAY_PARTITION variable=acc type=complete dim=0
#pragma HLS ARRAY_PARTITION variable=stage type=complete dim=0
    }

    /// Cycles of the fold on its own: its groups and the last write-back.
    uint32_t compute() const { return groups * span + steps; }
    bool done() const { return g == groups && left == 0; }

    /// One cycle; the input map holds p_ready pixels (all of them but in a fused phase).
    void step(State& p_s, uint32_t p_ready) {
#pragma HLS INLINE
      // Write-back of the staged group (before this cycle's staging overwrites it).
      if (left != 0) {
        if (!l.residual) {
          for (unsigned l_r = 0; l_r < t_RqWords; ++l_r) {
#pragma HLS UNROLL
            if (dp < t_Pp) {
              FmWord l_word;
              for (unsigned l_e = 0; l_e < kFmLanes; ++l_e) {
#pragma HLS UNROLL
                const unsigned l_ch = dw * kFmLanes + l_e;
                l_word.v[l_e] = requantize(stage[dp][l_ch], p_s.pw_mult[buf][l_ch], p_s.pw_shift[buf][l_ch], l.q);
              }
              if (dg * t_Pp + dp < pixels) {
                p_s.fm[l.out_buf][dp][(word0 + dw) % t_Kd][fm_addr(dg, out_g, word0 + dw)] = l_word;
              }
              if (dw + 1 == valid) {
                dw = 0;
                ++dp;
              } else {
                ++dw;
              }
            }
          }
        } else {
          const uint32_t l_j = word0 + dw;
          const uint32_t l_addr = fm_addr(dg, out_g, l_j);
          if (ds == 0) {
            res = p_s.fm[l.res_buf][dp][l_j % t_Kd][l_addr];
          }
          for (unsigned l_e = 0; l_e < t_AddLanes; ++l_e) {
#pragma HLS UNROLL
            const unsigned l_lane = ds * t_AddLanes + l_e;
            const unsigned l_ch = dw * kFmLanes + l_lane;
            const int8_t l_conv = requantize(stage[dp][l_ch], p_s.pw_mult[buf][l_ch], p_s.pw_shift[buf][l_ch], l.q);
            y.v[l_lane] = add_requantize(l_conv, res.v[l_lane], l.add);
          }
          if (ds + 1 == kFmLanes / t_AddLanes) {
            if (dg * t_Pp + dp < pixels) {
              p_s.fm[l.out_buf][dp][l_j % t_Kd][l_addr] = y;
            }
            ds = 0;
            if (dw + 1 == valid) {
              dw = 0;
              ++dp;
            } else {
              ++dw;
            }
          } else {
            ++ds;
          }
        }
        --left;
      }
      // Multiply-accumulate: word c of t_Pp pixels against t_Pe weight rows, once the
      // group's pixels are in the input map.
      const uint32_t l_need = (g + 1) * t_Pp < pixels ? (g + 1) * t_Pp : pixels;
      if (g < groups && l_need <= p_ready) {
        if (c < cf) {
          FmWord l_x[t_Pp];
          for (unsigned l_pp = 0; l_pp < t_Pp; ++l_pp) {
#pragma HLS UNROLL
            l_x[l_pp] = p_s.fm[l.in_buf][l_pp][c % t_Kd][fm_addr(g, in_g, c)];
          }
          for (unsigned l_pe = 0; l_pe < t_Pe; ++l_pe) {
#pragma HLS UNROLL
            const FmWord l_w = p_s.pw_w[buf][l_pe][c];
            const int32_t l_bias = p_s.pw_bias[buf][l_pe];
            for (unsigned l_pp = 0; l_pp < t_Pp; ++l_pp) {
#pragma HLS UNROLL
              int32_t l_sum = c == 0 ? l_bias : acc[l_pp][l_pe];
              for (unsigned l_e = 0; l_e < kFmLanes; ++l_e) {
#pragma HLS UNROLL
                l_sum = wrap_add(l_sum, mac_term(l_x[l_pp].v[l_e], l.q.in_zp, l_w.v[l_e], l.q.w_zp));
              }
              acc[l_pp][l_pe] = l_sum;
            }
          }
        }
        if (c + 1 == span) {
          for (unsigned l_pp = 0; l_pp < t_Pp; ++l_pp) {
#pragma HLS UNROLL
            for (unsigned l_pe = 0; l_pe < t_Pe; ++l_pe) {
#pragma HLS UNROLL
              stage[l_pp][l_pe] = acc[l_pp][l_pe];
            }
          }
          left = steps;
          dg = g;
          dp = dw = ds = 0;
          c = 0;
          ++g;
        } else {
          ++c;
        }
      }
    }
  };

  /// The depthwise engine through one layer: t_Kd words of one output pixel a cycle, one
  /// tap a cycle; a unit's accumulators staged and written back while the next accumulates.
  struct DwLayer {
    const SemlLayer& l;
    unsigned buf;  ///< the parameter memories' half
    uint32_t taps, span, wg, units;
    int32_t acc[t_Kd][kFmLanes];
    int32_t stage[t_Kd][kFmLanes];
    uint32_t oy = 0, ox = 0, g = 0, ky = 0, kx = 0, c = 0, u = 0;
    uint32_t left = 0, dq = 0, dg = 0, ds = 0;
    uint32_t done_pixels = 0;  ///< output pixels completely written

    DwLayer(const SemlLayer& p_l, unsigned p_buf)
        : l(p_l),
          buf(p_buf),
          taps(p_l.kh * p_l.kw),
          span(p_l.kh * p_l.kw > kDwSteps ? p_l.kh * p_l.kw : kDwSteps),
          wg(ceil_div(p_l.in_words, t_Kd)),
          units(p_l.out_pixels() * ceil_div(p_l.in_words, t_Kd)) {
#pragma HLS ARRAY_PARTITION variable=acc type=complete dim=0
#pragma HLS ARRAY_PARTITION variable=stage type=complete dim=0
    }

    uint32_t compute() const { return units * span + kDwSteps; }
    bool done() const { return u == units && left == 0; }

    void step(State& p_s) {
#pragma HLS INLINE
      // Write-back of the staged unit.
      if (left != 0) {
        for (unsigned l_r = 0; l_r < t_DwRqWords; ++l_r) {
#pragma HLS UNROLL
          const unsigned l_k = ds * t_DwRqWords + l_r;
          const uint32_t l_j = dg * t_Kd + l_k;
          if (l_j < l.out_words) {
            FmWord l_word;
            for (unsigned l_e = 0; l_e < kFmLanes; ++l_e) {
#pragma HLS UNROLL
              const uint32_t l_ch = l_j * kFmLanes + l_e;
              l_word.v[l_e] = pool_output(stage[l_k][l_e], l.divide, l.in_pixels(), p_s.dw_mult[buf][l_ch],
                                          p_s.dw_shift[buf][l_ch], l.q);
            }
            p_s.fm[l.out_buf][dq % t_Pp][l_k][(dq / t_Pp) * wg + dg] = l_word;
          }
        }
        ++ds;
        --left;
        if (left == 0 && dg + 1 == wg) {
          done_pixels = dq + 1;
        }
      }
      // Multiply-accumulate: tap (ky, kx) of t_Kd words of output pixel (oy, ox).
      if (u < units) {
        if (c < taps) {
          const int32_t l_iy = static_cast<int32_t>(oy * l.stride + ky) - static_cast<int32_t>(l.pad_top);
          const int32_t l_ix = static_cast<int32_t>(ox * l.stride + kx) - static_cast<int32_t>(l.pad_left);
          const bool l_inside =
              l_iy >= 0 && l_ix >= 0 && l_iy < static_cast<int32_t>(l.in_h) && l_ix < static_cast<int32_t>(l.in_w);
          const uint32_t l_p = l_inside ? static_cast<uint32_t>(l_iy) * l.in_w + static_cast<uint32_t>(l_ix) : 0;
          for (unsigned l_k = 0; l_k < t_Kd; ++l_k) {
#pragma HLS UNROLL
            const FmWord l_x = p_s.fm[l.in_buf][l_p % t_Pp][l_k][(l_p / t_Pp) * wg + g];
            // A pool layer's taps outnumber the weight memory's; its weights are all 1.
            const FmWord l_w = p_s.dw_w[buf][l.pool ? 0 : c][g][l_k];
            for (unsigned l_e = 0; l_e < kFmLanes; ++l_e) {
#pragma HLS UNROLL
              const int32_t l_start =
                  c == 0 ? static_cast<int32_t>(p_s.dw_bias[buf][(g * t_Kd + l_k) * kFmLanes + l_e]) : acc[l_k][l_e];
              const int8_t l_wv = l.pool ? int8_t{1} : l_w.v[l_e];
              const int32_t l_term = l_inside ? mac_term(l_x.v[l_e], l.q.in_zp, l_wv, l.q.w_zp) : 0;
              acc[l_k][l_e] = wrap_add(l_start, l_term);
            }
          }
          if (kx + 1 == l.kw) {
            kx = 0;
            ++ky;
          } else {
            ++kx;
          }
        }
        if (c + 1 == span) {
          for (unsigned l_k = 0; l_k < t_Kd; ++l_k) {
#pragma HLS UNROLL
            for (unsigned l_e = 0; l_e < kFmLanes; ++l_e) {
#pragma HLS UNROLL
              stage[l_k][l_e] = acc[l_k][l_e];
            }
          }
          left = kDwSteps;
          dq = oy * l.out_w + ox;
          dg = g;
          ds = 0;
          c = ky = kx = 0;
          ++u;
          if (g + 1 == wg) {
            g = 0;
            if (ox + 1 == l.out_w) {
              ox = 0;
              ++oy;
            } else {
              ++ox;
            }
          } else {
            ++g;
          }
        } else {
          ++c;
        }
      }
    }
  };

  /// Pointwise fold p_fold of layer p_l with the tile half p_buf, absorbing the next block.
  static void pw_fold(State& p_s, Absorb& p_ab, const SemlLayer& p_l, uint32_t p_fold, unsigned p_buf,
                      BeatStream& p_a, BeatStream& p_b) {
    PwFold l_pw(p_l, p_fold, p_buf);
    const uint32_t l_compute = l_pw.compute();
    const uint32_t l_pairs = p_ab.total_pairs();
    const uint32_t l_trips = l_compute > l_pairs ? l_compute : l_pairs;
    FIBHA_PIPELINED_FOR(pw_loop, kDepth) (uint32_t l_i = 0; l_i < l_trips; ++l_i) {
      FIBHA_PIPELINE(pw_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_MaxPixels * t_MaxWords
#pragma HLS DEPENDENCE variable=p_s.fm inter false
      l_pw.step(p_s, l_pw.pixels);
      absorb_step(p_s, p_ab, p_a, p_b);
    }
  }

  /// Depthwise layer p_l on its own, absorbing the next block.
  static void dw_layer(State& p_s, Absorb& p_ab, const SemlLayer& p_l, unsigned p_buf, BeatStream& p_a,
                       BeatStream& p_b) {
    DwLayer l_dw(p_l, p_buf);
    const uint32_t l_compute = l_dw.compute();
    const uint32_t l_pairs = p_ab.total_pairs();
    const uint32_t l_trips = l_compute > l_pairs ? l_compute : l_pairs;
    FIBHA_PIPELINED_FOR(dw_loop, kDepth) (uint32_t l_i = 0; l_i < l_trips; ++l_i) {
      FIBHA_PIPELINE(dw_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_MaxPixels * kDwGroups * t_MaxTaps
#pragma HLS DEPENDENCE variable=p_s.fm inter false
      l_dw.step(p_s);
      absorb_step(p_s, p_ab, p_a, p_b);
    }
  }

  /// A depthwise layer and the first fold of the pointwise layer after it, concurrently:
  /// the fold takes a pixel group once the depthwise engine has written it, kDepth cycles
  /// earlier (the write has then left the pipeline, so the read sees it); absorbing the
  /// next block.
  static void dw_pw_phase(State& p_s, Absorb& p_ab, const SemlLayer& p_dw, unsigned p_dwBuf, const SemlLayer& p_pw,
                          unsigned p_buf,
                          BeatStream& p_a, BeatStream& p_b) {
    DwLayer l_dw(p_dw, p_dwBuf);
    PwFold l_pw(p_pw, 0, p_buf);
    uint32_t l_seen[kDepth] = {};
#pragma HLS ARRAY_PARTITION variable=l_seen type=complete
    unsigned l_slot = 0;
    FIBHA_PIPELINED_FOR(dw_pw_loop, kDepth) (; !l_dw.done() || !l_pw.done() || p_ab.total_pairs() != 0;) {
      FIBHA_PIPELINE(dw_pw_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_MaxPixels * kDwGroups * t_MaxTaps
      // The depthwise engine writes the map the pointwise engine reads, kDepth cycles apart.
#pragma HLS DEPENDENCE variable=p_s.fm inter false
      const uint32_t l_ready = l_seen[l_slot];
      l_dw.step(p_s);
      l_pw.step(p_s, l_ready);
      l_seen[l_slot] = l_dw.done_pixels;
      l_slot = l_slot + 1 == kDepth ? 0 : l_slot + 1;
      absorb_step(p_s, p_ab, p_a, p_b);
    }
  }

  /// Starts absorbing the first block(s) of layer p_layer (p_d), a depthwise layer's
  /// followed by the first fold of the pointwise layer after it (p_after), which runs
  /// with it.
  /// The halves of the double-buffered parameter memories the next blocks fill.
  struct Halves {
    unsigned pw = 0;
    unsigned dw = 0;
  };

  static void absorb_layer(Absorb& p_ab, uint32_t p_layer, const LayerDesc& p_d, const LayerDesc* p_after,
                           const Halves& p_next) {
    if (on_dw_engine(p_d)) {
      p_ab.start_dw(p_layer, fm_words(p_d.in_c), dw_blob_taps(p_d), p_next.dw);
      if (p_after != nullptr && fused(p_d, *p_after)) {
        p_ab.queue_pw(p_layer + 1, fm_words(p_after->in_c), p_next.pw);
      }
    } else {
      p_ab.start_pw(p_layer, fm_words(p_d.in_c), p_next.pw);
    }
  }

  /// Descriptors the engine holds: the layer it runs and the three after it.
  static constexpr unsigned kLookahead = 4;

  /// The engine: p_images images of p_layers layers each.
  template <int t_DescDepth, int t_OutDepth>
  static void engine(uint32_t p_layers, uint32_t p_images, hls::stream<LayerDesc, t_DescDepth>& p_desc,
                     Handoff& p_handoff, BeatStream& p_a, BeatStream& p_b, hls::stream<FmWord, t_OutDepth>& p_out,
                     uint32_t* p_fault) {
    static State l_s;
    l_s.declare();
    Absorb l_ab;
    Halves l_next;  // the halves the next blocks fill
  engine_image_loop:
    for (uint32_t l_n = 0; l_n < p_images; ++l_n) {
#pragma HLS LOOP_TRIPCOUNT max=1
      // Descriptors d[0] (this layer) to d[3]: the blocks absorbed ahead reach three
      // layers on (a fused pair, then the next layer and the one after it).
      LayerDesc l_d[kLookahead];
      for (unsigned l_k = 0; l_k < kLookahead; ++l_k) {
        if (l_k < p_layers) {
          l_d[l_k] = p_desc.read();
        }
      }
      const auto l_after = [&](unsigned p_k, uint32_t p_layer) -> const LayerDesc* {
        return p_layer + p_k < p_layers ? &l_d[p_k] : nullptr;
      };
      absorb_layer(l_ab, 0, l_d[0], l_after(1, 0), l_next);
      SemlLayer l_last = seml_layer(l_d[0]);
      {
        FIBHA_SPAN(seml_handoff, l_n);
        handoff_phase(l_s, l_ab, p_handoff, l_last.in_pixels(), l_last.in_words, p_a, p_b);
      }
      uint32_t l_i = 0;
    engine_layer_loop:
      while (l_i < p_layers) {
#pragma HLS LOOP_TRIPCOUNT max=64
        const SemlLayer l_l = seml_layer(l_d[0]);
        const bool l_fused = l_i + 1 < p_layers && fused(l_d[0], l_d[1]);
        // The pointwise layer this phase runs folds of (the fused one's, or this one).
        const SemlLayer l_pwl = seml_layer(l_fused ? l_d[1] : l_d[0]);
        const uint32_t l_pwIndex = l_fused ? l_i + 1 : l_i;
        const unsigned l_used = l_fused ? 2 : 1;  // layers this step runs
        const uint32_t l_folds = ceil_div(l_pwl.out_words, kPeWords);
        const LayerDesc* const l_then = l_after(l_used, l_i);
        const LayerDesc* const l_thenAfter = l_after(l_used + 1, l_i);
        if (l_l.depthwise) {
          FIBHA_SPAN(seml_layer, l_i);
          const unsigned l_dwCur = l_next.dw;
          l_next.dw ^= 1u;
          if (l_fused) {
            const unsigned l_cur = l_next.pw;
            l_next.pw ^= 1u;
            if (l_folds > 1) {
              l_ab.start_pw(l_pwIndex, l_pwl.in_words, l_next.pw);
            } else if (l_then != nullptr) {
              absorb_layer(l_ab, l_i + 2, *l_then, l_thenAfter, l_next);
            }
            dw_pw_phase(l_s, l_ab, l_l, l_dwCur, l_pwl, l_cur, p_a, p_b);
          } else {
            if (l_then != nullptr) {
              absorb_layer(l_ab, l_i + 1, *l_then, l_thenAfter, l_next);
            }
            dw_layer(l_s, l_ab, l_l, l_dwCur, p_a, p_b);
          }
        }
        if (!l_l.depthwise || l_fused) {
          FIBHA_SPAN(seml_layer, l_pwIndex);
        fold_loop:
          for (uint32_t l_f = l_fused ? 1 : 0; l_f < l_folds; ++l_f) {
#pragma HLS LOOP_TRIPCOUNT max=t_MaxWords
            const unsigned l_cur = l_next.pw;
            l_next.pw ^= 1u;
            if (l_f + 1 < l_folds) {
              l_ab.start_pw(l_pwIndex, l_pwl.in_words, l_next.pw);
            } else if (l_then != nullptr) {
              absorb_layer(l_ab, l_pwIndex + 1, *l_then, l_thenAfter, l_next);
            }
            pw_fold(l_s, l_ab, l_pwl, l_f, l_cur, p_a, p_b);
          }
        }
        l_last = seml_layer(l_d[l_used - 1]);
        // Shift the descriptors by the layers run.
        for (unsigned l_k = 0; l_k < l_used; ++l_k) {
          for (unsigned l_m = 0; l_m + 1 < kLookahead; ++l_m) {
            l_d[l_m] = l_d[l_m + 1];
          }
          if (l_i + l_k + kLookahead < p_layers) {
            l_d[kLookahead - 1] = p_desc.read();
          }
        }
        l_i += l_used;
      }
      {
        FIBHA_SPAN(seml_copy_out, l_n);
        copy_out_phase(l_s, l_last, p_out);
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
