// Resource sanity report: for every engine instance the sources define, the multipliers
// the template instantiates per cycle (PE x SIMD for convolutions, SIMD for depthwise,
// their sum for FIRB), its on-chip buffer bytes and its weight bytes. All figures come
// from the templates' constexprs (modelled, not synthesis results); fibha-compile's DSP
// model is compared against the multiplier column; cycles come from the timed C
// simulation (tb_timing and the kernels' --timing reports). `resource_report --json`
// prints the same as one JSON document.
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
  unsigned multipliers;       ///< multipliers per cycle (MACs, plus ADD rescaling)
  std::string breakdown;      ///< how the multipliers split
  uint64_t buffer_bytes;      ///< on-chip feature-map / tile buffers
  uint64_t weight_bytes;      ///< on-chip weights and per-channel tables (0: streamed from DDR)
};

template <class E>
Row sesl_conv(const char* p_instance, const char* p_engine) {
  return Row{p_instance, p_engine, E::kMacsPerCycle, "PE x SIMD", E::kLineBufferBytes, E::kWeightBytes};
}

template <class E>
Row sesl_dw(const char* p_instance, const char* p_engine) {
  return Row{p_instance, p_engine, E::kMacsPerCycle, "SIMD", E::kLineBufferBytes, E::kWeightBytes};
}

template <class E>
Row sesl_pw(const char* p_instance, const char* p_engine) {
  return Row{p_instance, p_engine, E::kMacsPerCycle, "PE x SIMD", E::kInputBufferBytes, E::kWeightBytes};
}

template <class F>
Row firb(const char* p_instance, const char* p_engine) {
  const std::string l_split = std::string(F::kHasExpand ? "expand + " : "") + "dw + project" +
                              (F::kSkip ? " + add(" + std::to_string(F::kAddMultipliers) + ")" : "");
  return Row{p_instance, p_engine, F::kMacsPerCycle + F::kAddMultipliers, l_split, F::kOnChipBytes, F::kWeightBytes};
}

/// SEML engines keep weight tiles in their buffers (counted in buffer_bytes).
template <class E>
Row seml(const char* p_instance, const char* p_engine, const char* p_breakdown) {
  return Row{p_instance, p_engine, E::kMacsPerCycle, p_breakdown, E::kOnChipBytes, 0};
}

template <class E>
Row seml_add(const char* p_instance, const char* p_engine) {
  return Row{p_instance, p_engine, E::kMultipliersPerCycle, "3 per lane", E::kOnChipBytes, 0};
}

std::vector<Row> rows() {
  namespace c = fibha::config;
  return {
      sesl_conv<inst::MnV2Conv0>("sesl_conv_top", "SeslConv<224,224,3,32,3,2,SAME,3,8>"),
      sesl_dw<inst::MnV2Dw1>("sesl_dw_top", "SeslDw<112,112,32,3,1,SAME,8>"),
      sesl_pw<inst::MnV2Pw1>("sesl_pw_top", "SeslPw<112,112,32,16,8,4>"),
      sesl_conv<inst::ChainConv0>("sesl_chain_top/conv0", "SeslConv<224,224,3,32,3,2,SAME,3,16>"),
      sesl_dw<inst::MnV2Dw1>("sesl_chain_top/dw1", "SeslDw<112,112,32,3,1,SAME,8>"),
      sesl_pw<inst::MnV2Pw1>("sesl_chain_top/pw1", "SeslPw<112,112,32,16,8,4>"),
      firb<inst::FirbB0>("firb_b0_top", "Firb<112,112,32,t1,16,3,1,noskip,8,8,8,8,4>"),
      firb<inst::FirbB1>("firb_b1_top", "Firb<112,112,16,t6,24,3,2,noskip,8,8,8,8,4>"),
      firb<inst::FirbB2>("firb_b2_top", "Firb<56,56,24,t6,24,3,1,skip,8,8,8,8,4>"),
      seml<inst::MnV2SemlConv>("mnv2_seml/conv", "SemlConv<4,224,3,32,2,4,8>", "PE x SIMD"),
      seml<inst::MnV2SemlDw>("mnv2_seml/dw", "SemlDw<112,5,32,4,8>", "SIMD"),
      seml<inst::MnV2SemlPw>("mnv2_seml/pw", "SemlPw<960,32,16,8,8>", "PE x SIMD"),
      seml_add<inst::MnV2SemlAdd>("mnv2_seml/add", "SemlAdd<8>"),
      sesl_conv<c::Conv0>("demo/conv0", "SeslConv<16,16,3,8,3,2,SAME,3,4>"),
      firb<c::Firb1>("demo/firb1", "Firb<8,8,8,t1,8,3,1,skip,4,4,4,4,4>"),
      firb<c::Firb2>("demo/firb2", "Firb<8,8,8,t4,12,5,2,noskip,4,8,8,8,4>"),
  };
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
      std::printf("  {\"instance\": \"%s\", \"engine\": \"%s\", \"multipliers_per_cycle\": %u, \"breakdown\": \"%s\", "
                  "\"buffer_bytes\": %llu, \"weight_bytes\": %llu}%s\n",
                  l_r.instance.c_str(), l_r.engine.c_str(), l_r.multipliers, l_r.breakdown.c_str(),
                  static_cast<unsigned long long>(l_r.buffer_bytes), static_cast<unsigned long long>(l_r.weight_bytes), l_i + 1 < l_rows.size() ? "," : "");
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("%-22s %-44s %5s %-31s %9s %9s\n", "instance", "engine", "mult", "multipliers", "buffer B",
              "weight B");
  for (const Row& l_r : l_rows) {
    std::printf("%-22s %-44s %5u %-31s %9llu %9llu\n", l_r.instance.c_str(), l_r.engine.c_str(), l_r.multipliers,
                l_r.breakdown.c_str(), static_cast<unsigned long long>(l_r.buffer_bytes),
                static_cast<unsigned long long>(l_r.weight_bytes));
  }
  std::printf("(modelled from the templates' constexprs; SEML buffer bytes include their weight tiles)\n");
  return 0;
}
