# Vitis HLS flow for one fibha instance, each step gated by a flag (as finn-hlslib's
# tb/test_*.tcl and Vitis Libraries' run_hls.tcl). An instance script in
# scripts/instances/ sets these variables and then sources this file:
#   INSTANCE      project name (directory under the build folder)
#   TOP           top function
#   SOURCES       design sources, relative to hls/
#   TB            testbench sources, relative to hls/
#   TB_ARGS       testbench arguments (may be empty)
#   EXTRA_INCLUDE extra include directories (may be empty)
# Flags and settings come from the environment (`make vitis` sets them):
#   FIBHA_CSIM=1 FIBHA_CSYNTH=1 FIBHA_COSIM=0 FIBHA_EXPORT=1
#   FIBHA_PART=xczu9eg-ffvb1156-2-e (ZCU102) FIBHA_CLOCK_MHZ=200
#   FIBHA_BUILD=<hls>/build/vitis FIBHA_CONFIG_DIR=<hls>/tb/configs/demo
# Written for Vitis HLS 2023.2 (open_project/open_solution flow).

proc env_or {name default} {
    if {[info exists ::env($name)] && $::env($name) ne ""} {
        return $::env($name)
    }
    return $default
}

set HLS_ROOT [file normalize [file join [file dirname [info script]] ..]]
set CSIM [env_or FIBHA_CSIM 1]
set CSYNTH [env_or FIBHA_CSYNTH 1]
set COSIM [env_or FIBHA_COSIM 0]
set EXPORT [env_or FIBHA_EXPORT 1]
set PART [env_or FIBHA_PART xczu9eg-ffvb1156-2-e]
set CLOCK_MHZ [env_or FIBHA_CLOCK_MHZ 200]
set BUILD [env_or FIBHA_BUILD [file join $HLS_ROOT build vitis]]
set CONFIG_DIR [env_or FIBHA_CONFIG_DIR [file join $HLS_ROOT tb configs demo]]
set CLOCK_NS [format %.3f [expr {1000.0 / $CLOCK_MHZ}]]

foreach var {INSTANCE TOP SOURCES TB TB_ARGS EXTRA_INCLUDE} {
    if {![info exists $var]} {
        puts stderr "run_hls.tcl: the instance script must set $var"
        exit 1
    }
}

# The synthesizable sources are C++14 (Vitis HLS 2023.2's default dialect); `make csim`
# checks that they compile as C++14 while the C simulation itself builds as C++17.
set CFLAGS "-std=c++14 -I$HLS_ROOT/include -I$HLS_ROOT/src"
foreach dir $EXTRA_INCLUDE {
    append CFLAGS " -I$dir"
}
set TB_CFLAGS "$CFLAGS -I$HLS_ROOT/tb -Wno-unknown-pragmas"

puts "fibha: $INSTANCE (top $TOP) part $PART clock $CLOCK_MHZ MHz ($CLOCK_NS ns);\
      csim=$CSIM csynth=$CSYNTH cosim=$COSIM export=$EXPORT"
file mkdir $BUILD
cd $BUILD

open_project -reset $INSTANCE
set_top $TOP
foreach src $SOURCES {
    add_files [file join $HLS_ROOT $src] -cflags $CFLAGS
}
foreach tb $TB {
    add_files -tb [file join $HLS_ROOT $tb] -cflags $TB_CFLAGS
}
open_solution -reset sol1 -flow_target vivado
set_part $PART
create_clock -period $CLOCK_NS -name default

# Testbench arguments only when there are some (an empty -argv is not useful).
set ARGV_OPTION {}
if {$TB_ARGS ne ""} {
    set ARGV_OPTION [list -argv $TB_ARGS]
}
if {$CSIM} {
    csim_design {*}$ARGV_OPTION
}
if {$CSYNTH} {
    csynth_design
}
if {$COSIM} {
    cosim_design -rtl verilog {*}$ARGV_OPTION
}
if {$EXPORT} {
    export_design -format ip_catalog -rtl verilog -vendor fibha -library hls -version 1.0 -ipname $TOP
}
exit
