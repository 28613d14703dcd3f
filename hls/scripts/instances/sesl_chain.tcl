# Vitis HLS instance sesl_chain: top sesl_chain_top (see src/instances.hpp / src/fibha_top.cpp).
# Run through `make -C hls vitis INSTANCES=sesl_chain` or `vitis_hls -f scripts/instances/sesl_chain.tcl`.
set INSTANCE sesl_chain
set TOP sesl_chain_top
set SOURCES {src/sesl_tops.cpp}
set TB {tb/tb_sesl_chain.cpp}
set TB_ARGS ""
set EXTRA_INCLUDE {}
source [file join [file dirname [info script]] .. run_hls.tcl]
