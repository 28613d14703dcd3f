// SEML engines: reusable standard-conv, depthwise, pointwise and ADD engines that run any
// layer a descriptor describes, within the maximums their tiles were built for.
//
// Feature maps and parameters live in DDR and are reached through AXI masters (m_axi
// pointers in the top level; plain pointers in C simulation): three feature-map buffers
// (input, output, scratch, chosen per descriptor by buffer id) and the device bundle
// (32-bit words: descriptors, per-channel tables, int8 weights packed little-endian).
// Each engine copies a tile of weights and a tile of the input into on-chip arrays sized
// by its template parameters, computes with PE x SIMD parallelism, and writes results
// straight back.
//
// Safety invariant: an engine touches memory only after check_layer() accepted the
// descriptor against the engine's maximums and the byte sizes of the buffers it was
// given; every index an engine forms is then inside its on-chip arrays and inside those
// buffers (all bound arithmetic is done in 64 bits, so no wrap-around can sneak past).
// Per-channel multipliers and shifts are checked as they are loaded; a bad one stops the
// layer with StatusCode::kQuant before any output of the tile is written.
//
// Arithmetic is TFLite's (fibha/arith.hpp): the engines agree byte for byte with the
// SESL engines and the reference kernels.
#ifndef FIBHA_SEML_HPP
#define FIBHA_SEML_HPP

#include <cstdint>

#include "fibha/arith.hpp"
#include "fibha/axi.hpp"
#include "fibha/latency.hpp"
#include "fibha/window.hpp"
#include "fibha/regmap.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"

