# Vitis HLS instance sesl_pw: top sesl_pw_top (see src/instances.hpp / src/fibha_top.cpp).
# Run through `make -C hls vitis INSTANCES=sesl_pw` or `vitis_hls -f scripts/instances/sesl_pw.tcl`.
set INSTANCE sesl_pw
set TOP sesl_pw_top
set SOURCES {src/sesl_tops.cpp}
set TB {tb/tb_sesl_pw.cpp}
set TB_ARGS ""
set EXTRA_INCLUDE {}
source [file join [file dirname [info script]] .. run_hls.tcl]
