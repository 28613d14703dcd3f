SUMMARY = "fibha accelerator instance: bitstream, overlay, weight bundle, plan and model"
DESCRIPTION = "Installs a build directory of `fibha-compile build`, completed by \
`make -C bitstreams/zcu102 firmware` (bitstream/firmware/: fibha.bit.bin, fibha.dtbo, \
fibha.manifest.json), as /usr/share/fibha/instances/FIBHA_INSTANCE_NAME, where \
`fibha classify` looks when no --model is given. The runtime loads the bitstream and applies \
the overlay itself; the virtual board's files (vboard/, host executables) are left out."
HOMEPAGE = "https://example.invalid/fibha"
SECTION = "apps"
LICENSE = "Apache-2.0"
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

# The files a board needs, relative to the build directory (fibha_model::manifest::layout).
FIBHA_INSTANCE_FILES = "manifest.json plan.json model.fibha model.tflite \
    bitstream/firmware/fibha.bit.bin bitstream/firmware/fibha.dtbo \
    bitstream/firmware/fibha.manifest.json"

# Skipped, with the reason shown to whoever asks for it, unless FIBHA_INSTANCE_DIR is a
# complete build directory.
# nooelint: oelint.task.noanonpython
python () {
    dir = d.getVar('FIBHA_INSTANCE_DIR')
    if not dir:
        raise bb.parse.SkipRecipe("FIBHA_INSTANCE_DIR is not set: point it at a build directory of "
                                  "`fibha-compile build MODEL --board zcu102 -o DIR` after "
                                  "`make -C bitstreams/zcu102 firmware PARAMS=DIR/vivado/params.tcl`")
    missing = [f for f in d.getVar('FIBHA_INSTANCE_FILES').split()
               if not os.path.isfile(os.path.join(dir, f))]
    if missing:
        raise bb.parse.SkipRecipe("FIBHA_INSTANCE_DIR '%s' lacks %s (bitstream/firmware/ comes from "
                                  "`make -C bitstreams/zcu102 firmware PARAMS=%s/vivado/params.tcl`)"
                                  % (dir, ", ".join(missing), dir))
    d.appendVarFlag('do_install', 'file-checksums', ' %s/*:True' % dir)
}

# Nothing to fetch: the directory is installed from FIBHA_INSTANCE_DIR.
SRC_URI = ""
S = "${WORKDIR}"

inherit allarch

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    dest=${D}${datadir}/fibha/instances/${FIBHA_INSTANCE_NAME}
    install -d "$dest"
    cp -R --no-dereference --preserve=mode "${FIBHA_INSTANCE_DIR}/." "$dest/"
    # The virtual board's kernel and descriptor are host executables and files; the board
    # loads bitstream/firmware/ instead.
    rm -rf "$dest/vboard"
    chown -R root:root "$dest"
}

FILES:${PN} += "${datadir}/fibha/instances"
