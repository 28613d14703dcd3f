SUMMARY = "fibha accelerator firmware: bitstream, device-tree overlay and manifest"
DESCRIPTION = "Installs fibha.bit.bin, fibha.dtbo and fibha.manifest.json into \
/lib/firmware/xilinx/fibha, the layout fpgautil and dfx-mgr use. The files are the output \
of `make -C bitstreams/zcu102 firmware`; the manifest carries the plan hash the runtime \
checks against the weight bundle."
HOMEPAGE = "https://example.invalid/fibha"
SECTION = "kernel"
LICENSE = "Apache-2.0"
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

FIBHA_FIRMWARE_FILES = "fibha.bit.bin fibha.dtbo fibha.manifest.json"

# Skipped (with the reason shown to whoever asks for it) unless FIBHA_FIRMWARE_DIR holds all
# three files.
# The recipe is skipped, with its reason, where the firmware is missing.
# nooelint: oelint.task.noanonpython
python () {
    fwdir = d.getVar('FIBHA_FIRMWARE_DIR')
    if not fwdir:
        raise bb.parse.SkipRecipe("FIBHA_FIRMWARE_DIR is not set: build the bitstream with "
                                  "`make -C bitstreams/zcu102 firmware PARAMS=...` and set "
                                  "FIBHA_FIRMWARE_DIR to its OUT_DIR/firmware")
    missing = [f for f in d.getVar('FIBHA_FIRMWARE_FILES').split()
               if not os.path.isfile(os.path.join(fwdir, f))]
    if missing:
        raise bb.parse.SkipRecipe("FIBHA_FIRMWARE_DIR '%s' lacks %s (expected the output of "
                                  "`make -C bitstreams/zcu102 firmware`)" % (fwdir, ", ".join(missing)))
}

# The files live outside the layer, wherever the bitstream build put them.
# nooelint: oelint.vars.fileextrapaths, oelint.vars.outofcontext
FILESEXTRAPATHS:prepend := "${FIBHA_FIRMWARE_DIR}:"
SRC_URI = " \
    file://fibha.bit.bin \
    file://fibha.dtbo \
    file://fibha.manifest.json \
"

S = "${WORKDIR}"

inherit allarch

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${nonarch_base_libdir}/firmware/xilinx/fibha
    for f in ${FIBHA_FIRMWARE_FILES}; do
        install -m 0644 ${WORKDIR}/$f ${D}${nonarch_base_libdir}/firmware/xilinx/fibha/$f
    done
}

FILES:${PN} += "${nonarch_base_libdir}/firmware/xilinx/fibha"
