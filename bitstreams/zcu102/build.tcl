# fibha on the ZCU102: Vivado 2023.2 block design, synthesis, implementation, bitstream, XSA.
#
#   vivado -mode batch -notrace -source build.tcl -tclargs params=PARAMS.tcl [key=value ...]
#
# Parameters (from a params file, overridden by key=value arguments):
#   ip_repo    Vitis HLS IP export of the kernel (<build>/hls/fibha_top/solution1/impl/ip)
#   hp_ports   number of S_AXI_HPn_FPD ports = the kernel's m_axi masters gmem0..gmemN-1 (1..4)
#   clock_mhz  PL clock 0 (pl_clk0) frequency, from the plan
#   plan       the plan.json this bitstream implements (checked to exist)
#   plan_hash  the plan's hash, carried into the manifest
#   out_dir    where fibha.bit, fibha.xsa and the reports go
#   dtso       the plan's device-tree overlay source (used by the Makefile; checked if given)
#   part       must be the ZCU102's xczu9eg-ffvb1156-2-e (given only to be checked)
#   board_part ZCU102 board preset (default below; the latest installed one is used if absent)
#   jobs       parallel synthesis/implementation jobs (default 4)
#   step       check | bd | all (default all): stop after the input checks, or after the
#              validated block design and its wrapper, or run through the bitstream
#   allow_timing_violation  1 to keep a bitstream whose worst negative slack is below 0
#
# A params file holds only `set fibha(KEY) VALUE` lines (bitstreams/zcu102/params.example.tcl);
# `fibha-compile build` writes one per plan. Relative paths in a params file are taken from the
# file's own directory; relative paths given as key=value from the current directory. Every input is checked before Vivado starts on the
# design, and each failure says what is missing and where it was looked for.

namespace eval ::fibha {
    variable zcu102_part "xczu9eg-ffvb1156-2-e"
    # Board preset that Vivado 2023.2's board store installs for the ZCU102 (file version 3.4,
    # the one used with 2020.2 and later). When a different version is installed, check_board
    # falls back to the latest installed zcu102 board part and says so.
    variable zcu102_board_part "xilinx.com:zcu102:part0:3.4"
    variable ip_vlnv "fibha:hls:fibha_top:1.0"
    variable regs_base 0xA0000000
    variable regs_range 64K
    variable design_name fibha_bd
    variable project_name fibha_zcu102
}

proc ::fibha::fail {msg} {
    puts stderr "fibha build.tcl: ERROR: $msg"
    exit 2
}

proc ::fibha::note {msg} {
    puts "fibha build.tcl: $msg"
}

# Reads `key=value` words; `params=FILE` is sourced first so that explicit words override it.
proc ::fibha::parse_args {words} {
    variable p
    array set p {
        ip_repo "" hp_ports "" clock_mhz "" plan "" plan_hash "" out_dir "" dtso ""
        part "" board_part "" jobs 4 step all allow_timing_violation 0
    }
    set overrides {}
    foreach word $words {
        if {![regexp {^([a-z_]+)=(.*)$} $word -> key value]} {
            fail "argument '$word' is not key=value (see the header of build.tcl)"
        }
        if {$key eq "params"} {
            load_params $value
        } elseif {[info exists p($key)]} {
            lappend overrides $key $value
        } else {
            fail "unknown parameter '$key' (known: params [lsort [array names p]])"
        }
    }
    foreach {key value} $overrides {
        set p($key) $value
    }
}

proc ::fibha::load_params {file} {
    variable p
    if {![file isfile $file]} {
        fail "params file '$file' not found: run `fibha-compile build MODEL --board zcu102 -o DIR`\
              (it writes DIR/vivado/params.tcl) or copy bitstreams/zcu102/params.example.tcl"
    }
    # The file is plain data; a child interpreter keeps it from touching this one.
    set child [interp create -safe]
    if {[catch {$child invokehidden source $file} err]} {
        interp delete $child
        fail "params file '$file' is not valid Tcl: $err"
    }
    if {[$child eval {info exists fibha}] && [$child eval {array exists fibha}]} {
        foreach {key value} [$child eval {array get fibha}] {
            if {![info exists p($key)]} {
                interp delete $child
                fail "params file '$file' sets unknown parameter fibha($key)"
            }
            if {[lsearch -exact {ip_repo plan out_dir dtso} $key] >= 0 && $value ne ""
                && [file pathtype $value] eq "relative"} {
                set value [file normalize [file join [file dirname [file normalize $file]] $value]]
            }
            set p($key) $value
        }
    } else {
        interp delete $child
        fail "params file '$file' sets no fibha(...) parameters"
    }
    interp delete $child
}

