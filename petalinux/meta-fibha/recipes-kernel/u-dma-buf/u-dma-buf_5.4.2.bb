SUMMARY = "u-dma-buf: user space mappable DMA buffers"
DESCRIPTION = "Out-of-tree kernel module that allocates contiguous DMA buffers (from CMA) \
described in the device tree and exposes them as /dev/NAME and /sys/class/u-dma-buf/NAME. \
fibha's overlay declares its input, output, weight and scratch buffers with it."
HOMEPAGE = "https://github.com/ikwzm/udmabuf"
SECTION = "kernel/modules"
LICENSE = "BSD-2-Clause"
LIC_FILES_CHKSUM = "file://LICENSE;md5=bebf0492502927bef0741aa04d1f35f5"

# Tag v5.4.2 (the commit the tag points to); supports the 6.1 kernel of PetaLinux 2023.2.
SRC_URI = "git://github.com/ikwzm/udmabuf.git;protocol=https;branch=master"
SRCREV = "cff954eb557db73a5196f12d16c687c5cb96eb32"

S = "${WORKDIR}/git"

inherit module

# The upstream Makefile guesses ARCH and CROSS_COMPILE from the build host's uname; give it
# the target's. Its `all` target builds u-dma-buf.ko against KERNEL_SRC.
EXTRA_OEMAKE += "ARCH=${ARCH} CROSS_COMPILE=${TARGET_PREFIX} KERNEL_SRC=${STAGING_KERNEL_DIR}"

# Load at boot: the buffers appear as soon as the fibha overlay adds their nodes.
KERNEL_MODULE_AUTOLOAD += "u-dma-buf"
