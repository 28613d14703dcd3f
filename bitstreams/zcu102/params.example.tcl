# Parameters of one fibha instance for bitstreams/zcu102/build.tcl and its Makefile.
# `fibha-compile build MODEL --board zcu102 -o DIR` writes DIR/vivado/params.tcl in this form;
# this copy shows the format (only `set fibha(KEY) VALUE` lines, one per key) with the values
# of a typical MobileNetV2 plan. Relative paths are taken from the directory Vivado runs in.
set fibha(ip_repo)   build/hls/fibha_top/solution1/impl/ip
set fibha(hp_ports)  4
set fibha(clock_mhz) 200
set fibha(plan)      build/plan.json
set fibha(plan_hash) 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
set fibha(out_dir)   build/bitstream
