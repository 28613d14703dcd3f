// Synthesizable per-engine instances: the first layers of MobileNetV2 1.0/224 (int8), each
// behind a plain top function that Vitis HLS can synthesize on its own
// (scripts/instances/*.tcl) and that the testbenches drive in C simulation.
//
//   sesl_conv_top   CONV 3x3/2, 224x224x3 -> 112x112x32            (layer 0)
//   sesl_dw_top     DW 3x3/1, 112x112x32                            (block 0 depthwise)
//   sesl_pw_top     PW 112x112x32 -> 16                             (block 0 project)
//   sesl_chain_top  the three above chained under DATAFLOW, with a stream width change
//   firb_b0_top     bottleneck 0: t=1, 112x112x32 -> 16, 3x3/1, no skip
//   firb_b1_top     bottleneck 1: t=6, 112x112x16 -> 56x56x24, 3x3/2, no skip
//   firb_b2_top     bottleneck 2: t=6, 56x56x24 -> 24, 3x3/1, skip
// and MnV2Seml, an SEML part for MobileNetV2's SEML layers (maps up to 28x28, up to 1280
// channels) at the full-budget plan's parallelism.
// Parallelism here is a reasonable hand choice for unit synthesis; the instances a plan
// uses come from fibha-compile's generated configuration.
#ifndef FIBHA_SRC_INSTANCES_HPP
#define FIBHA_SRC_INSTANCES_HPP

#include <cstdint>

#include "fibha/firb.hpp"
#include "fibha/seml.hpp"
#include "fibha/sesl_conv.hpp"
#include "fibha/sesl_dw.hpp"
#include "fibha/sesl_pw.hpp"
#include "fibha/stream.hpp"
#include "fibha/types.hpp"

namespace fibha {
namespace inst {

using MnV2Conv0 = SeslConv<224, 224, 3, 32, 3, 2, Padding::kSame, 3, 8>;
using MnV2Dw1 = SeslDw<112, 112, 32, 3, 1, Padding::kSame, 8>;
using MnV2Pw1 = SeslPw<112, 112, 32, 16, 8, 4>;
/// The chain's conv emits 16-channel words; the DW takes 8.
using ChainConv0 = SeslConv<224, 224, 3, 32, 3, 2, Padding::kSame, 3, 16>;
using ChainResize = StreamResize<112 * 112 * 32 / 16, 16, 8>;
using FirbB0 = Firb<112, 112, 32, 1, 16, 3, 1, false, 8, 8, 8, 8, 4>;
using FirbB1 = Firb<112, 112, 16, 6, 24, 3, 2, false, 8, 8, 8, 8, 4>;
using FirbB2 = Firb<56, 56, 24, 6, 24, 3, 1, true, 8, 8, 8, 8, 4>;

/// 2 pixels x 48 channels x 16 pointwise, 12-word depthwise (tb_seml runs MobileNetV2
/// bottlenecks on it).
using MnV2Seml = SemlPart<2, 48, 12, 784, 80, 392, 9, 1, 8, 2, 784 * 2>;

}  // namespace inst
}  // namespace fibha

void sesl_conv_top(hls::stream<fibha::Vec<3>>& p_in, hls::stream<fibha::Vec<8>>& p_out,
                   const fibha::inst::MnV2Conv0::Params& p_p);

void sesl_dw_top(hls::stream<fibha::Vec<8>>& p_in, hls::stream<fibha::Vec<8>>& p_out,
                 const fibha::inst::MnV2Dw1::Params& p_p);

void sesl_pw_top(hls::stream<fibha::Vec<8>>& p_in, hls::stream<fibha::Vec<4>>& p_out,
                 const fibha::inst::MnV2Pw1::Params& p_p);

void sesl_chain_top(hls::stream<fibha::Vec<3>>& p_in, hls::stream<fibha::Vec<4>>& p_out,
                    const fibha::inst::ChainConv0::Params& p_conv, const fibha::inst::MnV2Dw1::Params& p_dw,
                    const fibha::inst::MnV2Pw1::Params& p_pw);

/// Declares a FIRB instance top: Firb::run's arguments.
#define FIBHA_DECLARE_FIRB_TOP(name, F) \
  void name(hls::stream<F::InWord>& p_in, hls::stream<F::OutWord>& p_out, const F::Params& p_p)

FIBHA_DECLARE_FIRB_TOP(firb_b0_top, fibha::inst::FirbB0);
FIBHA_DECLARE_FIRB_TOP(firb_b1_top, fibha::inst::FirbB1);
FIBHA_DECLARE_FIRB_TOP(firb_b2_top, fibha::inst::FirbB2);

#endif  // FIBHA_SRC_INSTANCES_HPP
