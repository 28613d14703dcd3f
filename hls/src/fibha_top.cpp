// The top-level kernel of a FiBHA instance: the SESL part (dedicated streaming engines
// with on-chip weights, chained under DATAFLOW) and the SEML part (the reusable engines
// of fibha/seml.hpp driven by layer descriptors from the bundle), running concurrently on
// consecutive images: while the SEML part computes image n, the SESL part computes image
// n + 1 and leaves it in the hand-off FIFO.
//
// The instance comes from fibha_config.hpp, which `fibha-compile build` generates (the
// testbenches use the fixture in tb/configs/demo). It must define, in fibha::config:
//   kPlanHash            uint64_t, the plan's hash (published in the id register)
//   kMaxLayers           uint32_t, the largest layer_count accepted (0: no SEML part)
//   kSeslInH/W/C         the input image; kSeslInWord the first engine's input word
//   kSeslOutH/W/C        the SESL part's output (the hand-off); kSeslOutWord its word
//   SeslWeights          on-chip SESL parameters: kBlobBeats, bool load(bundle, beat)
//   sesl_chain(in, out, weights, images)   the DATAFLOW chain of SESL engines
//   Seml                 a SemlPart<...> instantiation (the SEML part)
//   FIBHA_CFG_*_DEPTH    macros: m_axi depths (elements) for C/RTL co-simulation
//   kAxi*, kDdrBytesPerCycle       the board's memory system (for the timed C simulation)
//   kEngines             EngineResources[]: per engine, the multipliers its template
//                        instantiates next to what the compiler's model charged it
//
// The top is a DATAFLOW region of two processes: the run itself and a cycle counter that
// counts every clock cycle until the run signals its end (the cycle register). In C
// simulation the counter reads the timed model's clock instead of counting.
//
// Order of a run (every check happens before any memory is written):
//   mode -> bundle header (magic, version, size) -> plan hash -> [mode.verify: CRC-32 of
//   the bundle, then stop] -> layer count, sections, image count and buffers -> every
//   descriptor and the chain between them -> SESL weights (unless still on chip from the
//   last call with this bundle) -> SESL and SEML parts.
// Per-channel multipliers and shifts of SEML layers are checked as they are absorbed; a
// bad one makes the run end with status quant after the images were computed.
#include "fibha/top.hpp"

#include <cstdint>

#include "fibha/axi.hpp"
#include "fibha/latency.hpp"
#include "fibha/params.hpp"
#include "fibha/regmap.hpp"
#include "fibha/repack.hpp"
#include "fibha/schedule.hpp"
#include "fibha/seml.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"
#include "fibha_config.hpp"