# Checks every input; returns the normalized IP repository path.
proc ::fibha::check_inputs {} {
    variable p
    variable zcu102_part
    foreach key {ip_repo hp_ports clock_mhz plan plan_hash out_dir} {
        if {$p($key) eq ""} {
            fail "parameter '$key' is not set (give it in the params file or as $key=...)"
        }
    }
    if {$p(part) ne "" && $p(part) ne $zcu102_part} {
        fail "part '$p(part)' is not the ZCU102's: this design targets $zcu102_part\
              (a plan for another board needs its own bitstreams/<board> scripts)"
    }
    set p(part) $zcu102_part
    if {![string is integer -strict $p(hp_ports)] || $p(hp_ports) < 1 || $p(hp_ports) > 4} {
        fail "hp_ports is '$p(hp_ports)': the ZCU102 has S_AXI_HP0..HP3_FPD, give 1 to 4"
    }
    if {![string is double -strict $p(clock_mhz)] || $p(clock_mhz) < 10 || $p(clock_mhz) > 400} {
        fail "clock_mhz is '$p(clock_mhz)': expected a PL clock between 10 and 400 MHz"
    }
    if {![file isfile $p(plan)]} {
        fail "plan '$p(plan)' not found: the bitstream must be built from the plan that\
              `fibha-compile build` wrote (DIR/plan.json)"
    }
    if {![regexp {^[0-9a-f]{16,128}$} $p(plan_hash)]} {
        fail "plan_hash '$p(plan_hash)' is not a lowercase hex digest (see plan.json)"
    }
    if {$p(dtso) ne "" && ![file isfile $p(dtso)]} {
        fail "overlay source '$p(dtso)' not found (fibha-compile build writes it beside params.tcl)"
    }
    if {![string is integer -strict $p(jobs)] || $p(jobs) < 1} {
        fail "jobs is '$p(jobs)': expected a positive integer"
    }
    if {[lsearch -exact {check bd all} $p(step)] < 0} {
        fail "step is '$p(step)': expected check, bd or all"
    }
    set repo [file normalize $p(ip_repo)]
    if {![file isdirectory $repo]} {
        fail "HLS IP export not found at '$repo': run Vitis HLS on the kernel first\
              (hls/ with export_design -format ip_catalog writes\
              <build>/hls/fibha_top/solution1/impl/ip)"
    }
    if {[llength [find_component_xml $repo]] == 0} {
        fail "'$repo' holds no IP-XACT component.xml: it is not a Vitis HLS ip_catalog export"
    }
    return $repo
}

proc ::fibha::find_component_xml {dir} {
    set found [glob -nocomplain -directory $dir component.xml]
    foreach sub [glob -nocomplain -type d -directory $dir *] {
        lappend found {*}[find_component_xml $sub]
    }
    return $found
}

# The board preset: the configured one when installed, else the newest installed ZCU102 one.
proc ::fibha::choose_board_part {} {
    variable p
    variable zcu102_board_part
    set wanted [expr {$p(board_part) ne "" ? $p(board_part) : $zcu102_board_part}]
    if {[llength [get_board_parts -quiet $wanted]] > 0} {
        return $wanted
    }
    set latest [get_board_parts -quiet -latest_file_version {xilinx.com:zcu102:part0:*}]
    if {[llength $latest] == 0} {
        fail "no ZCU102 board files installed (looked for $wanted): install the board\
              through Vivado's board store (xhub) or set board_part=..."
    }
    note "board part $wanted is not installed; using [lindex $latest 0]"
    return [lindex $latest 0]
}

proc ::fibha::create_project_for_board {repo} {
    variable p
    variable project_name
    variable ip_vlnv
    set version [version -short]
    if {![string match 2023.2* $version]} {
        note "WARNING: written for Vivado 2023.2, running $version"
    }
    create_project $project_name [file join $p(out_dir) vivado] -part $p(part) -force
    set_property board_part [choose_board_part] [current_project]
    set_property ip_repo_paths [list $repo] [current_project]
    update_ip_catalog -rebuild
    if {[llength [get_ipdefs -all $ip_vlnv]] == 0} {
        fail "the IP repository '$repo' does not provide $ip_vlnv: was the kernel exported\
              with vendor fibha, library hls, name fibha_top, version 1.0?"
    }
}

