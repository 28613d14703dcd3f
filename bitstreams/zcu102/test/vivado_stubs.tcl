# Stand-ins for every Vivado command build.tcl uses, so that plain tclsh can run the script
# end to end. Each stub appends one line "COMMAND ARGS" to the file named by
# $::env(FIBHA_STUB_LOG) and returns what the real command would hand back to the script.
# A command build.tcl calls that is not stubbed here fails with "invalid command name",
# which is how the check notices a new Vivado command without a stub.
#
# Knobs (environment): FIBHA_STUB_MASTERS (m_axi masters of the fake HLS kernel, default 4),
# FIBHA_STUB_WNS (worst negative slack after implementation, default 0.05),
# FIBHA_STUB_BOARD_PARTS (installed board parts, default xilinx.com:zcu102:part0:3.4),
# FIBHA_STUB_RUN_DIR (where the fake implementation run puts its bitstream).

proc ::stub_log {args} {
    set f [open $::env(FIBHA_STUB_LOG) a]
    puts $f [join $args " "]
    close $f
}

proc ::stub_env {name default} {
    if {[info exists ::env($name)]} {
        return $::env($name)
    }
    return $default
}

# Value of `-option` in an argument list, or "".
proc ::stub_opt {argv name} {
    set i [lsearch -exact $argv $name]
    if {$i < 0} {
        return ""
    }
    return [lindex $argv [expr {$i + 1}]]
}

foreach cmd {
    create_project set_property update_ip_catalog create_bd_design apply_bd_automation
    connect_bd_net connect_bd_intf_net assign_bd_address validate_bd_design save_bd_design
    generate_target add_files update_compile_order wait_on_run open_run
} {
    proc ::$cmd {args} "::stub_log $cmd {*}\$args; return {}"
}

proc version {args} { stub_log version {*}$args; return 2023.2 }
proc current_project {args} { return fibha_zcu102 }
proc current_fileset {args} { return sources_1 }
proc get_bd_addr_spaces {args} { return [lindex $args end] }
proc get_bd_addr_segs {args} { return [lindex $args end] }
proc get_bd_pins {args} { return $args }
proc get_runs {args} { return [lindex $args end] }
proc get_files {args} { return /stub/[lindex $args end] }

proc get_board_parts {args} {
    stub_log get_board_parts {*}$args
    set installed [stub_env FIBHA_STUB_BOARD_PARTS xilinx.com:zcu102:part0:3.4]
    set pattern [lindex $args end]
    return [lsearch -all -inline -glob $installed $pattern]
}

proc get_ipdefs {args} {
    stub_log get_ipdefs {*}$args
    if {[lindex $args end] eq "fibha:hls:fibha_top:1.0"} {
        return fibha:hls:fibha_top:1.0
    }
    return {}
}

proc create_bd_cell {args} {
    stub_log create_bd_cell {*}$args
    return /[lindex $args end]
}

proc get_bd_intf_pins {args} {
    set owner [stub_opt $args -of_objects]
    if {$owner eq "/fibha_top_0"} {
        set masters {}
        for {set i 0} {$i < [stub_env FIBHA_STUB_MASTERS 4]} {incr i} {
            lappend masters /fibha_top_0/m_axi_gmem$i
        }
        return $masters
    }
    return [lindex $args end]
}

proc make_wrapper {args} {
    stub_log make_wrapper {*}$args
    return /stub/fibha_bd_wrapper.v
}

proc launch_runs {args} {
    stub_log launch_runs {*}$args
    if {[lindex $args 0] eq "impl_1"} {
        set f [open [file join [stub_env FIBHA_STUB_RUN_DIR .] fibha_bd_wrapper.bit] w]
        puts $f "stub bitstream"
        close $f
    }
}

proc get_property {name args} {
    switch -- $name {
        PROGRESS { return 100% }
        STATUS { return "write_bitstream Complete!" }
        STATS.WNS { return [stub_env FIBHA_STUB_WNS 0.05] }
        DIRECTORY { return [stub_env FIBHA_STUB_RUN_DIR .] }
        default { error "stub get_property: unexpected property $name" }
    }
}

proc report_timing_summary {args} {
    stub_log report_timing_summary {*}$args
    close [open [stub_opt $args -file] w]
}

proc report_utilization {args} {
    stub_log report_utilization {*}$args
    close [open [stub_opt $args -file] w]
}

proc write_hw_platform {args} {
    stub_log write_hw_platform {*}$args
    close [open [stub_opt $args -file] w]
}
