# The fibha runtime from a binary cross-built outside Yocto (cargo build --release --target
# aarch64-unknown-linux-gnu, see the README), for toolchains whose Rust is older than the
# workspace needs. The binary must link against a glibc no newer than the image's (2.36 in
# langdale), or be static (aarch64-unknown-linux-musl).

require fibha.inc

FIBHA_PREBUILT_BIN ??= ""
FIBHA_PREBUILT_BIN[doc] = "Path of an aarch64 fibha executable to install as /usr/bin/fibha."

# nooelint: oelint.task.noanonpython
python () {
    path = d.getVar('FIBHA_PREBUILT_BIN')
    if not path:
        raise bb.parse.SkipRecipe("FIBHA_PREBUILT_BIN is not set: point it at a cross-built aarch64 fibha binary")
    if not os.path.isfile(path):
        raise bb.parse.SkipRecipe("FIBHA_PREBUILT_BIN '%s' does not exist" % path)
    d.appendVarFlag('do_install', 'file-checksums', ' %s:True' % path)
}

# Nothing to fetch: the binary is installed from FIBHA_PREBUILT_BIN, the assets from the checkout.
SRC_URI = ""
S = "${WORKDIR}"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    # An ELF for AArch64 (e_machine 0xb7 at offset 18), nothing else.
    magic=$(od -An -tx1 -N4 "${FIBHA_PREBUILT_BIN}" | tr -d ' \n')
    machine=$(od -An -tx1 -j18 -N2 "${FIBHA_PREBUILT_BIN}" | tr -d ' \n')
    if [ "$magic" != "7f454c46" ] || [ "$machine" != "b700" ]; then
        bbfatal "fibha-prebuilt: ${FIBHA_PREBUILT_BIN} is not an AArch64 ELF executable"
    fi
    install -d ${D}${bindir}
    install -m 0755 "${FIBHA_PREBUILT_BIN}" ${D}${bindir}/fibha
    fibha_install_assets
}

# Built outside Yocto: not with its LDFLAGS, possibly stripped already.
# nooelint: oelint.vars.insaneskip
INSANE_SKIP:${PN} += "ldflags already-stripped"
FILES:${PN} += "${datadir}/fibha"
RCONFLICTS:${PN} = "fibha"
