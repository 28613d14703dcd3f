#!/usr/bin/env bash
# The PetaLinux 2023.2 steps that turn fibha's Vivado output into a bootable ZCU102 SD card:
# create the project, import the XSA, add meta-fibha, set the kernel command line, build,
# package BOOT.BIN and copy the boot files to the SD card's FAT32 partition.
#
#   petalinux-steps.sh --xsa DIR/bitstream/fibha.xsa --instance DIR \
#       (--prebuilt PATH | --from-source) [--project P] [--cma 512M] [--sd-boot MOUNTPOINT]
#
#   --xsa          hardware description written by bitstreams/zcu102/build.tcl
#   --instance     the build directory of `fibha-compile build`, with the firmware set that
#                  `make -C bitstreams/zcu102 firmware` writes to DIR/bitstream/firmware/;
#                  installed as /usr/share/fibha/instances/mobilenet_v2_zcu102
#   --prebuilt     the runtime, cross-built for aarch64 (cargo build --release -p fibha
#                  --target aarch64-unknown-linux-gnu): the default way, since PetaLinux
#                  2023.2's Rust is older than the workspace's rust-version
#   --from-source  build the runtime with BitBake instead (needs a newer Rust layer)
#   --project      PetaLinux project directory to create or reuse (default ./fibha-zcu102)
#   --cma          CMA size for the kernel command line (default 512M; the overlay
#                  generator says when the plan's buffers need more)
#   --sd-boot      mounted FAT32 boot partition of the SD card: BOOT.BIN, boot.scr and
#                  image.ub are copied there
#
# BOOT.BIN carries no bitstream: `fibha` loads its instance's bitstream and overlay itself.
#
# Source PetaLinux's settings.sh first. Every input is checked before anything is built.
set -euo pipefail

layer=$(cd "$(dirname "$0")/.." && pwd)
project=./fibha-zcu102
xsa=""
instance=""
cma=512M
prebuilt=""
from_source=""
sd_boot=""

die() {
    echo "petalinux-steps.sh: $*" >&2
    exit 2
}

step() {
    echo "==> $*"
}

usage() {
    sed -n '2,27s/^# \{0,1\}//p' "$0"
    exit "${1:-0}"
}

while [ $# -gt 0 ]; do
    case $1 in
        --xsa) xsa=${2:-}; shift 2 ;;
        --instance) instance=${2:-}; shift 2 ;;
        --project) project=${2:-}; shift 2 ;;
        --cma) cma=${2:-}; shift 2 ;;
        --prebuilt) prebuilt=${2:-}; shift 2 ;;
        --from-source) from_source=1; shift ;;
        --sd-boot) sd_boot=${2:-}; shift 2 ;;
        -h | --help) usage 0 ;;
        *) echo "petalinux-steps.sh: unknown argument '$1'" >&2; usage 2 ;;
    esac
done

# --- inputs and tools, all checked before the first PetaLinux command -------------------
for tool in petalinux-create petalinux-config petalinux-build petalinux-package; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "'$tool' not found: install PetaLinux 2023.2 and source its settings.sh"
done
if [ -n "${PETALINUX_VER:-}" ] && [ "${PETALINUX_VER}" != "2023.2" ]; then
    echo "petalinux-steps.sh: WARNING: meta-fibha is written for PetaLinux 2023.2 (langdale), this is ${PETALINUX_VER}" >&2
fi
[ -n "$xsa" ] || die "--xsa is required (bitstreams/zcu102 writes OUT_DIR/fibha.xsa)"
[ -f "$xsa" ] || die "XSA '$xsa' not found: run make -C bitstreams/zcu102 bitstream first"
case $xsa in *.xsa) ;; *) die "'$xsa' is not an .xsa file" ;; esac
[ -n "$instance" ] || die "--instance is required (the build directory of fibha-compile build)"
[ -s "$instance/manifest.json" ] || die "'$instance' is not a build directory of fibha-compile build (no manifest.json)"
firmware="$instance/bitstream/firmware"
for f in fibha.bit.bin fibha.dtbo fibha.manifest.json; do
    [ -s "$firmware/$f" ] ||
        die "'$firmware' lacks $f: run make -C bitstreams/zcu102 firmware PARAMS=$instance/vivado/params.tcl"
done
plan_hash() { sed -n 's/.*"plan_hash": *"\([0-9a-f]*\)".*/\1/p' "$1" | head -n 1; }
[ -n "$(plan_hash "$firmware/fibha.manifest.json")" ] ||
    die "$firmware/fibha.manifest.json carries no plan hash: rebuild it with make ... manifest"
[ "$(plan_hash "$firmware/fibha.manifest.json")" = "$(plan_hash "$instance/manifest.json")" ] ||
    die "the bitstream in $firmware was built for plan $(plan_hash "$firmware/fibha.manifest.json"), the instance is plan $(plan_hash "$instance/manifest.json"): rebuild the firmware from this build directory"
printf '%s' "$cma" | grep -Eq '^[0-9]+[KMG]$' || die "--cma '$cma' is not a size such as 512M"
if [ -n "$prebuilt" ] && [ -n "$from_source" ]; then
    die "give --prebuilt PATH or --from-source, not both"
