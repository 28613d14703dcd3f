// The top-level kernel of a FiBHA instance: the SESL part (dedicated streaming engines
// with on-chip weights, chained under DATAFLOW) followed by the SEML part (reusable
// engines driven by layer descriptors from the bundle).
//
// The instance comes from fibha_config.hpp, which `fibha-compile build` generates (the
// testbenches use the fixture in tb/configs/demo). It must define, in fibha::config:
//   kPlanHash            uint64_t, the plan's hash (published in the id register)
//   kMaxLayers           uint32_t, the largest layer_count accepted
//   kSeslInH/W/C         SESL input image shape; kSeslInWord its stream word width
//   kSeslOutH/W/C        SESL output shape; kSeslOutWord its stream word width
//   kSeslOutBuf/Off      where the SESL output goes (BufferId and byte offset)
//   SeslWeights          on-chip SESL parameters: kBytes, bool load(bundle, offset)
//   sesl_chain(in, out, weights)   the DATAFLOW chain of SESL engines
//   Seml                 a SemlEngines<...> instantiation
//   FIBHA_CFG_*_DEPTH    macros: m_axi depths (elements) for C/RTL co-simulation
//   kEngines             EngineResources[]: per engine, the multipliers its template
//                        instantiates (kMacsPerCycle) next to what the compiler's model
//                        charged it (the C-simulation kernel prints them with --resources)
//
// The top is a DATAFLOW region of two processes: the run itself and a cycle counter that
// counts every clock cycle until the run signals its end (the cycle register). In C
// simulation the counter reads the timed model's clock instead of counting.
//
// Order of a run (every check happens before any memory is written):
//   mode -> bundle header (magic, version, size) -> plan hash -> [mode.verify: CRC-32 of
//   the bundle, then stop] -> layer count -> SESL section and buffers -> every descriptor
//   -> load SESL weights -> SESL part -> SEML layers.
// Only per-channel multipliers/shifts of SEML layers are checked as they are loaded, so
// a bad one can stop a run after earlier layers wrote their (in-range) outputs.
#include "fibha/top.hpp"

#include <cstdint>

#include "fibha/axi.hpp"
#include "fibha/bundle.hpp"
#include "fibha/latency.hpp"
#include "fibha/regmap.hpp"
#include "fibha/schedule.hpp"
#include "fibha/seml.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"
#include "fibha_config.hpp"