namespace fibha {
namespace {

constexpr uint32_t kInBytes = config::kSeslInH * config::kSeslInW * config::kSeslInC;
constexpr uint32_t kHandoffBytes = config::kSeslOutH * config::kSeslOutW * config::kSeslOutC;
constexpr uint32_t kInBeats = kInBytes / kBeatBytes;
constexpr uint32_t kSeslBytes = config::SeslWeights::kBlobBeats * kBeatBytes;
constexpr bool kHasSeml = config::kMaxLayers > 0;
static_assert(kInBytes % kBeatBytes == 0, "the input image is read in whole 16-byte beats");
static_assert(kHasSeml || kHandoffBytes % kBeatBytes == 0, "the output is written in whole 16-byte beats");
static_assert(config::kMaxLayers < kNoLayer, "layer indices must fit status.layer");

/// The input image: 16-byte beats to the first engine's words.
using ImageRepack = Repack<1, kInBytes, kBeatBytes, config::kSeslInWord>;
/// The SESL part's output as the SEML part's 16-channel words (pixel by pixel).
using HandoffRepack = Repack<config::kSeslOutH * config::kSeslOutW, config::kSeslOutC, config::kSeslOutWord, kFmLanes>;
/// Without an SEML part: the SESL part's output as 16-byte output beats.
using OutputRepack = Repack<1, kHandoffBytes, config::kSeslOutWord, kBeatBytes>;
constexpr uint32_t kHandoffWords = config::kSeslOutH * config::kSeslOutW * fm_words(config::kSeslOutC);
using Handoff = typename config::Seml::Handoff;
static_assert(!kHasSeml || config::Seml::kHandoffWords == kHandoffWords,
              "the hand-off FIFO holds the SESL part's whole output map");

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

/// The SESL part on p_images images: DDR -> repack -> chain -> p_out, all stages
/// concurrent, the images one after another through every stage (so image n + 1 enters
/// the first engines while image n drains from the last ones).
/// \tparam t_Repack the SESL output's repacking into p_out's words
template <class t_Repack, class t_Out>
void sesl_images(AxiIn<BundleBeat> p_input, uint32_t p_images, const config::SeslWeights& p_weights, t_Out& p_out) {
  FIBHA_DATAFLOW(sesl_part);
  hls::stream<BundleBeat> l_beats("sesl.image_beats");
  hls::stream<Vec<config::kSeslInWord>> l_in("sesl.in");
  hls::stream<Vec<config::kSeslOutWord>> l_out("sesl.out");
  FIBHA_PROCESS(sesl_part, "read_images",
                axi::burst_read<kInBeats * kStreamImages>(p_input, 0, p_images * kInBeats, l_beats));
  FIBHA_PROCESS(sesl_part, "unpack_images", ImageRepack::run(l_beats, l_in, p_images));
  FIBHA_PROCESS(sesl_part, "sesl_chain", config::sesl_chain(l_in, l_out, p_weights, p_images));
  FIBHA_PROCESS(sesl_part, "pack_output", t_Repack::run(l_out, p_out, p_images));
  FIBHA_DATAFLOW_RUN(sesl_part);
}

/// The SESL part: p_images images into the hand-off FIFO.
void sesl_part(AxiIn<BundleBeat> p_input, uint32_t p_images, const config::SeslWeights& p_weights, Handoff& p_out) {
  FIBHA_SPAN(sesl_part, 0);
  sesl_images<HandoffRepack>(p_input, p_images, p_weights, p_out);
}

/// Without an SEML part: the SESL part's outputs straight to DDR.
void sesl_only(AxiIn<BundleBeat> p_input, uint32_t p_images, const config::SeslWeights& p_weights,
               AxiOut<BundleBeat> p_output) {
  constexpr uint32_t kOutBeats = kHandoffBytes / kBeatBytes;
  FIBHA_SPAN(sesl_part, 0);
  FIBHA_DATAFLOW(sesl_only);
  hls::stream<BundleBeat> l_beats("sesl.output_beats");
  FIBHA_PROCESS(sesl_only, "sesl", sesl_images<OutputRepack>(p_input, p_images, p_weights, l_beats));
  FIBHA_PROCESS(sesl_only, "write_output",
                axi::burst_write<kOutBeats * kStreamImages>(l_beats, p_output, 0, p_images * kOutBeats));
  FIBHA_DATAFLOW_RUN(sesl_only);
}

/// The two parts on p_images images, concurrently; *p_fault as Seml::run leaves it.
template <bool t_Seml>
struct Accelerate {
  static void run(AxiIn<BundleBeat> p_input, AxiOut<BundleBeat> p_output, AxiIn<BundleBeat> p_bundle,
                  AxiIn<BundleBeat> p_paramsA, AxiIn<BundleBeat> p_paramsB, uint32_t p_descBeat, uint32_t p_layers,
                  uint32_t p_images, uint32_t p_outWords, const config::SeslWeights& p_weights, uint32_t* p_fault) {
    FIBHA_DATAFLOW(accelerate);
    Handoff l_handoff("handoff");
#pragma HLS BIND_STORAGE variable=l_handoff type=fifo impl=bram
    FIBHA_PROCESS(accelerate, "sesl_part", sesl_part(p_input, p_images, p_weights, l_handoff));
    FIBHA_PROCESS(accelerate, "seml_part",
                  config::Seml::run(p_bundle, p_paramsA, p_paramsB, p_descBeat, p_layers, p_images, l_handoff,
                                    p_output, p_outWords, p_fault));
    FIBHA_DATAFLOW_RUN(accelerate);
  }
};

/// An instance without an SEML part: the SESL part alone.
template <>
struct Accelerate<false> {
  static void run(AxiIn<BundleBeat> p_input, AxiOut<BundleBeat> p_output, AxiIn<BundleBeat>, AxiIn<BundleBeat>,
                  AxiIn<BundleBeat>, uint32_t, uint32_t, uint32_t p_images, uint32_t,
                  const config::SeslWeights& p_weights, uint32_t* p_fault) {
    sesl_only(p_input, p_images, p_weights, p_output);
    *p_fault = 0;
  }
};

/// The bundle header checks: size, alignment, magic, version, extent, plan hash.
StatusCode check_bundle(AxiIn<BundleBeat> p_bundle, uint32_t p_bundleBytes, regmap::BundleHeader& p_header) {
  if (p_bundleBytes < regmap::kBundleHeaderWords * 4 || p_bundleBytes % kBeatBytes != 0) {
    return StatusCode::kBundleHeader;
  }
  uint32_t l_words[regmap::kBundleHeaderWords];
  read_words<regmap::kBundleHeaderWords>(p_bundle, 0, l_words);
  p_header = regmap::bundle_header_from_words(l_words);
  if (p_header.magic != regmap::kBundleMagic || p_header.version != regmap::kBundleVersion ||
      p_header.reserved != 0 || p_header.total_bytes % kBeatBytes != 0 ||
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
/// one 32-bit word per cycle (a beat every four), read as one burst, against the header's.
StatusCode verify_bundle(AxiIn<BundleBeat> p_bundle, const regmap::BundleHeader& p_header) {
  uint32_t l_crc = 0xFFFFFFFFu;
  const uint32_t l_words = p_header.total_bytes / 4;
#ifndef __SYNTHESIS__
  csim::BurstRead l_burst(p_bundle.port(), kBeatBytes, l_words / 4);
#endif
  BundleBeat l_beat = {};
  FIBHA_PIPELINED_FOR(crc_loop, latency::kCopy + 4) (uint32_t l_i = 0; l_i < l_words; ++l_i) {
    FIBHA_PIPELINE(crc_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=FIBHA_CFG_BUNDLE_DEPTH * 4
    if (l_i % 4 == 0) {
      FIBHA_AXI_ARRIVE(l_burst, l_i / 4);
      l_beat = FIBHA_AXI_RAW(p_bundle)[l_i / 4];
    }
    if (l_i != regmap::kBundleCrcWord) {
      for (unsigned l_b = 0; l_b < 4; ++l_b) {
#pragma HLS UNROLL
        l_crc = crc32_byte(l_crc, static_cast<uint8_t>(l_beat.v[4 * (l_i % 4) + l_b]));
      }
    }
  }
  return ~l_crc == p_header.crc32 ? StatusCode::kOk : StatusCode::kChecksum;
}

/// Reads descriptor p_index (the table was checked to lie inside the bundle): one burst
/// of eight beats.
LayerDesc read_descriptor(AxiIn<BundleBeat> p_bundle, const regmap::BundleHeader& p_header, uint32_t p_index) {
  uint32_t l_words[regmap::kLayerDescWords];
  read_words<regmap::kLayerDescWords>(p_bundle, p_header.desc_off / kBeatBytes + p_index * (regmap::kLayerDescWords / 4),
                                      l_words);
  return regmap::layer_desc_from_words(l_words);
}

/// The sections, image count and buffer sizes.
Outcome check_run(const regmap::BundleHeader& p_header, uint32_t p_inputBytes, uint32_t p_outputBytes,
                  uint32_t p_imageCount, uint32_t p_layerCount) {
  const uint32_t l_total = p_header.total_bytes;
  if (p_layerCount != p_header.layer_count || p_layerCount > config::kMaxLayers || (kHasSeml && p_layerCount == 0) ||
      p_header.desc_off % kBeatBytes != 0 ||
      !region_inside(p_header.desc_off, uint64_t{p_layerCount} * regmap::kLayerDescWords * 4, l_total)) {
    return Outcome{StatusCode::kLayerCount, kNoLayer};
  }
  if (p_header.sesl_bytes != kSeslBytes || p_header.sesl_off % kBeatBytes != 0 ||
      !region_inside(p_header.sesl_off, p_header.sesl_bytes, l_total)) {
    return Outcome{StatusCode::kSeslParams, kNoLayer};
  }
  if (p_header.input_bytes != kInBytes || p_header.handoff_bytes != kHandoffBytes) {
    return Outcome{StatusCode::kSeslBuffers, kNoLayer};
  }
  if (p_header.params_off % kBeatBytes != 0 || p_header.params_bytes % kBeatBytes != 0 ||
      !region_inside(p_header.params_off, p_header.params_bytes, l_total)) {
    return Outcome{StatusCode::kParamRange, kNoLayer};
  }
  if (p_imageCount == 0 || uint64_t{p_imageCount} * kInBytes > p_inputBytes) {
    return Outcome{StatusCode::kImageCount, kNoLayer};
  }
  if (p_header.output_bytes == 0 || p_header.output_bytes % kBeatBytes != 0 ||
      uint64_t{p_imageCount} * p_header.output_bytes > p_outputBytes ||
      (!kHasSeml && p_header.output_bytes != kHandoffBytes)) {
    return Outcome{StatusCode::kOutputRange, kNoLayer};
  }
  return ok_outcome();
}

/// Every descriptor, and the chain between them.
Outcome check_program(AxiIn<BundleBeat> p_bundle, const regmap::BundleHeader& p_header, uint32_t p_layerCount) {
  typename config::Seml::ProgramCheck l_chain;
  l_chain.start(config::kSeslOutH, config::kSeslOutW, config::kSeslOutC);
  const uint32_t l_first = p_header.params_off / kBeatBytes;
  const uint32_t l_end = l_first + p_header.params_bytes / kBeatBytes;
check_loop:
  for (uint32_t l_i = 0; l_i < p_layerCount; ++l_i) {
#pragma HLS LOOP_TRIPCOUNT max=config::kMaxLayers
    const LayerDesc l_d = read_descriptor(p_bundle, p_header, l_i);
    StatusCode l_code = config::Seml::check_layer(l_d, l_first, l_end);
    if (l_code == StatusCode::kOk) {
      l_code = l_chain.next(l_d);
    }
    if (l_code != StatusCode::kOk) {
      return Outcome{l_code, l_i};
    }
  }
  if (p_layerCount > 0 && !l_chain.finish(p_header.output_bytes)) {
    return Outcome{StatusCode::kOutputRange, p_layerCount - 1};
  }
  return ok_outcome();
}

Outcome run_checked(AxiIn<BundleBeat> p_input, AxiOut<BundleBeat> p_output, AxiIn<BundleBeat> p_bundle,
                    AxiIn<BundleBeat> p_paramsA, AxiIn<BundleBeat> p_paramsB, uint32_t p_inputBytes,
                    uint32_t p_outputBytes, uint32_t p_bundleBytes, uint32_t p_imageCount, uint32_t p_layerCount,
                    uint32_t p_mode) {
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
  const Outcome l_run = check_run(l_header, p_inputBytes, p_outputBytes, p_imageCount, p_layerCount);
  if (l_run.code != StatusCode::kOk) {
    return l_run;
  }
  const Outcome l_program = check_program(p_bundle, l_header, p_layerCount);
  if (l_program.code != StatusCode::kOk) {
    return l_program;
  }
  // The SESL weights stay on chip between calls: loaded again only for another bundle (its
  // CRC-32 and size identify it; the host checked the CRC against the contents).
  static config::SeslWeights l_weights;
  static bool l_loaded = false;
  static uint32_t l_loadedCrc = 0;
  static uint32_t l_loadedBytes = 0;
  if (!l_loaded || l_loadedCrc != l_header.crc32 || l_loadedBytes != l_header.total_bytes) {
    FIBHA_SPAN(sesl_weights, 0);
    uint32_t l_beat = l_header.sesl_off / kBeatBytes;
    l_loaded = l_weights.load(p_bundle, l_beat);
    l_loadedCrc = l_header.crc32;
    l_loadedBytes = l_header.total_bytes;
    if (!l_loaded) {
      return Outcome{StatusCode::kSeslParams, kNoLayer};
    }
  }
  uint32_t l_fault = 0;
  Accelerate<kHasSeml>::run(p_input, p_output, p_bundle, p_paramsA, p_paramsB, l_header.desc_off / kBeatBytes, p_layerCount,
             p_imageCount, l_header.output_bytes / kBeatBytes, l_weights, &l_fault);
  if (l_fault != 0) {
    return Outcome{StatusCode::kQuant, l_fault - 1};
  }
  return ok_outcome();
}

/// The run: every check, the two parts; then the status and id, and the end token for the
/// cycle counter.
void run_accelerator(AxiIn<BundleBeat> p_input, AxiOut<BundleBeat> p_output, AxiIn<BundleBeat> p_bundle,
                     AxiIn<BundleBeat> p_paramsA, AxiIn<BundleBeat> p_paramsB, uint32_t p_inputBytes,
                     uint32_t p_outputBytes, uint32_t p_bundleBytes, uint32_t p_imageCount, uint32_t p_layerCount,
                     uint32_t p_mode, uint64_t* p_id, uint32_t* p_status, hls::stream<uint32_t>& p_done) {
  *p_id = config::kPlanHash;
  const Outcome l_outcome = run_checked(p_input, p_output, p_bundle, p_paramsA, p_paramsB, p_inputBytes,
                                        p_outputBytes, p_bundleBytes, p_imageCount, p_layerCount, p_mode);
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

void fibha_top(fibha::AxiIn<fibha::BundleBeat> p_input, fibha::AxiOut<fibha::BundleBeat> p_output,
               fibha::AxiIn<fibha::BundleBeat> p_bundle, fibha::AxiIn<fibha::BundleBeat> p_paramsA,
               fibha::AxiIn<fibha::BundleBeat> p_paramsB, uint32_t p_inputBytes, uint32_t p_outputBytes,
               uint32_t p_bundleBytes, uint32_t p_imageCount, uint32_t p_layerCount, uint32_t p_mode, uint64_t* p_id,
               uint32_t* p_status, uint64_t* p_cycles) {
  // Four AXI masters, each on its own HP port (bitstreams/zcu102, hp_ports = 4): gmem0 the
  // images, gmem1 the bundle's header, descriptors and SESL weights, gmem2 and gmem3 the
  // two halves of the SEML parameter stream.
  FIBHA_M_AXI(p_input, gmem0, FIBHA_CFG_INPUT_DEPTH);
  FIBHA_M_AXI(p_output, gmem0, FIBHA_CFG_OUTPUT_DEPTH);
  FIBHA_M_AXI(p_bundle, gmem1, FIBHA_CFG_BUNDLE_DEPTH);
  FIBHA_M_AXI(p_paramsA, gmem2, FIBHA_CFG_BUNDLE_DEPTH);
  FIBHA_M_AXI(p_paramsB, gmem3, FIBHA_CFG_BUNDLE_DEPTH);
  FIBHA_REGMAP_SAXI_PRAGMAS
  FIBHA_DATAFLOW(fibha_top);
  hls::stream<uint32_t> l_done("done");
  FIBHA_PROCESS(fibha_top, "run",
                fibha::run_accelerator(p_input, p_output, p_bundle, p_paramsA, p_paramsB, p_inputBytes, p_outputBytes,
                                       p_bundleBytes, p_imageCount, p_layerCount, p_mode, p_id, p_status, l_done));
  FIBHA_PROCESS(fibha_top, "cycle_counter", fibha::count_cycles(l_done, p_cycles));
  FIBHA_DATAFLOW_RUN(fibha_top);
}
