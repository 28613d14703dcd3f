# Vitis HLS instance fibha_top: the whole kernel (src/fibha_top.cpp) built against the
# configuration in FIBHA_CONFIG_DIR (fibha-compile's output directory; the demo fixture
# tb/configs/demo by default). This is the IP the board's block design instantiates.
# Run through `make -C hls vitis INSTANCES=fibha_top CONFIG_DIR=...` or
# `FIBHA_CONFIG_DIR=... vitis_hls -f scripts/instances/fibha_top.tcl`.
set INSTANCE fibha_top
set TOP fibha_top
set SOURCES {src/fibha_top.cpp}
set TB {tb/tb_top.cpp}
set TB_ARGS ""
proc fibha_config_dir {} {
    if {[info exists ::env(FIBHA_CONFIG_DIR)] && $::env(FIBHA_CONFIG_DIR) ne ""} {
        return $::env(FIBHA_CONFIG_DIR)
    }
    return [file normalize [file join [file dirname [info script]] .. .. tb configs demo]]
}
set EXTRA_INCLUDE [list [fibha_config_dir]]
source [file join [file dirname [info script]] .. run_hls.tcl]