namespace fibha {
namespace {

constexpr uint32_t kSeslInBytes = config::kSeslInH * config::kSeslInW * config::kSeslInC;
constexpr uint32_t kSeslOutBytes = config::kSeslOutH * config::kSeslOutW * config::kSeslOutC;
constexpr uint32_t kSeslInWords = kSeslInBytes / config::kSeslInWord;
constexpr uint32_t kSeslOutWords = kSeslOutBytes / config::kSeslOutWord;
static_assert(kSeslInBytes % config::kSeslInWord == 0, "the SESL input word must divide the image");
static_assert(kSeslOutBytes % config::kSeslOutWord == 0, "the SESL output word must divide its output");
static_assert(config::kSeslOutBuf != BufferId::kInput, "the SESL part cannot write the input buffer");
static_assert(config::kMaxLayers < kNoLayer, "layer indices must fit status.layer");

/// Outcome of a run: a status code and the layer it concerns.
struct Outcome {
  StatusCode code;
  uint32_t layer;
};

constexpr Outcome ok_outcome() { return Outcome{StatusCode::kOk, kNoLayer}; }

/// The status register word: 0 after a good run; else error bit, code and layer.
uint32_t pack_status(const Outcome& p_outcome) {
  if (p_outcome.code == StatusCode::kOk) {
    return 0;
  }
  uint32_t l_word = regmap::status::kError.put(0, 1);
  l_word = regmap::status::kCode.put(l_word, static_cast<uint32_t>(p_outcome.code));
  return regmap::status::kLayer.put(l_word, p_outcome.layer);
}

/// Streams the input image out of DDR in words of kSeslInWord channels: a burst of
/// kSeslInWord int8 beats per word (the port is as wide as its int8_t elements).
void read_image(AxiIn<int8_t> p_src, hls::stream<Vec<config::kSeslInWord>>& p_out) {
#ifndef __SYNTHESIS__
  csim::BurstRead l_burst(p_src.port(), 1, config::kSeslInWord, kSeslInWords);
#endif
  FIBHA_PIPELINED_FOR(read_image_loop, latency::kCopy) (uint32_t l_i = 0; l_i < kSeslInWords; ++l_i) {
    FIBHA_PIPELINE(read_image_loop, 1);
    FIBHA_AXI_ARRIVE(l_burst, l_i);
    Vec<config::kSeslInWord> l_word;
    for (unsigned l_k = 0; l_k < config::kSeslInWord; ++l_k) {
#pragma HLS UNROLL
      l_word.v[l_k] = FIBHA_AXI_RAW(p_src)[l_i * config::kSeslInWord + l_k];
    }
    p_out.write(l_word);
  }
}

/// Writes the SESL output stream to DDR, kSeslOutWord int8 beats per word.
void write_image(hls::stream<Vec<config::kSeslOutWord>>& p_in, AxiOut<int8_t> p_dst) {
#ifndef __SYNTHESIS__
  csim::BurstWrite l_burst(p_dst.port(), 1, config::kSeslOutWord, kSeslOutWords);
#endif
  FIBHA_PIPELINED_FOR(write_image_loop, latency::kCopy) (uint32_t l_i = 0; l_i < kSeslOutWords; ++l_i) {
    FIBHA_PIPELINE(write_image_loop, 1);
    const Vec<config::kSeslOutWord> l_word = p_in.read();
    FIBHA_AXI_SEND(l_burst, l_i);
    for (unsigned l_k = 0; l_k < config::kSeslOutWord; ++l_k) {
#pragma HLS UNROLL
      FIBHA_AXI_RAW(p_dst)[l_i * config::kSeslOutWord + l_k] = l_word.v[l_k];
    }
  }
}

/// The SESL part: DDR -> chain of dedicated engines -> DDR, all stages concurrent.
void sesl_part(AxiIn<int8_t> p_input, AxiOut<int8_t> p_dst, const config::SeslWeights& p_weights) {
  FIBHA_DATAFLOW(sesl_part);
  hls::stream<Vec<config::kSeslInWord>> l_in("sesl.in");
  hls::stream<Vec<config::kSeslOutWord>> l_out("sesl.out");
  FIBHA_PROCESS(sesl_part, "read_image", read_image(p_input, l_in));
  FIBHA_PROCESS(sesl_part, "sesl_chain", config::sesl_chain(l_in, l_out, p_weights));
  FIBHA_PROCESS(sesl_part, "write_image", write_image(l_out, p_dst));
  FIBHA_DATAFLOW_RUN(sesl_part);
}

/// The bundle header checks: size, alignment, magic, version, extent, plan hash.
StatusCode check_bundle(AxiIn<uint32_t> p_bundle, uint32_t p_bundleBytes, regmap::BundleHeader& p_header) {
  if (p_bundleBytes < regmap::kBundleHeaderWords * 4 || p_bundleBytes % 4 != 0) {
    return StatusCode::kBundleHeader;
  }
  p_header = regmap::bundle_header_from_words(p_bundle);
  if (p_header.magic != regmap::kBundleMagic || p_header.version != regmap::kBundleVersion ||
      p_header.reserved != 0 || p_header.total_bytes % 4 != 0 ||
      p_header.total_bytes < regmap::kBundleHeaderWords * 4 || p_header.total_bytes > p_bundleBytes) {
    return StatusCode::kBundleHeader;
  }
  const uint64_t l_hash = (uint64_t{p_header.plan_hash_hi} << 32) | p_header.plan_hash_lo;
  return l_hash == config::kPlanHash ? StatusCode::kOk : StatusCode::kPlanHash;
}

/// Folds one byte into a CRC-32 (IEEE 802.3, reflected, as zlib) register.
uint32_t crc32_byte(uint32_t p_crc, uint32_t p_byte) {
  uint32_t l_crc = p_crc ^ p_byte;
  for (unsigned l_bit = 0; l_bit < 8; ++l_bit) {
#pragma HLS UNROLL
    l_crc = (l_crc >> 1) ^ (0xEDB88320u & (0u - (l_crc & 1u)));
  }
  return l_crc;
}

/// mode.verify: the CRC-32 of the bundle's first total_bytes bytes without the crc32 word,
/// one word per cycle read as one burst, against the header's.
StatusCode verify_bundle(AxiIn<uint32_t> p_bundle, const regmap::BundleHeader& p_header) {
  uint32_t l_crc = 0xFFFFFFFFu;
  const uint32_t l_words = p_header.total_bytes / 4;
#ifndef __SYNTHESIS__
  csim::BurstRead l_burst(p_bundle.port(), 4, l_words);
#endif
  FIBHA_PIPELINED_FOR(crc_loop, latency::kCopy + 4) (uint32_t l_i = 0; l_i < l_words; ++l_i) {
    FIBHA_PIPELINE(crc_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=FIBHA_CFG_BUNDLE_DEPTH
    FIBHA_AXI_ARRIVE(l_burst, l_i);
    const uint32_t l_word = FIBHA_AXI_RAW(p_bundle)[l_i];
    if (l_i != regmap::kBundleCrcWord) {
      for (unsigned l_b = 0; l_b < 4; ++l_b) {
#pragma HLS UNROLL
        l_crc = crc32_byte(l_crc, (l_word >> (8 * l_b)) & 0xFFu);
      }
    }
  }
  return ~l_crc == p_header.crc32 ? StatusCode::kOk : StatusCode::kChecksum;
}

/// Reads descriptor p_index (the table was checked to lie inside the bundle): one single
/// read per word.
LayerDesc read_descriptor(AxiIn<uint32_t> p_bundle, const regmap::BundleHeader& p_header, uint32_t p_index) {
  return regmap::layer_desc_from_words(p_bundle + (p_header.desc_off / 4) + p_index * regmap::kLayerDescWords);
}

Outcome run_checked(AxiIn<int8_t> p_input, AxiOut<int8_t> p_output, AxiIn<uint32_t> p_bundle,
                    AxiOut<int8_t> p_scratch, uint32_t p_inputBytes, uint32_t p_outputBytes, uint32_t p_bundleBytes,
                    uint32_t p_scratchBytes, uint32_t p_layerCount, uint32_t p_mode) {
  if ((p_mode & ~(regmap::mode::kIdentify.mask() | regmap::mode::kVerify.mask())) != 0) {
    return Outcome{StatusCode::kMode, kNoLayer};
  }
  if (regmap::mode::kIdentify.get(p_mode) != 0) {
    return ok_outcome();
  }
  regmap::BundleHeader l_header;
  const StatusCode l_bundle = check_bundle(p_bundle, p_bundleBytes, l_header);
  if (l_bundle != StatusCode::kOk) {
    return Outcome{l_bundle, kNoLayer};
  }
  if (regmap::mode::kVerify.get(p_mode) != 0) {
    return Outcome{verify_bundle(p_bundle, l_header), kNoLayer};
  }
  // From here on the bundle's extent is its own total_bytes (at most bundle_bytes).
  const uint32_t l_bundleBytes = l_header.total_bytes;
  if (p_layerCount != l_header.layer_count || p_layerCount > config::kMaxLayers || l_header.desc_off % 4 != 0 ||
      !region_inside(l_header.desc_off, uint64_t{p_layerCount} * regmap::kLayerDescWords * 4, l_bundleBytes)) {
    return Outcome{StatusCode::kLayerCount, kNoLayer};
  }
  if (l_header.sesl_bytes != config::SeslWeights::kBytes || l_header.sesl_off % 4 != 0 ||
      !region_inside(l_header.sesl_off, l_header.sesl_bytes, l_bundleBytes)) {
    return Outcome{StatusCode::kSeslParams, kNoLayer};
  }
  const FmapPorts l_fm{p_input, p_output, p_scratch, p_inputBytes, p_outputBytes, p_scratchBytes};
  if (p_inputBytes < kSeslInBytes ||
      !region_inside(config::kSeslOutOff, kSeslOutBytes, fm_size(l_fm, static_cast<uint32_t>(config::kSeslOutBuf)))) {
    return Outcome{StatusCode::kSeslBuffers, kNoLayer};
  }
check_loop:
  for (uint32_t l_i = 0; l_i < p_layerCount; ++l_i) {
#pragma HLS LOOP_TRIPCOUNT max=config::kMaxLayers
    const StatusCode l_code =
        config::Seml::check_layer(read_descriptor(p_bundle, l_header, l_i), l_fm, l_bundleBytes);
    if (l_code != StatusCode::kOk) {
      return Outcome{l_code, l_i};
    }
  }
  static config::SeslWeights l_weights;
  {
    FIBHA_SPAN(sesl_weights, 0);
    if (!l_weights.load(p_bundle, l_header.sesl_off)) {
      return Outcome{StatusCode::kSeslParams, kNoLayer};
    }
  }
  const AxiOut<int8_t> l_seslDst =
      (config::kSeslOutBuf == BufferId::kOutput ? p_output : p_scratch) + config::kSeslOutOff;
  {
    FIBHA_SPAN(sesl_part, 0);
    sesl_part(p_input, l_seslDst, l_weights);
  }
layer_loop:
  for (uint32_t l_i = 0; l_i < p_layerCount; ++l_i) {
#pragma HLS LOOP_TRIPCOUNT max=config::kMaxLayers
    FIBHA_SPAN(seml_layer, l_i);
    const StatusCode l_code = config::Seml::run_layer(read_descriptor(p_bundle, l_header, l_i), l_fm, p_bundle);
    if (l_code != StatusCode::kOk) {
      return Outcome{l_code, l_i};
    }
  }
  return ok_outcome();
}

/// The run: every check, the SESL part, the SEML layers; then the status and id, and the
/// end token for the cycle counter.
void run_accelerator(AxiIn<int8_t> p_input, AxiOut<int8_t> p_output, AxiIn<uint32_t> p_bundle,
                     AxiOut<int8_t> p_scratch, uint32_t p_inputBytes, uint32_t p_outputBytes, uint32_t p_bundleBytes,
                     uint32_t p_scratchBytes, uint32_t p_layerCount, uint32_t p_mode, uint64_t* p_id,
                     uint32_t* p_status, hls::stream<uint32_t>& p_done) {
  *p_id = config::kPlanHash;
  const Outcome l_outcome = run_checked(p_input, p_output, p_bundle, p_scratch, p_inputBytes, p_outputBytes,
                                        p_bundleBytes, p_scratchBytes, p_layerCount, p_mode);
  FIBHA_AXI_WRITES_DONE();
  const uint32_t l_status = pack_status(l_outcome);
  *p_status = l_status;
  p_done.write(l_status);
}

/// The cycle register: cycles from the region's start until the run's end token arrives.
/// In hardware a free-running loop at II=1 counts them; the C model reads its clock.
void count_cycles(hls::stream<uint32_t>& p_done, uint64_t* p_cycles) {
#ifdef __SYNTHESIS__
  uint64_t l_cycles = 1;
  uint32_t l_token = 0;
cycle_count_loop:
  while (!p_done.read_nb(l_token)) {
#pragma HLS PIPELINE II=1
    ++l_cycles;
  }
  *p_cycles = l_cycles;
#else
  (void)p_done.read();
  const csim::Process* const l_process = csim::current_process();
  *p_cycles = l_process != nullptr ? l_process->now() : 0;
#endif
}

}  // namespace
}  // namespace fibha

void fibha_top(fibha::AxiIn<int8_t> p_input, fibha::AxiOut<int8_t> p_output, fibha::AxiIn<uint32_t> p_bundle,
               fibha::AxiOut<int8_t> p_scratch, uint32_t p_inputBytes, uint32_t p_outputBytes, uint32_t p_bundleBytes,
               uint32_t p_scratchBytes, uint32_t p_layerCount, uint32_t p_mode, uint64_t* p_id, uint32_t* p_status,
               uint64_t* p_cycles) {
  // Two AXI masters, gmem0 (feature maps) and gmem1 (the bundle): the block design in
  // bitstreams/zcu102 gives each m_axi master gmem<i> its own HP port (hp_ports = 2).
  FIBHA_M_AXI(p_input, gmem0, FIBHA_CFG_INPUT_DEPTH);
  FIBHA_M_AXI(p_output, gmem0, FIBHA_CFG_OUTPUT_DEPTH);
  FIBHA_M_AXI(p_scratch, gmem0, FIBHA_CFG_SCRATCH_DEPTH);
  FIBHA_M_AXI(p_bundle, gmem1, FIBHA_CFG_BUNDLE_DEPTH);
  FIBHA_REGMAP_SAXI_PRAGMAS
  FIBHA_DATAFLOW(fibha_top);
  hls::stream<uint32_t> l_done("done");
  FIBHA_PROCESS(fibha_top, "run",
                fibha::run_accelerator(p_input, p_output, p_bundle, p_scratch, p_inputBytes, p_outputBytes,
                                       p_bundleBytes, p_scratchBytes, p_layerCount, p_mode, p_id, p_status, l_done));
  FIBHA_PROCESS(fibha_top, "cycle_counter", fibha::count_cycles(l_done, p_cycles));
  FIBHA_DATAFLOW_RUN(fibha_top);
}