# Zynq UltraScale+ PS with the ZCU102 preset, M_AXI_HPM0_FPD for the registers, the HP ports
# the plan asks for, pl_ps_irq0 and PL clock 0 at the plan's frequency.
proc ::fibha::create_ps {} {
    variable p
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:zynq_ultra_ps_e zynq_ultra_ps_e_0]
    apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e \
        -config {apply_board_preset "1"} $ps
    set config [list \
        CONFIG.PSU__USE__M_AXI_GP0 {1} \
        CONFIG.PSU__MAXIGP0__DATA_WIDTH {128} \
        CONFIG.PSU__USE__M_AXI_GP1 {0} \
        CONFIG.PSU__USE__M_AXI_GP2 {0} \
        CONFIG.PSU__USE__IRQ0 {1} \
        CONFIG.PSU__FPGA_PL0_ENABLE {1} \
        CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $p(clock_mhz)]
    # S_AXI_HP0..3_FPD are the PS's SAXIGP2..SAXIGP5.
    for {set i 0} {$i < 4} {incr i} {
        set gp [expr {$i + 2}]
        lappend config CONFIG.PSU__USE__S_AXI_GP$gp [expr {$i < $p(hp_ports) ? 1 : 0}]
        if {$i < $p(hp_ports)} {
            lappend config CONFIG.PSU__SAXIGP${gp}__DATA_WIDTH {128}
        }
    }
    set_property -dict $config $ps
    return $ps
}

proc ::fibha::create_kernel {} {
    variable p
    variable ip_vlnv
    set kernel [create_bd_cell -type ip -vlnv $ip_vlnv fibha_top_0]
    set masters [get_bd_intf_pins -quiet -of_objects $kernel \
        -filter {MODE == Master && VLNV =~ "xilinx.com:interface:aximm_rtl:*"}]
    if {[llength $masters] != $p(hp_ports)} {
        fail "the HLS kernel has [llength $masters] m_axi master(s) ([lsort $masters]) but\
              the plan asks for hp_ports=$p(hp_ports): regenerate the HLS configuration and\
              the params from the same plan"
    }
    if {[llength [get_bd_intf_pins -quiet $kernel/s_axi_control]] == 0} {
        fail "the HLS kernel has no s_axi_control interface (expected the s_axilite bundle 'control')"
    }
    return [lsort -dictionary $masters]
}

proc ::fibha::connect_design {ps kernel_masters} {
    variable p
    set clk [get_bd_pins $ps/pl_clk0]
    set rst [create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset proc_sys_reset_0]
    connect_bd_net $clk [get_bd_pins $rst/slowest_sync_clk]
    connect_bd_net [get_bd_pins $ps/pl_resetn0] [get_bd_pins $rst/ext_reset_in]
    set aresetn [get_bd_pins $rst/peripheral_aresetn]

    connect_bd_net $clk [get_bd_pins fibha_top_0/ap_clk] [get_bd_pins $ps/maxihpm0_fpd_aclk]
    connect_bd_net $aresetn [get_bd_pins fibha_top_0/ap_rst_n]

    # Registers: HPM0_FPD -> SmartConnect (width and protocol conversion) -> s_axi_control.
    set ctrl [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect smartconnect_ctrl]
    set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1}] $ctrl
    connect_bd_net $clk [get_bd_pins $ctrl/aclk]
    connect_bd_net $aresetn [get_bd_pins $ctrl/aresetn]
    connect_bd_intf_net [get_bd_intf_pins $ps/M_AXI_HPM0_FPD] [get_bd_intf_pins $ctrl/S00_AXI]
    connect_bd_intf_net [get_bd_intf_pins $ctrl/M00_AXI] [get_bd_intf_pins fibha_top_0/s_axi_control]

    # Data: gmem<i> -> its own SmartConnect -> S_AXI_HP<i>_FPD, one HP port per master.
    set i 0
    foreach master $kernel_masters {
        set sc [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect smartconnect_hp$i]
        set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1}] $sc
        connect_bd_net $clk [get_bd_pins $sc/aclk] [get_bd_pins $ps/saxihp${i}_fpd_aclk]
        connect_bd_net $aresetn [get_bd_pins $sc/aresetn]
        connect_bd_intf_net $master [get_bd_intf_pins $sc/S00_AXI]
        connect_bd_intf_net [get_bd_intf_pins $sc/M00_AXI] [get_bd_intf_pins $ps/S_AXI_HP${i}_FPD]
        incr i
    }

    # Interrupt: kernel -> concat In0 -> pl_ps_irq0[0] (GIC SPI 89).
    set irq [create_bd_cell -type ip -vlnv xilinx.com:ip:xlconcat xlconcat_irq]
    set_property -dict [list CONFIG.NUM_PORTS {1}] $irq
    connect_bd_net [get_bd_pins fibha_top_0/interrupt] [get_bd_pins $irq/In0]
    connect_bd_net [get_bd_pins $irq/dout] [get_bd_pins $ps/pl_ps_irq0]
}

