# fibha in the PetaLinux image: the runtime, its instance and drivers, fpgautil (to remove an
# overlay another tool applied: fibha loads its own), and i2c-tools to look at the power
# monitors when a rail is missing.
# nooelint: oelint.vars.noncoreoverride
IMAGE_INSTALL:append = " packagegroup-fibha fpga-manager-script i2c-tools"
