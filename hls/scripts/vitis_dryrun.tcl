# Runs a scripts/instances/*.tcl file with the Vitis HLS commands replaced by stubs that
# print each call, so the scripts can be checked (syntax, variables, the sequence of
# steps) with a plain tclsh where Vitis HLS is not installed:
#   tclsh scripts/vitis_dryrun.tcl scripts/instances/firb_b2.tcl
set stubs {open_project set_top add_files open_solution set_part create_clock
           csim_design csynth_design cosim_design export_design}
foreach cmd $stubs {
    proc $cmd {args} "puts \"  $cmd \$args\""
}
rename exit tcl_exit
proc exit {args} {}
if {[llength $argv] != 1} {
    puts stderr "usage: tclsh vitis_dryrun.tcl INSTANCE_SCRIPT"
    tcl_exit 2
}
set script [file normalize [lindex $argv 0]]
set here [pwd]
if {[catch {source $script} err]} {
    puts stderr "vitis_dryrun: $script: $err"
    tcl_exit 1
}
cd $here