proc ::fibha::assign_addresses {ps} {
    variable regs_base
    variable regs_range
    assign_bd_address -offset $regs_base -range $regs_range \
        -target_address_space [get_bd_addr_spaces $ps/Data] \
        [get_bd_addr_segs fibha_top_0/s_axi_control/Reg] -force
    # The masters reach DDR (low and high) through their HP ports.
    assign_bd_address
}

proc ::fibha::build_block_design {repo} {
    variable design_name
    variable p
    create_project_for_board $repo
    create_bd_design $design_name
    set ps [create_ps]
    set masters [create_kernel]
    connect_design $ps $masters
    assign_addresses $ps
    validate_bd_design
    save_bd_design
    set bd_file [get_files $design_name.bd]
    generate_target all $bd_file
    set wrapper [make_wrapper -files $bd_file -top]
    add_files -norecurse $wrapper
    set_property top ${design_name}_wrapper [current_fileset]
    update_compile_order -fileset sources_1
}

proc ::fibha::run_and_check {run args} {
    launch_runs $run {*}$args
    wait_on_run $run
    set progress [get_property PROGRESS [get_runs $run]]
    set status [get_property STATUS [get_runs $run]]
    if {$progress ne "100%"} {
        fail "$run stopped at $progress ($status): see the run's log under\
              [get_property DIRECTORY [get_runs $run]]"
    }
}

proc ::fibha::implement {} {
    variable p
    variable design_name
    run_and_check synth_1 -jobs $p(jobs)
    run_and_check impl_1 -to_step write_bitstream -jobs $p(jobs)
    open_run impl_1
    set reports [file join $p(out_dir) reports]
    file mkdir $reports
    report_timing_summary -file [file join $reports timing_summary.rpt]
    report_utilization -file [file join $reports utilization.rpt]
    set wns [get_property STATS.WNS [get_runs impl_1]]
    if {$wns < 0 && !$p(allow_timing_violation)} {
        fail "timing not met at $p(clock_mhz) MHz (WNS $wns ns, see reports/timing_summary.rpt):\
              lower the plan's clock or pass allow_timing_violation=1 to keep the bitstream"
    }
    set bit [file join [get_property DIRECTORY [get_runs impl_1]] ${design_name}_wrapper.bit]
    file copy -force $bit [file join $p(out_dir) fibha.bit]
    write_hw_platform -fixed -include_bit -force -file [file join $p(out_dir) fibha.xsa]
    set f [open [file join $p(out_dir) build-info.txt] w]
    puts $f "part $p(part)"
    puts $f "clock_mhz $p(clock_mhz)"
    puts $f "hp_ports $p(hp_ports)"
    puts $f "plan_hash $p(plan_hash)"
    puts $f "wns_ns $wns"
    puts $f "vivado [version -short]"
    close $f
    note "bitstream: [file join $p(out_dir) fibha.bit] (WNS $wns ns)"
}

proc ::fibha::main {words} {
    variable p
    parse_args $words
    set repo [check_inputs]
    note "inputs ok: ip_repo=$repo hp_ports=$p(hp_ports) clock_mhz=$p(clock_mhz) plan=$p(plan)"
    if {$p(step) eq "check"} {
        return
    }
    file mkdir $p(out_dir)
    build_block_design $repo
    if {$p(step) eq "bd"} {
        note "block design validated; stopping (step=bd)"
        return
    }
    implement
}

::fibha::main $argv