fi
if [ -z "$prebuilt" ] && [ -z "$from_source" ]; then
    die "--prebuilt PATH is required (cargo build --release -p fibha --target aarch64-unknown-linux-gnu), or --from-source with a Rust layer of at least the workspace's rust-version"
fi
if [ -n "$prebuilt" ]; then
    [ -f "$prebuilt" ] || die "--prebuilt '$prebuilt' not found"
    [ "$(od -An -tx1 -j18 -N2 "$prebuilt" | tr -d ' \n')" = "b700" ] ||
        die "--prebuilt '$prebuilt' is not an AArch64 executable"
fi
if [ -n "$sd_boot" ]; then
    if [ ! -d "$sd_boot" ] || [ ! -w "$sd_boot" ]; then
        die "--sd-boot '$sd_boot' is not a writable directory (mount the SD card's FAT32 partition)"
    fi
fi
abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }
xsa=$(abs "$xsa")
instance=$(cd "$instance" && pwd)
[ -n "$prebuilt" ] && prebuilt=$(abs "$prebuilt")

# --- project -------------------------------------------------------------------------------
if [ -d "$project/project-spec" ]; then
    step "reusing PetaLinux project $project"
else
    step "petalinux-create -t project --template zynqMP -n $(basename "$project")"
    (cd "$(dirname "$project")" && petalinux-create -t project --template zynqMP -n "$(basename "$project")")
fi
project=$(cd "$project" && pwd)
cd "$project"

step "petalinux-config --get-hw-description $xsa"
petalinux-config --get-hw-description "$xsa" --silentconfig

# Project configuration: the ZCU102 board device tree (it carries the INA226 power monitors),
# the FPGA manager (base device tree with symbols, fpgautil), meta-fibha as a user layer,
# and fibha's kernel command line.
config="project-spec/configs/config"
[ -f "$config" ] || die "$project has no $config: is it a PetaLinux project?"
set_config() {
    local key=$1 value=$2
    sed -i "/^$key=/d; /^# $key is not set/d" "$config"
    echo "$key=$value" >>"$config"
}
bootargs="earlycon console=ttyPS0,115200 clk_ignore_unused root=/dev/ram0 rw uio_pdrv_genirq.of_id=generic-uio cma=$cma"
set_config CONFIG_SUBSYSTEM_MACHINE_NAME '"zcu102-rev1.0"'
set_config CONFIG_SUBSYSTEM_FPGA_MANAGER y
set_config CONFIG_USER_LAYER_0 "\"$layer\""
sed -i '/^CONFIG_SUBSYSTEM_BOOTARGS_AUTO=/d' "$config"
echo '# CONFIG_SUBSYSTEM_BOOTARGS_AUTO is not set' >>"$config"
set_config CONFIG_SUBSYSTEM_USER_CMDLINE "\"$bootargs\""

# meta-fibha's variables, in the project's local configuration.
bsp_conf="project-spec/meta-user/conf/petalinuxbsp.conf"
[ -f "$bsp_conf" ] || die "$project has no $bsp_conf"
sed -i '/^# fibha begin$/,/^# fibha end$/d' "$bsp_conf"
{
    echo "# fibha begin"
    echo "FIBHA_INSTANCE_DIR = \"$instance\""
    echo "FIBHA_CMA = \"$cma\""
    if [ -n "$prebuilt" ]; then
        echo 'FIBHA_RUNTIME_PACKAGE = "fibha-prebuilt"'
        echo "FIBHA_PREBUILT_BIN = \"$prebuilt\""
    else
        echo 'FIBHA_RUNTIME_PACKAGE = "fibha"'
    fi
    echo "# fibha end"
} >>"$bsp_conf"

step "petalinux-config --silentconfig (apply the settings above)"
petalinux-config --silentconfig

step "petalinux-build"
petalinux-build

# --- boot image ------------------------------------------------------------------------------
images=images/linux
for f in zynqmp_fsbl.elf pmufw.elf u-boot.elf bl31.elf system.dtb boot.scr image.ub; do
    [ -f "$images/$f" ] || die "petalinux-build did not produce $images/$f"
done
# No --fpga: the PL stays unprogrammed at boot and `fibha` loads its instance's bitstream
# and overlay (one owner of the fabric; a bitstream in BOOT.BIN would be a second).
step "petalinux-package --boot"
petalinux-package --boot --fsbl "$images/zynqmp_fsbl.elf" \
    --pmufw "$images/pmufw.elf" --atf "$images/bl31.elf" --u-boot "$images/u-boot.elf" \
    --dtb "$images/system.dtb" --force
[ -f "$images/BOOT.BIN" ] || die "petalinux-package did not write $images/BOOT.BIN"

if [ -n "$sd_boot" ]; then
    step "copying BOOT.BIN, boot.scr, image.ub to $sd_boot"
    cp "$images/BOOT.BIN" "$images/boot.scr" "$images/image.ub" "$sd_boot/"
    sync
    echo "SD card ready: set SW6 to SD boot (1 ON, 2 OFF, 3 OFF, 4 OFF) and power-cycle the ZCU102."
else
    echo "Boot files in $project/$images: copy BOOT.BIN, boot.scr and image.ub to the SD card's FAT32 partition."
fi
