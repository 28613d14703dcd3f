SUMMARY = "fibha on the board: runtime, accelerator instance, u-dma-buf and kernel settings"
DESCRIPTION = "Everything the fibha command needs on a ZCU102: the runtime (built or \
prebuilt, FIBHA_RUNTIME_PACKAGE), the accelerator instance (bitstream, overlay, bundle), the \
u-dma-buf module and the \
uio_pdrv_genirq settings."
SECTION = "base"
LICENSE = "Apache-2.0"
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

inherit packagegroup

RDEPENDS:${PN} = "\
    ${FIBHA_RUNTIME_PACKAGE} \
    fibha-instance \
    fibha-kmod-conf \
    u-dma-buf \
"
