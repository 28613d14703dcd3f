#!/usr/bin/env bash
# Checks petalinux/ without PetaLinux: shellcheck on every script, the BitBake recipes through
# oelint-adv (when installed), the crate list against Cargo.lock, the layer's own invariants,
# and scripts/petalinux-steps.sh against fake petalinux-* tools (inputs refused, steps in
# order, configuration written). Prints one line per check and "N passed, M failed";
# exits non-zero on any failure.
#
# oelint-adv: pip install oelint-adv (PyPI), or point OELINT_ADV at its executable.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
layer="$here/meta-fibha"
repo=$(dirname "$here")
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

note() {
    echo "note - $1"
}

recipes=()
while IFS= read -r f; do recipes+=("$f"); done < <(find "$layer" -name '*.bb' -o -name '*.bbappend' -o -name '*.inc' | sort)
scripts=("$here/check.sh" "$layer/scripts/petalinux-steps.sh")

# 1. Shell scripts.
if command -v shellcheck >/dev/null 2>&1; then
    if shellcheck "${scripts[@]}" >"$work/sc.out" 2>&1; then
        pass "shellcheck: ${#scripts[@]} scripts"
    else
        fail "shellcheck" "$work/sc.out"
    fi
else
    note "shellcheck not installed: shell scripts not linted"
fi

# 2. Recipes through the linter, for Yocto langdale (PetaLinux 2023.2). The HOMEPAGE
# reachability rule is off: it needs the network. Rules that do not apply to a line are
# suppressed on that line with a `# nooelint:` comment saying why.
oelint=${OELINT_ADV:-$(command -v oelint-adv || true)}
if [ -n "$oelint" ]; then
    rc=0
    "$oelint" --quiet --release langdale --hide info --suppress oelint.vars.homepageping \
        "${recipes[@]}" >"$work/oelint.out" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ] && [ ! -s "$work/oelint.out" ]; then
        pass "oelint-adv (langdale): ${#recipes[@]} recipe files, no warnings or errors"
    else
        fail "oelint-adv (rc $rc)" "$work/oelint.out"
    fi
else
    note "oelint-adv not installed (pip install oelint-adv): recipes not linted"
fi

# 3. The crate list matches Cargo.lock.
if python3 "$layer/scripts/gen-crate-uris.py" --check >"$work/crates.out" 2>&1; then
    pass "fibha-crates.inc matches Cargo.lock"
else
    fail "fibha-crates.inc is stale" "$work/crates.out"
fi

# 4. Layer invariants the linter does not know.
if python3 - "$layer" "$repo" >"$work/layer.out" 2>&1 <<'PY'
import pathlib, re, sys
layer, repo = map(pathlib.Path, sys.argv[1:3])
problems = []
conf = (layer / "conf/layer.conf").read_text()
if not re.search(r'^LAYERSERIES_COMPAT_fibha = "langdale"$', conf, re.M):
    problems.append("layer.conf: LAYERSERIES_COMPAT_fibha is not langdale (PetaLinux 2023.2)")
for name in ("FIBHA_CMA", "FIBHA_INSTANCE_DIR", "FIBHA_INSTANCE_NAME", "FIBHA_REPO_DIR",
             "FIBHA_KERNEL_BOOTARGS", "FIBHA_RUNTIME_PACKAGE"):
    if not re.search(rf"^{name} \?\??=", conf, re.M):
        problems.append(f"layer.conf: no default for {name}")
if not re.search(r'^FIBHA_RUNTIME_PACKAGE \?\?= "fibha-prebuilt"$', conf, re.M):
    problems.append("layer.conf: the default runtime is not the cross-built one (langdale's Rust is too old)")
if 'FIBHA_INSTANCE_NAME ??= "mobilenet_v2_zcu102"' not in conf:
    problems.append("layer.conf: FIBHA_INSTANCE_NAME is not the runtime's default instance")
if "uio_pdrv_genirq.of_id=generic-uio" not in conf:
    problems.append("layer.conf: FIBHA_KERNEL_BOOTARGS lacks uio_pdrv_genirq.of_id=generic-uio")
