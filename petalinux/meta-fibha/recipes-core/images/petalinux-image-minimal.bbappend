# fibha in the PetaLinux image: the runtime, its firmware and drivers, fpgautil to load the
# bitstream by hand, and i2c-tools to look at the power monitors when a rail is missing.
# nooelint: oelint.vars.noncoreoverride
IMAGE_INSTALL:append = " packagegroup-fibha fpga-manager-script i2c-tools"
