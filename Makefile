# hmmdev top-level build.  The two commands a newcomer needs:
#   make run      build what is missing, boot the VM, shell on the console (Ctrl-A X quits)
#   make test     build what is missing, run the test suites
# See README.md for the rest.

SHELL := /bin/bash
PY := /usr/bin/python3
export HMMDEV_CACHE ?= $(HOME)/.cache/hmmdev
export HMMDEV_SOURCE_CACHE
KERNEL_FLAVOUR ?= release
QEMU_FLAVOUR ?= release
export KERNEL_FLAVOUR QEMU_FLAVOUR
BUILD := $(CURDIR)/build
INITRD := $(BUILD)/initramfs-$(KERNEL_FLAVOUR).cpio.gz
DEVICES ?= 1
IOMMU ?= lazy
PYTEST_ARGS ?=

# Where the cached QEMU and kernel builds are (written by their targets).
qemu_dir = $$(cat $(BUILD)/qemu-$(QEMU_FLAVOUR).dir)
kernel_dir = $$(cat $(BUILD)/kernel-$(KERNEL_FLAVOUR).dir)

.PHONY: all deps deps-check qemu kernel driver userspace initramfs run test test-device test-vm clean distclean help

all: qemu initramfs

help:
	@sed -n '1,6p' Makefile

deps:
	@scripts/deps.sh

# Install the packages only when something is missing.
deps-check:
	@scripts/deps.sh --check >/dev/null 2>&1 || scripts/deps.sh

qemu: deps-check
	@mkdir -p $(BUILD)
	@scripts/build-qemu.sh > $(BUILD)/qemu-$(QEMU_FLAVOUR).dir.tmp && \
	  mv $(BUILD)/qemu-$(QEMU_FLAVOUR).dir.tmp $(BUILD)/qemu-$(QEMU_FLAVOUR).dir

kernel: deps-check
	@mkdir -p $(BUILD)
	@scripts/build-kernel.sh > $(BUILD)/kernel-$(KERNEL_FLAVOUR).dir.tmp && \
	  mv $(BUILD)/kernel-$(KERNEL_FLAVOUR).dir.tmp $(BUILD)/kernel-$(KERNEL_FLAVOUR).dir

driver: kernel
	@echo "[driver] building guest-driver/hmmdev.ko"
	@$(MAKE) -s -C guest-driver KDIR=$(kernel_dir)

userspace: deps-check
	@[ -f $(BUILD)/userspace/build.ninja ] || meson setup $(BUILD)/userspace . >/dev/null
	@echo "[userspace] building static guest binaries"
	@ninja -C $(BUILD)/userspace >/dev/null

initramfs: driver userspace
	@scripts/build-initramfs.sh $(kernel_dir) $(BUILD)/userspace $(INITRD)

VM_ARGS = --qemu $(qemu_dir)/qemu-system-x86_64 --qemu-python $(qemu_dir)/../src/python \
	--kernel $(kernel_dir)/arch/x86/boot/bzImage --initrd $(INITRD) --share $(CURDIR) \
	--devices $(DEVICES) --iommu $(IOMMU)

# make run                 interactive shell (Ctrl-A X quits)
# make run CMD='...'       run CMD in the guest, print its output, exit with its status
run: all
	@if [ -n "$$CMD" ]; then $(PY) images/vm.py $(VM_ARGS) --cmd "$$CMD"; \
	 else $(PY) images/vm.py $(VM_ARGS); fi

QEMU_ENV = HMMDEV_QEMU_BUILD=$(qemu_dir)
TEST_ENV = $(QEMU_ENV) HMMDEV_KERNEL_BUILD=$(kernel_dir) HMMDEV_INITRD=$(INITRD)

test: all
	@$(TEST_ENV) $(PY) -m pytest -v -rfEs tests $(PYTEST_ARGS)

test-device: qemu
	@$(QEMU_ENV) $(PY) -m pytest -v -rfEs tests/device $(PYTEST_ARGS)

test-vm: all
	@$(TEST_ENV) $(PY) -m pytest -v -rfEs tests/vm $(PYTEST_ARGS)

clean:
	rm -rf $(BUILD)
	-$(MAKE) -s -C guest-driver KDIR=$(kernel_dir) clean 2>/dev/null

# Also drop the cached QEMU and kernel builds (hours of CPU on 2 cores).
distclean: clean
	rm -rf $(HMMDEV_CACHE)