for bb in sorted(layer.glob("recipes-*/*/*.bb")):
    text = bb.read_text()
    for var in ("SUMMARY", "LICENSE", "LIC_FILES_CHKSUM"):
        if not re.search(rf"^{var} =", text, re.M) and "require fibha.inc" not in text:
            problems.append(f"{bb.name}: {var} not set")
    if "_" not in bb.stem:
        problems.append(f"{bb.name}: no version in the file name")
    # Local files named in SRC_URI exist next to the recipe.
    for local in re.findall(r"^(?!LIC_FILES_CHKSUM).*?file://([A-Za-z0-9_.-]+)", text, re.M):
        if not (bb.parent / "files" / local).is_file():
            problems.append(f"{bb.name}: file://{local} not in {bb.parent.name}/files")
udmabuf = (layer / "recipes-kernel/u-dma-buf/u-dma-buf_5.4.2.bb").read_text()
if not re.search(r'^SRCREV = "[0-9a-f]{40}"$', udmabuf, re.M):
    problems.append("u-dma-buf: SRCREV is not a pinned commit")
modprobe = (layer / "recipes-kernel/fibha-kmod-conf/files/fibha-modprobe.conf").read_text()
if "options uio_pdrv_genirq of_id=generic-uio" not in modprobe:
    problems.append("fibha-modprobe.conf: no of_id=generic-uio option")
instance = (layer / "recipes-apps/fibha-instance/fibha-instance_1.0.bb").read_text()
# The instance recipe installs where the runtime looks and what the layout names
# (fibha_model::manifest::layout, the one definition of a build directory).
layout = (repo / "runtime/model/src/manifest.rs").read_text()
default = (repo / "runtime/fibha/src/assets.rs").read_text()
if "${datadir}/fibha/instances/${FIBHA_INSTANCE_NAME}" not in instance:
    problems.append("fibha-instance: not installed under /usr/share/fibha/instances")
if 'DEFAULT_INSTANCE: &str = "instances/mobilenet_v2_zcu102"' not in default:
    problems.append("runtime/fibha/src/assets.rs: the default instance is not instances/mobilenet_v2_zcu102")
for name in ("bitstream/firmware/fibha.bit.bin", "bitstream/firmware/fibha.dtbo",
             "bitstream/firmware/fibha.manifest.json", "manifest.json", "plan.json", "model.fibha"):
    if name not in instance:
        problems.append(f"fibha-instance: does not install {name}")
    if f'"{name}"' not in layout:
        problems.append(f"fibha_model::manifest::layout does not name {name}")
if 'rm -rf "$dest/vboard"' not in instance:
    problems.append("fibha-instance: the virtual board's host executables would reach the image")
if "rm -rf ${D}${datadir}/fibha/instances" not in (layer / "recipes-apps/fibha/fibha.inc").read_text():
    problems.append("fibha.inc: assets/instances (a host build) would reach the image")
for name in ("fibha.bit.bin", "fibha.dtbo", "fibha.manifest.json"):
    if name not in (repo / "bitstreams/zcu102/Makefile").read_text():
        problems.append(f"bitstreams/zcu102/Makefile: does not produce {name}")
if 'BOARD_DIR: &str = "bitstream"' not in layout or "out = layout::BOARD_DIR" not in (repo / "tools/compiler/src/build.rs").read_text():
    problems.append("build.rs: vivado/params.tcl's out_dir is not the layout's bitstream/")
if not (repo / "assets/imagenet_labels.txt").is_file():
    problems.append("assets/imagenet_labels.txt missing: the runtime recipes install assets/")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
then
    pass "layer invariants: langdale, defaults, licences, local files, pinned u-dma-buf, instance layout"
else
    fail "layer invariants" "$work/layer.out"
fi

# 5. scripts/petalinux-steps.sh against fake petalinux-* tools.
steps="$layer/scripts/petalinux-steps.sh"
fake="$work/fake"
mkdir -p "$fake"
for tool in petalinux-create petalinux-config petalinux-build petalinux-package; do
    cat >"$fake/$tool" <<'TOOL'
