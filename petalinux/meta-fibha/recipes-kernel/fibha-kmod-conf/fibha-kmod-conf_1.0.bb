SUMMARY = "Kernel module options and autoload list for the fibha accelerator"
DESCRIPTION = "Loads uio_pdrv_genirq at boot and gives it \
of_id=generic-uio, so the generic-uio node of fibha's overlay binds to it. The kernel \
command line (FIBHA_KERNEL_BOOTARGS) carries the same setting for kernels with the driver \
built in."
HOMEPAGE = "https://example.invalid/fibha"
SECTION = "kernel/modules"
LICENSE = "Apache-2.0"
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

SRC_URI = " \
    file://fibha-modprobe.conf \
    file://fibha-modules-load.conf \
"

S = "${WORKDIR}"

inherit allarch

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${sysconfdir}/modprobe.d ${D}${sysconfdir}/modules-load.d
    install -m 0644 ${WORKDIR}/fibha-modprobe.conf ${D}${sysconfdir}/modprobe.d/fibha.conf
    install -m 0644 ${WORKDIR}/fibha-modules-load.conf ${D}${sysconfdir}/modules-load.d/fibha.conf
}

FILES:${PN} += "\
    ${sysconfdir}/modprobe.d/fibha.conf \
    ${sysconfdir}/modules-load.d/fibha.conf \
"

# sysvinit images read /etc/modules-load.d through modutils-initscripts; systemd does it itself.
RDEPENDS:${PN} = "${@bb.utils.contains('DISTRO_FEATURES', 'systemd', '', 'modutils-initscripts', d)}"
