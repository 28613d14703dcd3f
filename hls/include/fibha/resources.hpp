// What an instance's engines cost, as the templates instantiate them and as the compiler's
// model charged them: the resource sanity check of a generated configuration.
//
// A generated fibha_config.hpp lists one EngineResources per engine in `kEngines` and
// static_asserts that each template's int8 multipliers per cycle (kMacsPerCycle) equal the
// processing elements the compiler's model charged, and that its DSP slices (one per int8
// multiply-accumulate, kDspPerWideMultiply per 32 x 32-bit multiply of its requantizers
// and ADD rescaling) equal the DSP slices the model charged: a configuration whose
// template and plan disagree does not compile. The C-simulation kernel prints the table
// (`fibha_kernel --resources`).
#ifndef FIBHA_RESOURCES_HPP
#define FIBHA_RESOURCES_HPP

#include <cstdint>

namespace fibha {

/// DSP48E2 slices of one 32 x 32-bit multiply (a requantizer's or an ADD's rescaling): the
/// slice multiplies 27 x 18 bits, so the product takes 2 x 2 partial products, which is
/// how Vitis HLS maps a 32 x 32 multiply on UltraScale+ (AMD UG579, DSP48E2 slice).
constexpr unsigned kDspPerWideMultiply = 4;

/// DSP slices of an engine with p_macs int8 multipliers and p_wide 32 x 32-bit multipliers.
constexpr unsigned engine_dsp(unsigned p_macs, unsigned p_wide) { return p_macs + kDspPerWideMultiply * p_wide; }

/// One engine of an instance.
struct EngineResources {
  const char* name;          ///< the plan's engine name (e.g. "e2.firb", "seml.pw")
  unsigned macs_per_cycle;   ///< int8 multiplies the template instantiates per cycle (kMacsPerCycle)
  unsigned requantizers;     ///< 32 x 32-bit multiplies of its requantizers and ADD rescaling
  unsigned modelled_pes;     ///< processing elements the compiler's model charged (one MAC per cycle each)
  unsigned modelled_dsp;     ///< DSP slices the model charged, requantizers included
  uint64_t plan_cycles;      ///< the compiler's modelled cycles of the engine per image
};

}  // namespace fibha

#endif  // FIBHA_RESOURCES_HPP
