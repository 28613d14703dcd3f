#!/usr/bin/env bash
# Checks bitstreams/zcu102 without Vivado: runs build.tcl under tclsh with stand-ins for every
# Vivado command (test/vivado_stubs.tcl) on good and bad inputs, drives the Makefile with fake
# vivado/bootgen executables, compiles the shipped example overlay with dtc and runs shellcheck.
# Prints one line per check and a final "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
zcu=$(dirname "$here")
build_tcl="$zcu/build.tcl"

for tool in tclsh dtc make python3 sha256sum; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "check_tcl.sh: '$tool' is required (Debian: tcl, device-tree-compiler, make, python3, coreutils)" >&2
        exit 2
    fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

pass() {
    passed=$((passed + 1))
    echo "ok   - $1"
}

fail() {
    failed=$((failed + 1))
    echo "FAIL - $1"
    if [ -n "${2:-}" ] && [ -f "$2" ]; then
        sed 's/^/       | /' "$2"
    fi
}

# A build directory laid out as fibha-compile build lays it out, with a fake HLS export.
make_build() {
    local dir=$1 hp=${2:-4}
    mkdir -p "$dir/hls/fibha_top/solution1/impl/ip" "$dir/vivado" "$dir/bitstream"
    echo '<spirit:component/>' >"$dir/hls/fibha_top/solution1/impl/ip/component.xml"
    echo '{"format": "stub plan"}' >"$dir/plan.json"
    cp "$zcu/fibha-example.dtso" "$dir/fibha.dtso"
    cat >"$dir/vivado/params.tcl" <<PARAMS
set fibha(ip_repo)   ../hls/fibha_top/solution1/impl/ip
set fibha(hp_ports)  $hp
set fibha(clock_mhz) 200
set fibha(plan)      ../plan.json
set fibha(plan_hash) 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
set fibha(out_dir)   ../bitstream
set fibha(dtso)      ../fibha.dtso
PARAMS
}

# run_tcl NAME [key=value ...]: runs build.tcl under the stubs; sets $log, $out, $rc.
run_tcl() {
    local name=$1
    shift
    log="$work/$name.calls"
    out="$work/$name.out"
    : >"$log"
    rc=0
    FIBHA_STUB_LOG="$log" FIBHA_STUB_RUN_DIR="$work" \
        tclsh "$here/run_with_stubs.tcl" "$build_tcl" "$@" >"$out" 2>&1 || rc=$?
}

# expect_fail NAME MESSAGE [key=value ...]: build.tcl must stop with MESSAGE before any design step.
expect_fail() {
    local name=$1 message=$2
    shift 2
    run_tcl "$name" "$@"
    if [ "$rc" -ne 0 ] && grep -qF -- "$message" "$out" && ! grep -q create_bd_design "$log"; then
        pass "build.tcl refuses: $name"
    else
        fail "build.tcl refuses: $name (rc $rc, expected message: $message)" "$out"
    fi
}

# The commands of a full build, in the order they must come.
expected_order="version create_project set_property update_ip_catalog get_ipdefs create_bd_design
create_bd_cell apply_bd_automation set_property create_bd_cell connect_bd_net connect_bd_intf_net
assign_bd_address assign_bd_address validate_bd_design save_bd_design generate_target make_wrapper
add_files launch_runs wait_on_run launch_runs wait_on_run open_run report_timing_summary
report_utilization write_hw_platform"

in_order() {
    python3 - "$1" "$expected_order" <<'PY'
import sys
calls = [line.split()[0] for line in open(sys.argv[1]) if line.strip()]
want = sys.argv[2].split()
pos = 0
for cmd in want:
    while pos < len(calls) and calls[pos] != cmd:
        pos += 1
    if pos == len(calls):
        sys.exit(f"missing or out of order: {cmd}")
    pos += 1
PY
}

good="$work/good"
make_build "$good" 4
params="$good/vivado/params.tcl"

# 1. A full run with four HP ports.
run_tcl full params="$params"
if [ "$rc" -eq 0 ] && in_order "$log" >"$work/order.err" 2>&1; then
    pass "build.tcl runs through under tclsh and calls the Vivado steps in order"
else
    fail "build.tcl full run (rc $rc)" "$out"
    sed 's/^/       | /' "$work/order.err"
fi
if grep -q 'CONFIG.PSU__USE__S_AXI_GP2 1 CONFIG.PSU__SAXIGP2__DATA_WIDTH 128' "$log" &&
    grep -q 'CONFIG.PSU__USE__S_AXI_GP5 1 CONFIG.PSU__SAXIGP5__DATA_WIDTH 128' "$log" &&
    grep -q 'CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ 200' "$log" &&
    grep -q 'CONFIG.PSU__USE__IRQ0 {1}\|CONFIG.PSU__USE__IRQ0 1' "$log" &&
    [ "$(grep -c 'create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect smartconnect_hp' "$log")" -eq 4 ]; then
    pass "PS configured for 4 HP ports at 128 bit, pl_clk0 200 MHz, pl_ps_irq0"
