# Vitis HLS instance sesl_conv: top sesl_conv_top (see src/instances.hpp / src/fibha_top.cpp).
# Run through `make -C hls vitis INSTANCES=sesl_conv` or `vitis_hls -f scripts/instances/sesl_conv.tcl`.
set INSTANCE sesl_conv
set TOP sesl_conv_top
set SOURCES {src/sesl_tops.cpp}
set TB {tb/tb_sesl_conv.cpp}
set TB_ARGS ""
set EXTRA_INCLUDE {}
source [file join [file dirname [info script]] .. run_hls.tcl]