#!/bin/sh
# Fake PetaLinux tool for petalinux/check.sh: logs its arguments, makes the files the real
# one would, so petalinux-steps.sh can run to the end.
set -e
tool=$(basename "$0")
echo "$tool $*" >>"$FAKE_PETALINUX_LOG"
case $tool in
petalinux-create)
    while [ $# -gt 0 ]; do [ "$1" = -n ] && name=$2; shift; done
    mkdir -p "$name/project-spec/configs" "$name/project-spec/meta-user/conf"
    printf 'CONFIG_SUBSYSTEM_BOOTARGS_AUTO=y\nCONFIG_SUBSYSTEM_FPGA_MANAGER=n\n' >"$name/project-spec/configs/config"
    : >"$name/project-spec/meta-user/conf/petalinuxbsp.conf"
    ;;
petalinux-build)
    mkdir -p images/linux
    for f in zynqmp_fsbl.elf pmufw.elf u-boot.elf bl31.elf system.dtb boot.scr image.ub system.bit; do
        echo "$f" >"images/linux/$f"
    done
    ;;
petalinux-package)
    echo BOOT >images/linux/BOOT.BIN
    ;;
esac
TOOL
    chmod +x "$fake/$tool"
done
inst="$work/instance"
fw="$inst/bitstream/firmware"
mkdir -p "$fw" "$work/sd"
echo bit >"$fw/fibha.bit.bin"
echo dtbo >"$fw/fibha.dtbo"
printf '{"plan_hash": "%s"}\n' 0123456789abcdef >"$fw/fibha.manifest.json"
printf '{\n  "plan_hash": "%s"\n}\n' 0123456789abcdef >"$inst/manifest.json"
echo xsa >"$work/fibha.xsa"
printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\002\000\267\000' >"$work/fibha-aarch64"

run_steps() {
    rc=0
    (cd "$work" && FAKE_PETALINUX_LOG="$work/pl.log" "$@" >"$work/steps.out" 2>&1) || rc=$?
}
expect_refusal() {
    local what=$1 message=$2
    shift 2
    run_steps "$@"
    if [ "$rc" -ne 0 ] && grep -qF -- "$message" "$work/steps.out" && [ ! -s "$work/pl.log" ]; then
        pass "petalinux-steps.sh refuses: $what"
    else
        fail "petalinux-steps.sh refuses: $what (rc $rc, expected: $message)" "$work/steps.out"
    fi
}

: >"$work/pl.log"
expect_refusal "no PetaLinux tools" "'petalinux-create' not found" \
    env PATH="/usr/bin:/bin" "$steps" --xsa "$work/fibha.xsa" --instance "$inst" --prebuilt "$work/fibha-aarch64"
expect_refusal "missing XSA" "XSA '$work/none.xsa' not found" \
    env PATH="$fake:$PATH" "$steps" --xsa "$work/none.xsa" --instance "$inst" --prebuilt "$work/fibha-aarch64"
mkdir -p "$work/partial/bitstream/firmware"
cp "$inst/manifest.json" "$work/partial/"
cp "$fw/fibha.bit.bin" "$work/partial/bitstream/firmware/"
expect_refusal "incomplete firmware" "lacks fibha.dtbo: run make -C bitstreams/zcu102 firmware" \
    env PATH="$fake:$PATH" "$steps" --xsa "$work/fibha.xsa" --instance "$work/partial" --prebuilt "$work/fibha-aarch64"
cp "$fw/fibha.dtbo" "$work/partial/bitstream/firmware/"
printf '{"plan_hash": "%s"}\n' fedcba9876543210 >"$work/partial/bitstream/firmware/fibha.manifest.json"
expect_refusal "a bitstream of another plan" "was built for plan fedcba9876543210, the instance is plan 0123456789abcdef" \
    env PATH="$fake:$PATH" "$steps" --xsa "$work/fibha.xsa" --instance "$work/partial" --prebuilt "$work/fibha-aarch64"
