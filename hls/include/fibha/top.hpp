// The top-level kernel's C interface (declaration only; the definition in
// src/fibha_top.cpp is compiled against an instance's generated fibha_config.hpp).
//
// Every argument is one register of hls/regmap.toml (see the generated regmap.hpp):
// the m_axi buffer addresses (all 128-bit ports) and sizes, the image count, layer count
// and mode in; the plan hash, the status word and the cycle count (ap_start to ap_done)
// out. Control is ap_ctrl_hs on s_axilite.
#ifndef FIBHA_TOP_HPP
#define FIBHA_TOP_HPP

#include <cstdint>

#include "fibha/axi.hpp"
#include "fibha/types.hpp"

/// Runs the instance on p_imageCount images: the SESL part, then p_layerCount SEML layer
/// descriptors from the bundle, the two parts on consecutive images at once. Never
/// accesses memory outside the buffers as their sizes describe them; on any invalid input
/// it stops, sets the error bit and code in *p_status and, for every fault but a bad SEML
/// multiplier or shift (found as the parameters stream in), writes nothing at all.
void fibha_top(fibha::AxiIn<fibha::Vec<16>> p_input, fibha::AxiOut<fibha::Vec<16>> p_output,
               fibha::AxiIn<fibha::Vec<16>> p_bundle, fibha::AxiIn<fibha::Vec<16>> p_paramsA,
               fibha::AxiIn<fibha::Vec<16>> p_paramsB, uint32_t p_inputBytes, uint32_t p_outputBytes,
               uint32_t p_bundleBytes, uint32_t p_imageCount, uint32_t p_layerCount, uint32_t p_mode, uint64_t* p_id,
               uint32_t* p_status, uint64_t* p_cycles);

namespace fibha {

/// Layer index reported in status.layer when an error is not about one descriptor.
constexpr uint32_t kNoLayer = 0xFFFF;

}  // namespace fibha

#endif  // FIBHA_TOP_HPP
