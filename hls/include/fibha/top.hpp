// The top-level kernel's C interface (declaration only; the definition in
// src/fibha_top.cpp is compiled against an instance's generated fibha_config.hpp).
//
// Every argument is one register of hls/regmap.toml (see the generated regmap.hpp):
// the m_axi buffer addresses and their sizes, the layer count and mode in; the plan hash,
// the status word and the cycle count (ap_start to ap_done) out. Control is ap_ctrl_hs on s_axilite.
#ifndef FIBHA_TOP_HPP
#define FIBHA_TOP_HPP

#include <cstdint>

#include "fibha/axi.hpp"

/// Runs the instance once: the SESL part on the input image, then p_layerCount SEML
/// layer descriptors from the bundle. Never accesses memory outside the four buffers
/// as their sizes describe them; on any invalid input it stops, sets the error bit and
/// code in *p_status, and (for faults found before a layer runs) writes nothing at all.
void fibha_top(fibha::AxiIn<int8_t> p_input, fibha::AxiOut<int8_t> p_output, fibha::AxiIn<uint32_t> p_bundle,
               fibha::AxiOut<int8_t> p_scratch, uint32_t p_inputBytes, uint32_t p_outputBytes, uint32_t p_bundleBytes,
               uint32_t p_scratchBytes, uint32_t p_layerCount, uint32_t p_mode, uint64_t* p_id, uint32_t* p_status,
               uint64_t* p_cycles);

namespace fibha {

/// Layer index reported in status.layer when an error is not about one descriptor.
constexpr uint32_t kNoLayer = 0xFFFF;

}  // namespace fibha

#endif  // FIBHA_TOP_HPP
