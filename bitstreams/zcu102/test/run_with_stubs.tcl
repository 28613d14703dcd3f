# Runs build.tcl under plain tclsh with the Vivado stand-ins of vivado_stubs.tcl:
#   tclsh run_with_stubs.tcl BUILD_TCL key=value ...
source [file join [file dirname [file normalize [info script]]] vivado_stubs.tcl]
set build [lindex $argv 0]
set argv [lrange $argv 1 end]
set argc [llength $argv]
source $build
