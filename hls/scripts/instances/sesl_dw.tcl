# Vitis HLS instance sesl_dw: top sesl_dw_top (see src/instances.hpp / src/fibha_top.cpp).
# Run through `make -C hls vitis INSTANCES=sesl_dw` or `vitis_hls -f scripts/instances/sesl_dw.tcl`.
set INSTANCE sesl_dw
set TOP sesl_dw_top
set SOURCES {src/sesl_tops.cpp}
set TB {tb/tb_sesl_dw.cpp}
set TB_ARGS ""
set EXTRA_INCLUDE {}
source [file join [file dirname [info script]] .. run_hls.tcl]
