// Resource sanity report: for every engine instance the sources define, the int8
// multipliers the template instantiates per cycle, its requantizers' 32 x 32-bit
// multipliers, the DSP slices they make, its on-chip buffer bytes and its weight bytes.
// All figures come from the templates' constexprs (modelled, not synthesis results);
// cycles come from the timed C simulation (the testbenches and the kernels' --timing
// reports). `resource_report --json` prints the same as one JSON document.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "fibha_config.hpp"
#include "instances.hpp"

namespace {

using namespace fibha;

/// One line of the report.
struct Row {
  std::string instance;
  std::string engine;
  unsigned macs;              ///< int8 multipliers per cycle
  unsigned requantizers;      ///< 32 x 32-bit multipliers (requantizers, ADD rescaling)
  uint64_t buffer_bytes;      ///< on-chip feature-map buffers
  uint64_t weight_bytes;      ///< on-chip weights and per-channel tables
  unsigned dsp() const { return engine_dsp(macs, requantizers); }
};

template <class E>
Row sesl(const char* p_instance, const char* p_engine, uint64_t p_buffer) {
  return Row{p_instance, p_engine, E::kMacsPerCycle, E::kRequantizers, p_buffer, E::kWeightBytes};
}

template <class F>
Row firb(const char* p_instance, const char* p_engine) {
  return Row{p_instance, p_engine, F::kMacsPerCycle, F::kRequantizers, F::kOnChipBytes, F::kWeightBytes};
}

/// An SEML part as its two engines; the feature maps are charged to the pointwise one,
/// the weight tiles (double-buffered) and tables to each.
template <class S>
std::vector<Row> seml(const std::string& p_instance) {
  const uint64_t l_pwTiles = 2ull * S::kPe * S::kMaxCf * kFmLanes + 2ull * 3 * 4 * S::kPe;
  const uint64_t l_dwTiles = uint64_t{S::kDwGroups} * S::kKd * kFmLanes * 25 + 3ull * 4 * S::kMaxChannels;
  return {Row{p_instance + "/pw", "SemlPart pointwise", S::kPwMacsPerCycle, S::kPwRequantizers, S::kFmBytes, l_pwTiles},
          Row{p_instance + "/dw", "SemlPart depthwise", S::kDwMacsPerCycle, S::kDwRequantizers, 0, l_dwTiles}};
}

std::vector<Row> rows() {
  namespace c = fibha::config;
  std::vector<Row> l_rows = {
      sesl<inst::MnV2Conv0>("sesl_conv_top", "SeslConv<224,224,3,32,3,2,SAME,3,8>", inst::MnV2Conv0::kLineBufferBytes),
      sesl<inst::MnV2Dw1>("sesl_dw_top", "SeslDw<112,112,32,3,1,SAME,8>", inst::MnV2Dw1::kLineBufferBytes),
      sesl<inst::MnV2Pw1>("sesl_pw_top", "SeslPw<112,112,32,16,8,4>", inst::MnV2Pw1::kInputBufferBytes),
      firb<inst::FirbB0>("firb_b0_top", "Firb<112,112,32,t1,16,3,1,noskip,8,8,8,8,4>"),
      firb<inst::FirbB1>("firb_b1_top", "Firb<112,112,16,t6,24,3,2,noskip,8,8,8,8,4>"),
      firb<inst::FirbB2>("firb_b2_top", "Firb<56,56,24,t6,24,3,1,skip,8,8,8,8,4>"),
      sesl<c::Conv0>("demo/conv0", "SeslConv<16,16,3,8,3,2,SAME,3,4>", c::Conv0::kLineBufferBytes),
      firb<c::Firb1>("demo/firb1", "Firb<8,8,8,t1,8,3,1,skip,4,4,4,4,4>"),
      firb<c::Firb2>("demo/firb2", "Firb<8,8,8,t4,12,5,2,noskip,4,8,8,8,4>"),
  };
  for (const Row& l_r : seml<inst::MnV2Seml>("mnv2_seml")) {
    l_rows.push_back(l_r);
  }
  for (const Row& l_r : seml<c::Seml>("demo/seml")) {
    l_rows.push_back(l_r);
  }
  return l_rows;
}

}  // namespace

int main(int p_argc, char** p_argv) {
  const bool l_json = p_argc == 2 && std::strcmp(p_argv[1], "--json") == 0;
  if (p_argc > 1 && !l_json) {
    std::fprintf(stderr, "usage: %s [--json]\n", p_argv[0]);
    return 2;
  }
  const std::vector<Row> l_rows = rows();
  if (l_json) {
    std::printf("{\"modelled\": true, \"engines\": [\n");
    for (size_t l_i = 0; l_i < l_rows.size(); ++l_i) {
      const Row& l_r = l_rows[l_i];
      std::printf("  {\"instance\": \"%s\", \"engine\": \"%s\", \"macs_per_cycle\": %u, \"requantizers\": %u, "
                  "\"dsp\": %u, \"buffer_bytes\": %llu, \"weight_bytes\": %llu}%s\n",
                  l_r.instance.c_str(), l_r.engine.c_str(), l_r.macs, l_r.requantizers, l_r.dsp(),
                  static_cast<unsigned long long>(l_r.buffer_bytes), static_cast<unsigned long long>(l_r.weight_bytes),
                  l_i + 1 < l_rows.size() ? "," : "");
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("%-22s %-44s %6s %6s %6s %10s %10s\n", "instance", "engine", "MACs", "requant", "DSP", "buffer B",
              "weight B");
  for (const Row& l_r : l_rows) {
    std::printf("%-22s %-44s %6u %6u %6u %10llu %10llu\n", l_r.instance.c_str(), l_r.engine.c_str(), l_r.macs,
                l_r.requantizers, l_r.dsp(), static_cast<unsigned long long>(l_r.buffer_bytes),
                static_cast<unsigned long long>(l_r.weight_bytes));
  }
  std::printf("(modelled from the templates' constexprs: DSP = MACs + %u per 32 x 32-bit multiply)\n",
              kDspPerWideMultiply);
  return 0;
}
