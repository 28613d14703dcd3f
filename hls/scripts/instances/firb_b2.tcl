# Vitis HLS instance firb_b2: top firb_b2_top (see src/instances.hpp / src/fibha_top.cpp).
# Run through `make -C hls vitis INSTANCES=firb_b2` or `vitis_hls -f scripts/instances/firb_b2.tcl`.
set INSTANCE firb_b2
set TOP firb_b2_top
set SOURCES {src/firb_tops.cpp}
set TB {tb/tb_firb.cpp}
set TB_ARGS ""
set EXTRA_INCLUDE {}
source [file join [file dirname [info script]] .. run_hls.tcl]