expect_refusal "no runtime given" "--prebuilt PATH is required" \
    env PATH="$fake:$PATH" "$steps" --xsa "$work/fibha.xsa" --instance "$inst"
expect_refusal "bad CMA size" "--cma 'lots' is not a size" \
    env PATH="$fake:$PATH" "$steps" --xsa "$work/fibha.xsa" --instance "$inst" --prebuilt "$work/fibha-aarch64" --cma lots
expect_refusal "non-AArch64 prebuilt binary" "is not an AArch64 executable" \
    env PATH="$fake:$PATH" "$steps" --xsa "$work/fibha.xsa" --instance "$inst" --prebuilt "$(command -v sh)"

run_steps env PATH="$fake:$PATH" "$steps" --xsa "$work/fibha.xsa" --instance "$inst" --prebuilt "$work/fibha-aarch64" \
    --project "$work/proj" --cma 768M --sd-boot "$work/sd"
config="$work/proj/project-spec/configs/config"
bsp="$work/proj/project-spec/meta-user/conf/petalinuxbsp.conf"
order=$(cut -d' ' -f1-2 "$work/pl.log" | tr '\n' '|')
want="petalinux-create -t|petalinux-config --get-hw-description|petalinux-config --silentconfig|petalinux-build |petalinux-package --boot|"
if [ "$rc" -eq 0 ] && [ "$order" = "$want" ] &&
    ! grep -q -- '--fpga' "$work/pl.log" &&
    grep -qx "CONFIG_USER_LAYER_0=\"$layer\"" "$config" &&
    grep -qx 'CONFIG_SUBSYSTEM_FPGA_MANAGER=y' "$config" &&
    grep -qx '# CONFIG_SUBSYSTEM_BOOTARGS_AUTO is not set' "$config" &&
    grep -q '^CONFIG_SUBSYSTEM_USER_CMDLINE=".*uio_pdrv_genirq.of_id=generic-uio cma=768M"$' "$config" &&
    [ "$(grep -c '^CONFIG_SUBSYSTEM_FPGA_MANAGER' "$config")" -eq 1 ] &&
    grep -qx "FIBHA_INSTANCE_DIR = \"$inst\"" "$bsp" && grep -qx 'FIBHA_CMA = "768M"' "$bsp" &&
    grep -qx 'FIBHA_RUNTIME_PACKAGE = "fibha-prebuilt"' "$bsp" &&
    grep -qx "FIBHA_PREBUILT_BIN = \"$work/fibha-aarch64\"" "$bsp" &&
    [ -f "$work/sd/BOOT.BIN" ] && [ -f "$work/sd/boot.scr" ] && [ -f "$work/sd/image.ub" ]; then
    pass "petalinux-steps.sh: create, import XSA, configure layer/FPGA manager/bootargs/instance/runtime, build, package without a bitstream, SD"
else
    fail "petalinux-steps.sh full run (rc $rc; steps: $order)" "$work/steps.out"
fi
# A second run reuses the project and does not pile up settings.
: >"$work/pl.log"
run_steps env PATH="$fake:$PATH" "$steps" --xsa "$work/fibha.xsa" --instance "$inst" --from-source --project "$work/proj"
if [ "$rc" -eq 0 ] && ! grep -q petalinux-create "$work/pl.log" &&
    grep -qx 'FIBHA_RUNTIME_PACKAGE = "fibha"' "$bsp" && ! grep -q FIBHA_PREBUILT_BIN "$bsp" &&
    [ "$(grep -c '^# fibha begin' "$bsp")" -eq 1 ] && [ "$(grep -c '^CONFIG_SUBSYSTEM_USER_CMDLINE' "$config")" -eq 1 ] &&
    grep -q 'cma=512M"$' "$config"; then
    pass "petalinux-steps.sh: rerun (--from-source) reuses the project and replaces its settings"
else
    fail "petalinux-steps.sh rerun (rc $rc)" "$work/steps.out"
fi

echo "petalinux: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
