# Devices of the hmmdev QEMU build (configure --with-devices-x86_64=hmmdev).
# With --without-default-devices only what is listed here (and what it
# selects) is compiled, which keeps the build near three minutes.
CONFIG_Q35=y
CONFIG_I440FX=n
CONFIG_ISAPC=n
CONFIG_MICROVM=n
CONFIG_NITRO_ENCLAVE=n
CONFIG_VTD=y
CONFIG_PCIE_PORT=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_SERIAL=y
CONFIG_VIRTIO_9P=y
CONFIG_HMMDEV=y
# hw/acpi/cxl.c is built for every PC machine and links against hw/cxl;
# without CXL and the type-3 device the link fails (cxl_fmws_get_all_sorted,
# cxl_type3_read, ...), so keep them in.
CONFIG_PXB=y
CONFIG_CXL=y
CONFIG_CXL_MEM_DEVICE=y
