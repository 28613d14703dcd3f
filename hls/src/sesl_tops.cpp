// Top functions of the SESL engine instances (see instances.hpp): each forwards to its
// template so Vitis HLS synthesizes exactly the engine the testbench checks.
#include "instances.hpp"

#include "fibha/schedule.hpp"

using fibha::inst::ChainConv0;
using fibha::inst::ChainResize;
using fibha::inst::MnV2Conv0;
using fibha::inst::MnV2Dw1;
using fibha::inst::MnV2Pw1;

void sesl_conv_top(hls::stream<fibha::Vec<3>>& p_in, hls::stream<fibha::Vec<8>>& p_out,
                   const int8_t p_w[32][MnV2Conv0::kDepth], const int32_t p_cq[fibha::kChannelQuantRows][32],
                   fibha::QuantParams p_q) {
  MnV2Conv0::run(p_in, p_out, p_w, p_cq, p_q);
}

void sesl_dw_top(hls::stream<fibha::Vec<8>>& p_in, hls::stream<fibha::Vec<8>>& p_out, const int8_t p_w[9][32],
                 const int32_t p_cq[fibha::kChannelQuantRows][32], fibha::QuantParams p_q) {
  MnV2Dw1::run(p_in, p_out, p_w, p_cq, p_q);
}

void sesl_pw_top(hls::stream<fibha::Vec<8>>& p_in, hls::stream<fibha::Vec<4>>& p_out, const int8_t p_w[16][32],
                 const int32_t p_cq[fibha::kChannelQuantRows][16], fibha::QuantParams p_q) {
  MnV2Pw1::run(p_in, p_out, p_w, p_cq, p_q);
}

void sesl_chain_top(hls::stream<fibha::Vec<3>>& p_in, hls::stream<fibha::Vec<4>>& p_out,
                    const int8_t p_convW[32][ChainConv0::kDepth],
                    const int32_t p_convCq[fibha::kChannelQuantRows][32], fibha::QuantParams p_convQ,
                    const int8_t p_dwW[9][32], const int32_t p_dwCq[fibha::kChannelQuantRows][32],
                    fibha::QuantParams p_dwQ, const int8_t p_pwW[16][32],
                    const int32_t p_pwCq[fibha::kChannelQuantRows][16], fibha::QuantParams p_pwQ) {
  FIBHA_DATAFLOW(chain);
  hls::stream<fibha::Vec<16>> l_convOut("chain.conv_out");
  hls::stream<fibha::Vec<8>> l_dwIn("chain.dw_in");
  hls::stream<fibha::Vec<8>> l_dwOut("chain.dw_out");
  FIBHA_PROCESS(chain, "conv0", ChainConv0::run(p_in, l_convOut, p_convW, p_convCq, p_convQ));
  FIBHA_PROCESS(chain, "resize", ChainResize::run(l_convOut, l_dwIn));
  FIBHA_PROCESS(chain, "dw1", MnV2Dw1::run(l_dwIn, l_dwOut, p_dwW, p_dwCq, p_dwQ));
  FIBHA_PROCESS(chain, "pw1", MnV2Pw1::run(l_dwOut, p_out, p_pwW, p_pwCq, p_pwQ));
  FIBHA_DATAFLOW_RUN(chain);
}