else
    fail "PS configuration for 4 HP ports" "$log"
fi
if grep -q 'assign_bd_address -offset 0xA0000000 -range 64K' "$log" &&
    grep -q 'connect_bd_net .*fibha_top_0/interrupt.*xlconcat_irq/In0' "$log" &&
    grep -q 'connect_bd_net .*xlconcat_irq/dout.*pl_ps_irq0' "$log"; then
    pass "registers at 0xA0000000/64K, interrupt through the concat to pl_ps_irq0"
else
    fail "address map and interrupt wiring" "$log"
fi
if [ -f "$good/bitstream/fibha.bit" ] && [ -f "$good/bitstream/fibha.xsa" ] &&
    grep -q '^plan_hash 0123456789abcdef' "$good/bitstream/build-info.txt"; then
    pass "bitstream, XSA and build-info land in out_dir (relative paths resolved from the params file)"
else
    fail "outputs in out_dir" "$out"
fi

# 2. Two HP ports: two HP SmartConnects, HP2/HP3 disabled.
make_build "$work/two" 2
FIBHA_STUB_MASTERS=2 run_tcl two params="$work/two/vivado/params.tcl" step=bd
if [ "$rc" -eq 0 ] && grep -q 'CONFIG.PSU__USE__S_AXI_GP3 1' "$log" &&
    grep -q 'CONFIG.PSU__USE__S_AXI_GP4 0' "$log" && grep -q 'CONFIG.PSU__USE__S_AXI_GP5 0' "$log" &&
    [ "$(grep -c 'smartconnect smartconnect_hp' "$log")" -eq 2 ] && ! grep -q launch_runs "$log"; then
    pass "hp_ports=2 enables S_AXI_HP0/HP1 only; step=bd stops before synthesis"
else
    fail "hp_ports=2, step=bd (rc $rc)" "$out"
fi

# 3. step=check touches no Vivado command.
run_tcl check params="$params" step=check
if [ "$rc" -eq 0 ] && [ ! -s "$log" ] && grep -q 'inputs ok' "$out"; then
    pass "step=check validates the inputs without any Vivado command"
else
    fail "step=check (rc $rc)" "$out"
fi

# 4. Bad inputs, each named in the message.
expect_fail missing-hls-export "HLS IP export not found" params="$params" ip_repo="$work/nowhere"
mkdir -p "$work/empty-ip"
expect_fail not-an-ip-export "holds no IP-XACT component.xml" params="$params" ip_repo="$work/empty-ip"
expect_fail wrong-part "is not the ZCU102's" params="$params" part=xczu7ev-ffvc1156-2-e
expect_fail missing-plan "plan '$work/missing.json' not found" params="$params" plan="$work/missing.json"
expect_fail too-many-hp-ports "give 1 to 4" params="$params" hp_ports=5
expect_fail bad-clock "between 10 and 400 MHz" params="$params" clock_mhz=fast
expect_fail bad-plan-hash "not a lowercase hex digest" params="$params" plan_hash=XYZ
expect_fail unknown-parameter "unknown parameter 'colour'" params="$params" colour=blue
expect_fail missing-params-file "params file '$work/none.tcl' not found" params="$work/none.tcl"
expect_fail unset-parameter "parameter 'plan_hash' is not set" ip_repo="$good/hls" hp_ports=1 \
    clock_mhz=200 plan="$good/plan.json" out_dir="$work/o"
expect_fail missing-overlay "overlay source '$work/none.dtso' not found" params="$params" dtso="$work/none.dtso"

# 5. Design-time refusals: kernel ports that disagree with the plan, failed timing, no board files.
FIBHA_STUB_MASTERS=3 run_tcl master-mismatch params="$params"
if [ "$rc" -ne 0 ] && grep -q 'has 3 m_axi master(s)' "$out" && ! grep -q launch_runs "$log"; then
    pass "build.tcl refuses a kernel whose m_axi masters differ from hp_ports"
else
    fail "m_axi master count check (rc $rc)" "$out"
fi
FIBHA_STUB_WNS=-0.25 run_tcl timing params="$params"
if [ "$rc" -ne 0 ] && grep -q 'timing not met at 200 MHz (WNS -0.25 ns' "$out"; then
    pass "build.tcl refuses a bitstream with negative slack"
else
    fail "timing check (rc $rc)" "$out"
fi
FIBHA_STUB_WNS=-0.25 run_tcl timing-allowed params="$params" allow_timing_violation=1
if [ "$rc" -eq 0 ]; then
    pass "allow_timing_violation=1 keeps it"
else
    fail "allow_timing_violation=1 (rc $rc)" "$out"
fi
FIBHA_STUB_BOARD_PARTS="xilinx.com:zcu102:part0:3.5" run_tcl board-fallback params="$params" step=bd
if [ "$rc" -eq 0 ] && grep -q 'using xilinx.com:zcu102:part0:3.5' "$out" &&
    grep -q 'set_property board_part xilinx.com:zcu102:part0:3.5' "$log"; then
    pass "an installed ZCU102 board part of another version is used, with a note"