namespace fibha {

using regmap::BufferId;
using regmap::LayerDesc;
using regmap::LayerKind;
using regmap::StatusCode;

/// The three feature-map buffers the SEML engines may address, with their sizes.
struct FmapPorts {
  AxiIn<int8_t> input;     ///< read-only input buffer
  AxiOut<int8_t> output;   ///< output buffer
  AxiOut<int8_t> scratch;  ///< scratch buffer
  uint32_t input_bytes;    ///< size of input
  uint32_t output_bytes;   ///< size of output
  uint32_t scratch_bytes;  ///< size of scratch
};

/// Size of buffer p_id, 0 for an unknown id.
inline uint32_t fm_size(const FmapPorts& p_fm, uint32_t p_id) {
  switch (static_cast<BufferId>(p_id)) {
    case BufferId::kInput:
      return p_fm.input_bytes;
    case BufferId::kOutput:
      return p_fm.output_bytes;
    case BufferId::kScratch:
      return p_fm.scratch_bytes;
  }
  return 0;
}

/// One byte of buffer p_id (validated offset).
inline int8_t fm_load(const FmapPorts& p_fm, uint32_t p_id, uint32_t p_off) {
  switch (static_cast<BufferId>(p_id)) {
    case BufferId::kInput:
      return p_fm.input[p_off];
    case BufferId::kOutput:
      return p_fm.output[p_off];
    case BufferId::kScratch:
      return p_fm.scratch[p_off];
  }
  return 0;
}

/// Writes one byte of buffer p_id (validated offset; the input buffer is never written).
inline void fm_store(const FmapPorts& p_fm, uint32_t p_id, uint32_t p_off, int8_t p_value) {
  if (p_id == static_cast<uint32_t>(BufferId::kOutput)) {
    p_fm.output[p_off] = p_value;
  } else if (p_id == static_cast<uint32_t>(BufferId::kScratch)) {
    p_fm.scratch[p_off] = p_value;
  }
}

/// Byte p_off of the bundle (bytes are packed little-endian into 32-bit words).
inline int8_t bundle_byte(AxiIn<uint32_t> p_bundle, uint32_t p_off) {
  return static_cast<int8_t>(static_cast<uint8_t>(p_bundle[p_off >> 2] >> (8 * (p_off & 3))));
}

/// The 4-aligned word at byte offset p_off of the bundle.
inline int32_t bundle_word(AxiIn<uint32_t> p_bundle, uint32_t p_off) {
  return static_cast<int32_t>(p_bundle[p_off >> 2]);
}

/// True when [p_off, p_off + p_bytes) lies inside a buffer of p_size bytes.
inline bool region_inside(uint64_t p_off, uint64_t p_bytes, uint64_t p_size) {
  return p_off <= p_size && p_bytes <= p_size - p_off;
}

/// True when two regions of the same buffer share a byte.
inline bool regions_overlap(uint32_t p_bufA, uint64_t p_offA, uint64_t p_bytesA, uint32_t p_bufB, uint64_t p_offB,
                            uint64_t p_bytesB) {
  return p_bufA == p_bufB && p_bytesA != 0 && p_bytesB != 0 && p_offA < p_offB + p_bytesB &&
         p_offB < p_offA + p_bytesA;
}

/// The conv-like scalars of a descriptor.
inline QuantParams desc_quant(const LayerDesc& p_d) {
  return QuantParams{p_d.in_zp, p_d.out_zp, p_d.act_min, p_d.act_max};
}

/// The ADD scalars of a descriptor (a = input/input1, b = input2).
inline AddParams desc_add(const LayerDesc& p_d) {
  AddParams l_p;
  l_p.a_zp = p_d.in_zp;
  l_p.a_mult = p_d.in1_mult;
  l_p.a_shift = p_d.in1_shift;
  l_p.b_zp = p_d.in2_zp;
  l_p.b_mult = p_d.in2_mult;
  l_p.b_shift = p_d.in2_shift;
  l_p.left_shift = p_d.left_shift;
  l_p.out_mult = p_d.out_mult;
  l_p.out_shift = p_d.out_shift;
  l_p.out_zp = p_d.out_zp;
  l_p.act_min = p_d.act_min;
  l_p.act_max = p_d.act_max;
  return l_p;
}

/// Loads p_count per-channel entries (bias, multiplier, shift) from channel p_first on,
/// rejecting pairs TFLite cannot produce. Counts one pipelined iteration per channel.
/// \tparam t_Tile entries the on-chip table holds (p_count <= t_Tile)
template <unsigned t_Tile>
StatusCode load_channel_quant(AxiIn<uint32_t> p_bundle, const LayerDesc& p_d, uint32_t p_first, uint32_t p_count,
                              int32_t p_cq[kChannelQuantRows][t_Tile]) {
  StatusCode l_status = StatusCode::kOk;
  FIBHA_PIPELINED_FOR(quant_load_loop, latency::kCopy) (uint32_t l_i = 0; l_i < p_count; ++l_i) {
    FIBHA_PIPELINE(quant_load_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_Tile
    const uint32_t l_byte = 4 * (p_first + l_i);
    const int32_t l_mult = bundle_word(p_bundle, p_d.mult_off + l_byte);
    const int32_t l_shift = bundle_word(p_bundle, p_d.shift_off + l_byte);
    if (!channel_quant_valid(l_mult, l_shift)) {
      l_status = StatusCode::kQuant;
    }
    p_cq[kBiasRow][l_i] = bundle_word(p_bundle, p_d.bias_off + l_byte);
    p_cq[kMultRow][l_i] = l_mult;
    p_cq[kShiftRow][l_i] = channel_quant_valid(l_mult, l_shift) ? l_shift : 0;
  }
  return l_status;
}

/// Number of t_Step-sized groups covering p_n (ceil division).
inline uint32_t groups_of(uint32_t p_n, uint32_t p_step) { return (p_n + p_step - 1) / p_step; }

/// Size of the tile that starts at p_start of p_total items cut into tiles of t_Tile.
template <unsigned t_Tile>
inline uint32_t tile_len(uint32_t p_total, uint32_t p_start) {
  return p_total - p_start < t_Tile ? p_total - p_start : t_Tile;
}

/// First input row (may be negative: top padding) of the band whose first output row is p_oy0.
inline int32_t band_row0(const LayerDesc& p_d, uint32_t p_oy0) {
  return static_cast<int32_t>(p_oy0 * p_d.stride) - static_cast<int32_t>(p_d.pad_top);
}

/// Input rows a band of p_rows output rows reads.
inline uint32_t band_rows(const LayerDesc& p_d, uint32_t p_rows) { return (p_rows - 1) * p_d.stride + p_d.kernel; }

/// Starts t_N accumulators of group p_group with their channels' biases (0 past p_n).
template <unsigned t_N, unsigned t_Tile>
inline void init_group(int32_t p_acc[t_N], const int32_t p_cq[kChannelQuantRows][t_Tile], uint32_t p_group,
                       uint32_t p_n) {
#pragma HLS INLINE
  for (unsigned l_i = 0; l_i < t_N; ++l_i) {
#pragma HLS UNROLL
    const uint32_t l_ch = p_group * t_N + l_i;
    p_acc[l_i] = l_ch < p_n ? p_cq[kBiasRow][l_ch] : 0;
  }
}

/// Requantizes group p_group's t_N accumulators (channels past p_n are dropped) and stores
/// channel ch of the tile at byte p_base + ch of the output buffer.
template <unsigned t_N, unsigned t_Tile>
inline void store_group(const FmapPorts& p_fm, const LayerDesc& p_d, const int32_t p_acc[t_N],
                        const int32_t p_cq[kChannelQuantRows][t_Tile], const QuantParams& p_q, uint32_t p_group,
                        uint32_t p_n, uint32_t p_base) {
#pragma HLS INLINE
  for (unsigned l_i = 0; l_i < t_N; ++l_i) {
    const uint32_t l_ch = p_group * t_N + l_i;
    if (l_ch < p_n) {
      const int8_t l_y = requantize(p_acc[l_i], p_cq[kMultRow][l_ch], p_cq[kShiftRow][l_ch], p_q);
      fm_store(p_fm, p_d.out_buf, p_base + l_ch, l_y);
    }
  }
}

/// Loads a band of input rows [p_row0, p_row0 + p_rows) (rows outside the image become
/// the zero point) of channels [p_c0, p_c0 + p_nc) into p_band[row][x][c].
/// \tparam t_Rows band rows the buffer holds (p_rows <= t_Rows)
/// \tparam t_MaxW columns the buffer holds (in_w <= t_MaxW)
/// \tparam t_MaxC channels the buffer holds (p_nc <= t_MaxC)
template <unsigned t_Rows, unsigned t_MaxW, unsigned t_MaxC>
void load_band(const FmapPorts& p_fm, const LayerDesc& p_d, int32_t p_row0, uint32_t p_rows, uint32_t p_c0,
               uint32_t p_nc, int8_t p_band[t_Rows][t_MaxW][t_MaxC]) {
band_row_loop:
  for (uint32_t l_r = 0; l_r < p_rows; ++l_r) {
#pragma HLS LOOP_TRIPCOUNT max=t_Rows
    const int32_t l_iy = p_row0 + static_cast<int32_t>(l_r);
    const bool l_inside = l_iy >= 0 && l_iy < static_cast<int32_t>(p_d.in_h);
  band_pixel_loop:
    for (uint32_t l_x = 0; l_x < p_d.in_w; ++l_x) {
#pragma HLS LOOP_TRIPCOUNT max=t_MaxW
      FIBHA_PIPELINED_FOR(band_channel_loop, latency::kCopy) (uint32_t l_c = 0; l_c < p_nc; ++l_c) {
        FIBHA_PIPELINE(band_channel_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_MaxC
        const uint32_t l_off =
            p_d.in_off + (static_cast<uint32_t>(l_iy) * p_d.in_w + l_x) * p_d.in_c + p_c0 + l_c;
        p_band[l_r][l_x][l_c] = l_inside ? fm_load(p_fm, p_d.in_buf, l_off) : static_cast<int8_t>(p_d.in_zp);
      }
    }
  }
}

/// Walks the output rows of a windowed layer (conv or depthwise) in bands of t_TileRows:
/// loads each band's input rows (channels p_bandC0 .. p_bandC0 + p_bandNc - 1) and has
/// t_Engine::compute_pixel compute every output pixel of the band for the tile's
/// channels p_c0 .. p_c0 + p_nc - 1 from weights p_w and tables p_cq.
template <class t_Engine, unsigned t_BandRows, unsigned t_MaxW, unsigned t_BandC, unsigned t_TileRows, class t_W,
          class t_Cq>
inline void run_bands(const LayerDesc& p_d, const FmapPorts& p_fm, int8_t p_band[t_BandRows][t_MaxW][t_BandC],
                      const t_W& p_w, const t_Cq& p_cq, const QuantParams& p_q, uint32_t p_bandC0, uint32_t p_bandNc,
                      uint32_t p_c0, uint32_t p_nc) {
#pragma HLS INLINE
row_band_loop:
  for (uint32_t l_oy0 = 0; l_oy0 < p_d.out_h; l_oy0 += t_TileRows) {
    const uint32_t l_rows = tile_len<t_TileRows>(p_d.out_h, l_oy0);
    load_band<t_BandRows, t_MaxW, t_BandC>(p_fm, p_d, band_row0(p_d, l_oy0), band_rows(p_d, l_rows), p_bandC0,
                                           p_bandNc, p_band);
  band_out_row_loop:
    for (uint32_t l_r = 0; l_r < l_rows; ++l_r) {
#pragma HLS LOOP_TRIPCOUNT max=t_TileRows
    band_out_col_loop:
      for (uint32_t l_ox = 0; l_ox < p_d.out_w; ++l_ox) {
#pragma HLS LOOP_TRIPCOUNT max=t_MaxW
        t_Engine::compute_pixel(p_d, p_fm, p_band, p_w, p_cq, p_q, p_c0, p_nc, l_r, l_oy0 + l_r, l_ox);
      }
    }
  }
}

/// Checks every descriptor fact that does not depend on an engine's maximums: magic,
/// reserved words, kind, geometry, buffer ids and ranges, parameter ranges, quantization
/// scalars. Touches no memory.
inline StatusCode check_descriptor(const LayerDesc& p_d, const FmapPorts& p_fm, uint32_t p_bundleBytes) {
  if (p_d.magic != regmap::kDescMagic || p_d.reserved0 != 0 || p_d.reserved1 != 0) {
    return StatusCode::kDescMagic;
  }
  const LayerKind l_kind = static_cast<LayerKind>(p_d.kind);
  if (l_kind != LayerKind::kConv && l_kind != LayerKind::kDepthwise && l_kind != LayerKind::kPointwise &&
      l_kind != LayerKind::kAdd) {
    return StatusCode::kLayerKind;
  }
  // Geometry.
  if (p_d.in_h == 0 || p_d.in_w == 0 || p_d.in_c == 0 || p_d.out_h == 0 || p_d.out_w == 0 || p_d.out_c == 0) {
    return StatusCode::kGeometry;
  }
  const bool l_windowed = l_kind == LayerKind::kConv || l_kind == LayerKind::kDepthwise;
  if (l_windowed) {
    if (p_d.kernel == 0 || p_d.stride == 0 || p_d.stride > 2 || p_d.pad_top >= p_d.kernel ||
        p_d.pad_left >= p_d.kernel) {
      return StatusCode::kGeometry;
    }
    // The last window must start inside the padded input (rows and columns).
    if (uint64_t{p_d.out_h - 1} * p_d.stride > uint64_t{p_d.in_h} - 1 + p_d.pad_top ||
        uint64_t{p_d.out_w - 1} * p_d.stride > uint64_t{p_d.in_w} - 1 + p_d.pad_left) {
      return StatusCode::kGeometry;
    }
  } else if (p_d.kernel != 1 || p_d.stride != 1 || p_d.pad_top != 0 || p_d.pad_left != 0 ||
             p_d.out_h != p_d.in_h || p_d.out_w != p_d.in_w) {
    return StatusCode::kGeometry;
  }
  if ((l_kind == LayerKind::kDepthwise || l_kind == LayerKind::kAdd) && p_d.in_c != p_d.out_c) {
    return StatusCode::kGeometry;
  }
  // Buffers.
  const bool l_twoInputs = l_kind == LayerKind::kAdd;
  const uint32_t l_lastId = static_cast<uint32_t>(BufferId::kScratch);
  if (p_d.in_buf > l_lastId || (l_twoInputs && p_d.in2_buf > l_lastId) ||
      (p_d.out_buf != static_cast<uint32_t>(BufferId::kOutput) &&
       p_d.out_buf != static_cast<uint32_t>(BufferId::kScratch))) {
    return StatusCode::kBufferId;
  }
  const uint64_t l_inBytes = uint64_t{p_d.in_h} * p_d.in_w * p_d.in_c;
  const uint64_t l_outBytes = uint64_t{p_d.out_h} * p_d.out_w * p_d.out_c;
  if (!region_inside(p_d.in_off, l_inBytes, fm_size(p_fm, p_d.in_buf)) ||
      (l_twoInputs && !region_inside(p_d.in2_off, l_inBytes, fm_size(p_fm, p_d.in2_buf)))) {
    return StatusCode::kInputRange;
  }
  if (!region_inside(p_d.out_off, l_outBytes, fm_size(p_fm, p_d.out_buf))) {
    return StatusCode::kOutputRange;
  }
  if (regions_overlap(p_d.out_buf, p_d.out_off, l_outBytes, p_d.in_buf, p_d.in_off, l_inBytes) ||
      (l_twoInputs && regions_overlap(p_d.out_buf, p_d.out_off, l_outBytes, p_d.in2_buf, p_d.in2_off, l_inBytes))) {
    return StatusCode::kOverlap;
  }
  // Parameters in the bundle.
  if (l_kind == LayerKind::kAdd) {
    return add_params_valid(desc_add(p_d)) ? StatusCode::kOk : StatusCode::kQuant;
  }
  const uint64_t l_k2 = uint64_t{p_d.kernel} * p_d.kernel;
  const uint64_t l_weightBytes = l_kind == LayerKind::kConv        ? uint64_t{p_d.out_c} * l_k2 * p_d.in_c
                                 : l_kind == LayerKind::kDepthwise ? l_k2 * p_d.out_c
                                                                   : uint64_t{p_d.out_c} * p_d.in_c;
  const uint64_t l_tableBytes = uint64_t{p_d.out_c} * 4;
  const bool l_aligned = (p_d.bias_off & 3) == 0 && (p_d.mult_off & 3) == 0 && (p_d.shift_off & 3) == 0;
  if (!l_aligned || !region_inside(p_d.weight_off, l_weightBytes, p_bundleBytes) ||
      !region_inside(p_d.bias_off, l_tableBytes, p_bundleBytes) ||
      !region_inside(p_d.mult_off, l_tableBytes, p_bundleBytes) ||
      !region_inside(p_d.shift_off, l_tableBytes, p_bundleBytes)) {
    return StatusCode::kParamRange;
  }
  return quant_params_valid(desc_quant(p_d)) ? StatusCode::kOk : StatusCode::kQuant;
}

/// Reusable pointwise engine.
/// \tparam t_MaxC    largest input channel count (the weight and input tile depth)
/// \tparam t_TileOc  output channels per weight tile
/// \tparam t_TilePix pixels per input tile
/// \tparam t_Simd    input channels multiplied per cycle (divides t_MaxC)
/// \tparam t_Pe      output channels computed per cycle (divides t_TileOc)
template <unsigned t_MaxC, unsigned t_TileOc, unsigned t_TilePix, unsigned t_Simd, unsigned t_Pe>
struct SemlPw {
  static_assert(t_MaxC % t_Simd == 0, "t_Simd must divide t_MaxC");
  static_assert(t_TileOc % t_Pe == 0, "t_Pe must divide t_TileOc");
  static_assert(t_TilePix > 0, "empty pixel tile");

  static constexpr unsigned kMacsPerCycle = t_Pe * t_Simd;
  static constexpr unsigned kWeightTileBytes = t_TileOc * t_MaxC;
  static constexpr unsigned kInputTileBytes = t_TilePix * t_MaxC;
  static constexpr unsigned kOnChipBytes = kWeightTileBytes + kInputTileBytes + t_TileOc * kChannelQuantRows * 4;

  /// Engine maximums (the generic descriptor checks come first).
  static StatusCode check(const LayerDesc& p_d) {
    return p_d.in_c <= t_MaxC ? StatusCode::kOk : StatusCode::kEngineLimit;
  }

  /// Runs one validated descriptor.
  static StatusCode run(const LayerDesc& p_d, const FmapPorts& p_fm, AxiIn<uint32_t> p_bundle) {
    int8_t l_w[t_TileOc][t_MaxC];
#pragma HLS ARRAY_PARTITION variable=l_w type=cyclic factor=t_Pe dim=1
#pragma HLS ARRAY_PARTITION variable=l_w type=cyclic factor=t_Simd dim=2
    int32_t l_cq[kChannelQuantRows][t_TileOc];
#pragma HLS ARRAY_PARTITION variable=l_cq type=complete dim=1
#pragma HLS ARRAY_PARTITION variable=l_cq type=cyclic factor=t_Pe dim=2
    int8_t l_in[t_TilePix][t_MaxC];
#pragma HLS ARRAY_PARTITION variable=l_in type=cyclic factor=t_Simd dim=2
    const QuantParams l_q = desc_quant(p_d);
    const uint32_t l_pixels = p_d.in_h * p_d.in_w;

  oc_tile_loop:
    for (uint32_t l_oc0 = 0; l_oc0 < p_d.out_c; l_oc0 += t_TileOc) {
      const uint32_t l_noc = tile_len<t_TileOc>(p_d.out_c, l_oc0);
    weight_load_loop:
      for (uint32_t l_o = 0; l_o < l_noc; ++l_o) {
#pragma HLS LOOP_TRIPCOUNT max=t_TileOc
        FIBHA_PIPELINED_FOR(weight_copy_loop, latency::kCopy) (uint32_t l_c = 0; l_c < p_d.in_c; ++l_c) {
          FIBHA_PIPELINE(weight_copy_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_MaxC
          l_w[l_o][l_c] = bundle_byte(p_bundle, p_d.weight_off + (l_oc0 + l_o) * p_d.in_c + l_c);
        }
      }
      const StatusCode l_status = load_channel_quant<t_TileOc>(p_bundle, p_d, l_oc0, l_noc, l_cq);
      if (l_status != StatusCode::kOk) {
        return l_status;
      }
    pixel_tile_loop:
      for (uint32_t l_p0 = 0; l_p0 < l_pixels; l_p0 += t_TilePix) {
        const uint32_t l_np = tile_len<t_TilePix>(l_pixels, l_p0);
      input_load_loop:
        for (uint32_t l_p = 0; l_p < l_np; ++l_p) {
#pragma HLS LOOP_TRIPCOUNT max=t_TilePix
          FIBHA_PIPELINED_FOR(input_copy_loop, latency::kCopy) (uint32_t l_c = 0; l_c < p_d.in_c; ++l_c) {
            FIBHA_PIPELINE(input_copy_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_MaxC
            l_in[l_p][l_c] = fm_load(p_fm, p_d.in_buf, p_d.in_off + (l_p0 + l_p) * p_d.in_c + l_c);
          }
        }
      compute_pixel_loop:
        for (uint32_t l_p = 0; l_p < l_np; ++l_p) {
#pragma HLS LOOP_TRIPCOUNT max=t_TilePix
          compute_pixel(p_d, p_fm, l_w, l_cq, l_in[l_p], l_q, l_oc0, l_noc, l_p0 + l_p);
        }
      }
    }
    return StatusCode::kOk;
  }

 private:
  static void compute_pixel(const LayerDesc& p_d, const FmapPorts& p_fm, const int8_t p_w[t_TileOc][t_MaxC],
                            const int32_t p_cq[kChannelQuantRows][t_TileOc], const int8_t p_x[t_MaxC],
                            const QuantParams& p_q, uint32_t p_oc0, uint32_t p_noc, uint32_t p_pixel) {
  fold_loop:
    for (uint32_t l_ob = 0; l_ob < groups_of(p_noc, t_Pe); ++l_ob) {
#pragma HLS LOOP_TRIPCOUNT max=t_TileOc / t_Pe
      int32_t l_acc[t_Pe];
#pragma HLS ARRAY_PARTITION variable=l_acc type=complete
      init_group<t_Pe, t_TileOc>(l_acc, p_cq, l_ob, p_noc);
      FIBHA_PIPELINED_FOR(mac_loop, latency::mac(t_Simd)) (uint32_t l_cb = 0; l_cb < groups_of(p_d.in_c, t_Simd); ++l_cb) {
        FIBHA_PIPELINE(mac_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_MaxC / t_Simd
        for (unsigned l_pe = 0; l_pe < t_Pe; ++l_pe) {
#pragma HLS UNROLL
          for (unsigned l_s = 0; l_s < t_Simd; ++l_s) {
#pragma HLS UNROLL
            const uint32_t l_c = l_cb * t_Simd + l_s;
            const uint32_t l_o = l_ob * t_Pe + l_pe;
            if (l_c < p_d.in_c && l_o < p_noc) {
              l_acc[l_pe] = wrap_add(l_acc[l_pe], mac_term(p_x[l_c], p_q.in_zp, p_w[l_o][l_c]));
            }
          }
        }
      }
      store_group<t_Pe, t_TileOc>(p_fm, p_d, l_acc, p_cq, p_q, l_ob, p_noc, p_d.out_off + p_pixel * p_d.out_c + p_oc0);
    }
  }
};

/// Reusable depthwise engine (depth multiplier 1, stride 1 or 2).
/// \tparam t_MaxW     widest input row
/// \tparam t_MaxK     largest kernel
/// \tparam t_TileC    channels per tile
/// \tparam t_TileRows output rows per band
/// \tparam t_Simd     channels computed per cycle (divides t_TileC)
template <unsigned t_MaxW, unsigned t_MaxK, unsigned t_TileC, unsigned t_TileRows, unsigned t_Simd>
struct SemlDw {
  static_assert(t_TileC % t_Simd == 0, "t_Simd must divide t_TileC");
  static_assert(t_MaxW > 0 && t_MaxK > 0 && t_TileRows > 0, "empty tile");

  static constexpr unsigned kMaxStride = 2;
  /// Input rows a band of t_TileRows output rows needs at the largest stride and kernel.
  static constexpr unsigned kBandRows = (t_TileRows - 1) * kMaxStride + t_MaxK;
  static constexpr unsigned kMacsPerCycle = t_Simd;
  static constexpr unsigned kBandBytes = kBandRows * t_MaxW * t_TileC;
  static constexpr unsigned kOnChipBytes = kBandBytes + t_MaxK * t_MaxK * t_TileC + t_TileC * kChannelQuantRows * 4;

  static StatusCode check(const LayerDesc& p_d) {
    return p_d.in_w <= t_MaxW && p_d.kernel <= t_MaxK ? StatusCode::kOk : StatusCode::kEngineLimit;
  }

  static StatusCode run(const LayerDesc& p_d, const FmapPorts& p_fm, AxiIn<uint32_t> p_bundle) {
    int8_t l_band[kBandRows][t_MaxW][t_TileC];
#pragma HLS ARRAY_PARTITION variable=l_band type=cyclic factor=t_Simd dim=3
    int8_t l_w[t_MaxK * t_MaxK][t_TileC];
#pragma HLS ARRAY_PARTITION variable=l_w type=cyclic factor=t_Simd dim=2
    int32_t l_cq[kChannelQuantRows][t_TileC];
#pragma HLS ARRAY_PARTITION variable=l_cq type=complete dim=1
#pragma HLS ARRAY_PARTITION variable=l_cq type=cyclic factor=t_Simd dim=2
    const QuantParams l_q = desc_quant(p_d);
    const uint32_t l_taps = p_d.kernel * p_d.kernel;

  channel_tile_loop:
    for (uint32_t l_c0 = 0; l_c0 < p_d.in_c; l_c0 += t_TileC) {
      const uint32_t l_nc = tile_len<t_TileC>(p_d.in_c, l_c0);
    weight_load_loop:
      for (uint32_t l_t = 0; l_t < l_taps; ++l_t) {
#pragma HLS LOOP_TRIPCOUNT max=t_MaxK * t_MaxK
        FIBHA_PIPELINED_FOR(weight_copy_loop, latency::kCopy) (uint32_t l_c = 0; l_c < l_nc; ++l_c) {
          FIBHA_PIPELINE(weight_copy_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_TileC
          l_w[l_t][l_c] = bundle_byte(p_bundle, p_d.weight_off + l_t * p_d.in_c + l_c0 + l_c);
        }
      }
      const StatusCode l_status = load_channel_quant<t_TileC>(p_bundle, p_d, l_c0, l_nc, l_cq);
      if (l_status != StatusCode::kOk) {
        return l_status;
      }
      run_bands<SemlDw, kBandRows, t_MaxW, t_TileC, t_TileRows>(p_d, p_fm, l_band, l_w, l_cq, l_q, l_c0, l_nc, l_c0,
                                                                l_nc);
    }
    return StatusCode::kOk;
  }

  /// One output pixel for the channel tile p_c0 .. p_c0 + p_nc - 1 (run_bands' step).
  static void compute_pixel(const LayerDesc& p_d, const FmapPorts& p_fm, const int8_t p_band[kBandRows][t_MaxW][t_TileC],
                            const int8_t p_w[t_MaxK * t_MaxK][t_TileC], const int32_t p_cq[kChannelQuantRows][t_TileC],
                            const QuantParams& p_q, uint32_t p_c0, uint32_t p_nc, uint32_t p_bandRow, uint32_t p_oy,
                            uint32_t p_ox) {
  group_loop:
    for (uint32_t l_cb = 0; l_cb < groups_of(p_nc, t_Simd); ++l_cb) {
#pragma HLS LOOP_TRIPCOUNT max=t_TileC / t_Simd
      int32_t l_acc[t_Simd];
#pragma HLS ARRAY_PARTITION variable=l_acc type=complete
      init_group<t_Simd, t_TileC>(l_acc, p_cq, l_cb, p_nc);
      FIBHA_PIPELINED_FOR(tap_loop, latency::mac(1)) (uint32_t l_t = 0; l_t < p_d.kernel * p_d.kernel; ++l_t) {
        FIBHA_PIPELINE(tap_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_MaxK * t_MaxK
        const uint32_t l_ky = l_t / p_d.kernel;
        const uint32_t l_kx = l_t % p_d.kernel;
        const int32_t l_ix = static_cast<int32_t>(p_ox * p_d.stride + l_kx) - static_cast<int32_t>(p_d.pad_left);
        const bool l_inside = l_ix >= 0 && l_ix < static_cast<int32_t>(p_d.in_w);
        for (unsigned l_s = 0; l_s < t_Simd; ++l_s) {
#pragma HLS UNROLL
          const uint32_t l_c = l_cb * t_Simd + l_s;
          if (l_inside && l_c < p_nc) {
            const int8_t l_x = p_band[p_bandRow * p_d.stride + l_ky][l_ix][l_c];
            l_acc[l_s] = wrap_add(l_acc[l_s], mac_term(l_x, p_q.in_zp, p_w[l_t][l_c]));
          }
        }
      }
      store_group<t_Simd, t_TileC>(p_fm, p_d, l_acc, p_cq, p_q, l_cb, p_nc,
                                   p_d.out_off + (p_oy * p_d.out_w + p_ox) * p_d.out_c + p_c0);
    }
  }
};

/// Reusable standard-convolution engine (stride 1 or 2).
/// \tparam t_MaxInC   largest input channel count
/// \tparam t_MaxW     widest input row
/// \tparam t_MaxK     largest kernel
/// \tparam t_TileOc   output channels per weight tile
/// \tparam t_TileRows output rows per band
/// \tparam t_Simd     input channels multiplied per cycle (divides t_MaxInC)
/// \tparam t_Pe       output channels computed per cycle (divides t_TileOc)
template <unsigned t_MaxInC, unsigned t_MaxW, unsigned t_MaxK, unsigned t_TileOc, unsigned t_TileRows,
          unsigned t_Simd, unsigned t_Pe>
struct SemlConv {
  static_assert(t_MaxInC % t_Simd == 0, "t_Simd must divide t_MaxInC");
  static_assert(t_TileOc % t_Pe == 0, "t_Pe must divide t_TileOc");
  static_assert(t_MaxW > 0 && t_MaxK > 0 && t_TileRows > 0, "empty tile");

  static constexpr unsigned kMaxStride = 2;
  static constexpr unsigned kBandRows = (t_TileRows - 1) * kMaxStride + t_MaxK;
  static constexpr unsigned kMacsPerCycle = t_Pe * t_Simd;
  static constexpr unsigned kBandBytes = kBandRows * t_MaxW * t_MaxInC;
  static constexpr unsigned kWeightTileBytes = t_TileOc * t_MaxK * t_MaxK * t_MaxInC;
  static constexpr unsigned kOnChipBytes = kBandBytes + kWeightTileBytes + t_TileOc * kChannelQuantRows * 4;

  static StatusCode check(const LayerDesc& p_d) {
    return p_d.in_c <= t_MaxInC && p_d.in_w <= t_MaxW && p_d.kernel <= t_MaxK ? StatusCode::kOk
                                                                               : StatusCode::kEngineLimit;
  }

  static StatusCode run(const LayerDesc& p_d, const FmapPorts& p_fm, AxiIn<uint32_t> p_bundle) {
    int8_t l_band[kBandRows][t_MaxW][t_MaxInC];
#pragma HLS ARRAY_PARTITION variable=l_band type=cyclic factor=t_Simd dim=3
    int8_t l_w[t_TileOc][t_MaxK * t_MaxK][t_MaxInC];
#pragma HLS ARRAY_PARTITION variable=l_w type=cyclic factor=t_Pe dim=1
#pragma HLS ARRAY_PARTITION variable=l_w type=cyclic factor=t_Simd dim=3
    int32_t l_cq[kChannelQuantRows][t_TileOc];
#pragma HLS ARRAY_PARTITION variable=l_cq type=complete dim=1
#pragma HLS ARRAY_PARTITION variable=l_cq type=cyclic factor=t_Pe dim=2
    const QuantParams l_q = desc_quant(p_d);
    const uint32_t l_taps = p_d.kernel * p_d.kernel;

  oc_tile_loop:
    for (uint32_t l_oc0 = 0; l_oc0 < p_d.out_c; l_oc0 += t_TileOc) {
      const uint32_t l_noc = tile_len<t_TileOc>(p_d.out_c, l_oc0);
    weight_load_loop:
      for (uint32_t l_o = 0; l_o < l_noc; ++l_o) {
#pragma HLS LOOP_TRIPCOUNT max=t_TileOc
        for (uint32_t l_t = 0; l_t < l_taps; ++l_t) {
#pragma HLS LOOP_TRIPCOUNT max=t_MaxK * t_MaxK
          FIBHA_PIPELINED_FOR(weight_copy_loop, latency::kCopy) (uint32_t l_c = 0; l_c < p_d.in_c; ++l_c) {
            FIBHA_PIPELINE(weight_copy_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_MaxInC
            l_w[l_o][l_t][l_c] = bundle_byte(p_bundle, p_d.weight_off + ((l_oc0 + l_o) * l_taps + l_t) * p_d.in_c + l_c);
          }
        }
      }
      const StatusCode l_status = load_channel_quant<t_TileOc>(p_bundle, p_d, l_oc0, l_noc, l_cq);
      if (l_status != StatusCode::kOk) {
        return l_status;
      }
      run_bands<SemlConv, kBandRows, t_MaxW, t_MaxInC, t_TileRows>(p_d, p_fm, l_band, l_w, l_cq, l_q, 0, p_d.in_c,
                                                                   l_oc0, l_noc);
    }
    return StatusCode::kOk;
  }

  /// One output pixel for the output-channel tile p_oc0 .. p_oc0 + p_noc - 1 (run_bands' step).
  static void compute_pixel(const LayerDesc& p_d, const FmapPorts& p_fm,
                            const int8_t p_band[kBandRows][t_MaxW][t_MaxInC],
                            const int8_t p_w[t_TileOc][t_MaxK * t_MaxK][t_MaxInC],
                            const int32_t p_cq[kChannelQuantRows][t_TileOc], const QuantParams& p_q, uint32_t p_oc0,
                            uint32_t p_noc, uint32_t p_bandRow, uint32_t p_oy, uint32_t p_ox) {
    const uint32_t l_groups = groups_of(p_d.in_c, t_Simd);
  fold_loop:
    for (uint32_t l_ob = 0; l_ob < groups_of(p_noc, t_Pe); ++l_ob) {
#pragma HLS LOOP_TRIPCOUNT max=t_TileOc / t_Pe
      int32_t l_acc[t_Pe];
#pragma HLS ARRAY_PARTITION variable=l_acc type=complete
      init_group<t_Pe, t_TileOc>(l_acc, p_cq, l_ob, p_noc);
      FIBHA_PIPELINED_FOR(mac_loop, latency::mac(t_Simd)) (uint32_t l_i = 0; l_i < p_d.kernel * p_d.kernel * l_groups; ++l_i) {
        FIBHA_PIPELINE(mac_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_MaxK * t_MaxK * t_MaxInC / t_Simd
        const uint32_t l_t = l_i / l_groups;
        const uint32_t l_cb = l_i % l_groups;
        const uint32_t l_ky = l_t / p_d.kernel;
        const uint32_t l_kx = l_t % p_d.kernel;
        const int32_t l_ix = static_cast<int32_t>(p_ox * p_d.stride + l_kx) - static_cast<int32_t>(p_d.pad_left);
        const bool l_inside = l_ix >= 0 && l_ix < static_cast<int32_t>(p_d.in_w);
        for (unsigned l_pe = 0; l_pe < t_Pe; ++l_pe) {
#pragma HLS UNROLL
          for (unsigned l_s = 0; l_s < t_Simd; ++l_s) {
#pragma HLS UNROLL
            const uint32_t l_c = l_cb * t_Simd + l_s;
            const uint32_t l_o = l_ob * t_Pe + l_pe;
            if (l_inside && l_c < p_d.in_c && l_o < p_noc) {
              const int8_t l_x = p_band[p_bandRow * p_d.stride + l_ky][l_ix][l_c];
              l_acc[l_pe] = wrap_add(l_acc[l_pe], mac_term(l_x, p_q.in_zp, p_w[l_o][l_t][l_c]));
            }
          }
        }
      }
      store_group<t_Pe, t_TileOc>(p_fm, p_d, l_acc, p_cq, p_q, l_ob, p_noc,
                                  p_d.out_off + (p_oy * p_d.out_w + p_ox) * p_d.out_c + p_oc0);
    }
  }
};

/// Element-wise ADD engine (TFLite int8 ADD; no on-chip feature-map buffer).
/// \tparam t_Simd elements per cycle
template <unsigned t_Simd>
struct SemlAdd {
  static_assert(t_Simd > 0, "at least one lane");

  static constexpr unsigned kMacsPerCycle = 0;
  /// Multipliers per cycle: each lane rescales two inputs and the sum.
  static constexpr unsigned kMultipliersPerCycle = 3 * t_Simd;
  static constexpr unsigned kOnChipBytes = 0;

  static StatusCode check(const LayerDesc&) { return StatusCode::kOk; }

  static StatusCode run(const LayerDesc& p_d, const FmapPorts& p_fm, AxiIn<uint32_t>) {
    const AddParams l_p = desc_add(p_d);
    const uint32_t l_n = p_d.in_h * p_d.in_w * p_d.in_c;
    FIBHA_PIPELINED_FOR(add_loop, latency::kAddRequantize + latency::kCopy) (uint32_t l_i0 = 0; l_i0 < l_n; l_i0 += t_Simd) {
      FIBHA_PIPELINE(add_loop, 1);
      for (unsigned l_s = 0; l_s < t_Simd; ++l_s) {
#pragma HLS UNROLL
        const uint32_t l_i = l_i0 + l_s;
        if (l_i < l_n) {
          const int8_t l_a = fm_load(p_fm, p_d.in_buf, p_d.in_off + l_i);
          const int8_t l_b = fm_load(p_fm, p_d.in2_buf, p_d.in2_off + l_i);
          fm_store(p_fm, p_d.out_buf, p_d.out_off + l_i, add_requantize(l_a, l_b, l_p));
        }
      }
    }
    return StatusCode::kOk;
  }
};

/// The engine of a layer kind the plan does not run on the SEML part: it instantiates no
/// hardware and refuses every descriptor of its kind (StatusCode::kEngineLimit).
struct SemlAbsent {
  static constexpr unsigned kMacsPerCycle = 0;
  static constexpr unsigned kOnChipBytes = 0;

  static StatusCode check(const LayerDesc&) { return StatusCode::kEngineLimit; }

  static StatusCode run(const LayerDesc&, const FmapPorts&, AxiIn<uint32_t>) {
    return StatusCode::kEngineLimit;
  }
};

/// The SEML part of an instance: one engine per layer kind.
/// \tparam t_Conv a SemlConv (or SemlAbsent)
/// \tparam t_Dw   a SemlDw (or SemlAbsent)
/// \tparam t_Pw   a SemlPw (or SemlAbsent)
/// \tparam t_Add  a SemlAdd (or SemlAbsent)
template <class t_Conv, class t_Dw, class t_Pw, class t_Add>
struct SemlEngines {
  /// Generic checks, then the maximums of the engine the kind selects.
  static StatusCode check_layer(const LayerDesc& p_d, const FmapPorts& p_fm, uint32_t p_bundleBytes) {
    const StatusCode l_generic = check_descriptor(p_d, p_fm, p_bundleBytes);
    if (l_generic != StatusCode::kOk) {
      return l_generic;
    }
    switch (static_cast<LayerKind>(p_d.kind)) {
      case LayerKind::kConv:
        return t_Conv::check(p_d);
      case LayerKind::kDepthwise:
        return t_Dw::check(p_d);
      case LayerKind::kPointwise:
        return t_Pw::check(p_d);
      case LayerKind::kAdd:
        return t_Add::check(p_d);
    }
    return StatusCode::kLayerKind;
  }

  /// Runs one descriptor that check_layer() accepted.
  static StatusCode run_layer(const LayerDesc& p_d, const FmapPorts& p_fm, AxiIn<uint32_t> p_bundle) {
    switch (static_cast<LayerKind>(p_d.kind)) {
      case LayerKind::kConv:
        return t_Conv::run(p_d, p_fm, p_bundle);
      case LayerKind::kDepthwise:
        return t_Dw::run(p_d, p_fm, p_bundle);
      case LayerKind::kPointwise:
        return t_Pw::run(p_d, p_fm, p_bundle);
      case LayerKind::kAdd:
        return t_Add::run(p_d, p_fm, p_bundle);
    }
    return StatusCode::kLayerKind;
  }
};

}  // namespace fibha

#endif  // FIBHA_SEML_HPP
