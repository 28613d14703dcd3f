// Top functions of the SESL engine instances (see instances.hpp): each forwards to its
// template so Vitis HLS synthesizes exactly the engine the testbench checks.
#include "instances.hpp"

#include "fibha/schedule.hpp"

using fibha::inst::ChainConv0;
using fibha::inst::ChainResize;
using fibha::inst::MnV2Conv0;
using fibha::inst::MnV2Dw1;
using fibha::inst::MnV2Pw1;

void sesl_conv_top(hls::stream<fibha::Vec<3>>& p_in, hls::stream<fibha::Vec<8>>& p_out, const MnV2Conv0::Params& p_p) {
  MnV2Conv0::run(p_in, p_out, p_p);
}

void sesl_dw_top(hls::stream<fibha::Vec<8>>& p_in, hls::stream<fibha::Vec<8>>& p_out, const MnV2Dw1::Params& p_p) {
  MnV2Dw1::run(p_in, p_out, p_p);
}

void sesl_pw_top(hls::stream<fibha::Vec<8>>& p_in, hls::stream<fibha::Vec<4>>& p_out, const MnV2Pw1::Params& p_p) {
  MnV2Pw1::run(p_in, p_out, p_p);
}

void sesl_chain_top(hls::stream<fibha::Vec<3>>& p_in, hls::stream<fibha::Vec<4>>& p_out,
                    const ChainConv0::Params& p_conv, const MnV2Dw1::Params& p_dw, const MnV2Pw1::Params& p_pw) {
  FIBHA_DATAFLOW(chain);
  hls::stream<fibha::Vec<16>> l_convOut("chain.conv_out");
  hls::stream<fibha::Vec<8>> l_dwIn("chain.dw_in");
  hls::stream<fibha::Vec<8>> l_dwOut("chain.dw_out");
  FIBHA_PROCESS(chain, "conv0", ChainConv0::run(p_in, l_convOut, p_conv));
  FIBHA_PROCESS(chain, "resize", ChainResize::run(l_convOut, l_dwIn));
  FIBHA_PROCESS(chain, "dw1", MnV2Dw1::run(l_dwIn, l_dwOut, p_dw));
  FIBHA_PROCESS(chain, "pw1", MnV2Pw1::run(l_dwOut, p_out, p_pw));
  FIBHA_DATAFLOW_RUN(chain);
}
