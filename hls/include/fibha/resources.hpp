// What an instance's engines cost, as the templates instantiate them and as the compiler's
// model charged them: the resource sanity check of a generated configuration.
//
// A generated fibha_config.hpp lists one EngineResources per engine in `kEngines` and
// static_asserts that the multipliers each template instantiates per cycle (its
// kMacsPerCycle) equal the processing elements the compiler's model charged it, so a
// configuration whose template and plan disagree does not compile. The C-simulation
// kernel prints the table (`fibha_kernel --resources`). Requantization multipliers (one
// 32 x 32 bit product per output lane) and an ADD's three rescaling products per lane are
// counted by neither side: both count int8 multiply-accumulates.
#ifndef FIBHA_RESOURCES_HPP
#define FIBHA_RESOURCES_HPP

#include <cstdint>

namespace fibha {

/// One engine of an instance.
struct EngineResources {
  const char* name;          ///< the plan's engine name (e.g. "e2.firb", "seml.pw")
  unsigned macs_per_cycle;   ///< int8 multiplies the template instantiates per cycle (kMacsPerCycle)
  unsigned modelled_pes;     ///< processing elements the compiler's model charged (one MAC per cycle each)
  unsigned modelled_dsp;     ///< DSP slices the model charged for them
  uint64_t plan_cycles;      ///< the compiler's modelled cycles of the engine per image
};

}  // namespace fibha

#endif  // FIBHA_RESOURCES_HPP