else
    fail "board part fallback (rc $rc)" "$out"
fi
FIBHA_STUB_BOARD_PARTS="" run_tcl no-board params="$params" step=bd
if [ "$rc" -ne 0 ] && grep -q 'no ZCU102 board files installed' "$out"; then
    pass "build.tcl stops when no ZCU102 board files are installed"
else
    fail "missing board files (rc $rc)" "$out"
fi

# 6. The Makefile: early failures, tool checks, and bin/dtbo/manifest/firmware with fake tools.
mk() {
    rc=0
    make --no-print-directory -C "$zcu" "$@" >"$work/make.out" 2>&1 || rc=$?
}
mk check PARAMS="$params" VIVADO=fibha-no-such-vivado
if [ "$rc" -ne 0 ] && grep -q "'fibha-no-such-vivado' not found on PATH" "$work/make.out"; then
    pass "make check fails early when Vivado is not on PATH"
else
    fail "make check without Vivado (rc $rc)" "$work/make.out"
fi
mk check PARAMS="$work/none/params.tcl"
if [ "$rc" -ne 0 ] && grep -q "params file '$work/none/params.tcl' not found" "$work/make.out"; then
    pass "make check names a missing params file"
else
    fail "make check, missing params (rc $rc)" "$work/make.out"
fi
mk check PARAMS="$params" PART=xczu3eg-sbva484-1-e
if [ "$rc" -ne 0 ] && grep -q 'the ZCU102 carries xczu9eg-ffvb1156-2-e' "$work/make.out"; then
    pass "make check refuses another part"
else
    fail "make check, wrong part (rc $rc)" "$work/make.out"
fi
mk check PARAMS="$params" IP_REPO="$work/nowhere"
if [ "$rc" -ne 0 ] && grep -q 'HLS IP export not found' "$work/make.out"; then
    pass "make check reports a missing HLS export through build.tcl"
else
    fail "make check, missing HLS export (rc $rc)" "$work/make.out"
fi

fake="$work/fakebin"
mkdir -p "$fake"
printf '#!/bin/sh\necho "fake vivado must not run in this test" >&2\nexit 1\n' >"$fake/vivado"
# Fake bootgen: the real one writes <bit>.bin next to the .bit named in the .bif.
cat >"$fake/bootgen" <<'FAKE'
#!/bin/sh
set -e
bit=$(sed -n 's/.*\] *\([^ ]*\.bit\)$/\1/p' fibha.bif)
cp "$bit" "$bit.bin"
FAKE
chmod +x "$fake/vivado" "$fake/bootgen"
echo "stub bitstream" >"$good/bitstream/fibha.bit"
rc=0
PATH="$fake:$PATH" make --no-print-directory -C "$zcu" firmware PARAMS="$params" >"$work/make.out" 2>&1 || rc=$?
manifest="$good/bitstream/firmware/fibha.manifest.json"
if [ "$rc" -eq 0 ] && python3 - "$manifest" "$good/bitstream/firmware" <<'PY' 2>"$work/manifest.err"
import hashlib, json, os, sys
m = json.load(open(sys.argv[1]))
fw = sys.argv[2]
assert m["format"] == "fibha-bitstream-manifest/1", m
assert m["part"] == "xczu9eg-ffvb1156-2-e" and m["clock_mhz"] == 200 and m["hp_ports"] == 4, m
assert m["plan_hash"] == "0123456789abcdef" * 4, m
for key, name in (("bitstream", "fibha.bit.bin"), ("overlay", "fibha.dtbo")):
    assert m[key] == name, m
    digest = hashlib.sha256(open(os.path.join(fw, name), "rb").read()).hexdigest()
    assert m[key + "_sha256"] == digest, (key, m)
assert open(os.path.join(fw, "fibha.dtbo"), "rb").read(4) == bytes.fromhex("d00dfeed")
PY
then
    pass "make firmware: bootgen step, dtc -@ overlay, manifest with plan hash and sha256s"
else
    fail "make firmware with fake tools (rc $rc)" "$work/make.out"
    sed 's/^/       | /' "$work/manifest.err"
fi

# 7. The shipped example overlay compiles; every script passes shellcheck.
if dtc -@ -I dts -O dtb -o "$work/example.dtbo" "$zcu/fibha-example.dtso" 2>"$work/dtc.err" && [ ! -s "$work/dtc.err" ]; then
    pass "fibha-example.dtso compiles with dtc -@ without warnings"
else
    fail "fibha-example.dtso with dtc" "$work/dtc.err"
fi
if command -v shellcheck >/dev/null 2>&1; then
    if shellcheck "$zcu"/scripts/*.sh "$here"/*.sh >"$work/sc.out" 2>&1; then
        pass "shellcheck: bitstreams/zcu102 scripts"
    else
        fail "shellcheck" "$work/sc.out"
    fi
else
    echo "note - shellcheck not installed, shell scripts not linted"
fi

echo "bitstreams/zcu102: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
