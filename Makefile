# hmmdev top-level build.  The two commands a newcomer needs:
#   make run      build what is missing, boot the VM, shell on the console (Ctrl-A X quits)
#   make test     build what is missing, run the test suites
# See README.md for the rest.

SHELL := /bin/bash
PY := /usr/bin/python3
export HMMDEV_CACHE ?= $(HOME)/.cache/hmmdev
export HMMDEV_SOURCE_CACHE
# The guest kernel: 7.2 (Linux 7.2.8, the default) or 6.12 (Linux 6.12.107, LTS).
KERNEL ?= 7.2
ifeq ($(filter $(KERNEL),7.2 6.12),)
$(error KERNEL=$(KERNEL): expected KERNEL=7.2 (the default) or KERNEL=6.12)
endif
KERNEL_FLAVOUR ?= release
QEMU_FLAVOUR ?= release
export KERNEL KERNEL_FLAVOUR QEMU_FLAVOUR
BUILD := $(CURDIR)/build
# Everything derived from the kernel is keyed by version and flavour.
KCONF := $(KERNEL)-$(KERNEL_FLAVOUR)
INITRD := $(BUILD)/initramfs-$(KCONF).cpio.gz
DRIVER := $(BUILD)/driver-$(KCONF)
DEVICES ?= 1
IOMMU ?= lazy
PYTEST_ARGS ?=

# Where the cached QEMU and kernel builds are (written by their targets).
qemu_dir = $$(cat $(BUILD)/qemu-$(QEMU_FLAVOUR).dir)
kernel_dir = $$(cat $(BUILD)/kernel-$(KCONF).dir)

.PHONY: all deps deps-check qemu qemu-asan kernel driver userspace initramfs run test test-device test-vm \
	fuzz soak bench clean distclean help

all: qemu initramfs

help:
	@sed -n '1,6p' Makefile

deps:
	@scripts/deps.sh

# Install the packages only when something is missing.
deps-check:
	@scripts/deps.sh --check >/dev/null 2>&1 || scripts/deps.sh

# The cached trees (scripts/common.sh, cached_tree): one rule.  The script
# prints the build directory, recorded in build/NAME.dir for the targets below.
define cached_tree
	@mkdir -p $(BUILD)
	@$(2) > $(BUILD)/$(1).dir.tmp && mv $(BUILD)/$(1).dir.tmp $(BUILD)/$(1).dir
endef

qemu: deps-check
	$(call cached_tree,qemu-$(QEMU_FLAVOUR),scripts/build-qemu.sh)

# The ASan+UBSan QEMU for the random run (make fuzz, and the short run in make test).
qemu-asan: deps-check
	$(call cached_tree,qemu-asan,QEMU_FLAVOUR=asan scripts/build-qemu.sh)

kernel: deps-check
	$(call cached_tree,kernel-$(KCONF),scripts/build-kernel.sh)

driver: kernel
	@echo "[driver] building $(DRIVER)/hmmdev.ko (Linux $(KERNEL), $(KERNEL_FLAVOUR))"
	@$(MAKE) -s -C guest-driver KDIR=$(kernel_dir) OUT=$(DRIVER) W=1 HMMDEV_WERROR=y

userspace: deps-check
	@[ -f $(BUILD)/userspace/build.ninja ] || meson setup $(BUILD)/userspace . >/dev/null
	@echo "[userspace] building static guest binaries"
	@ninja -C $(BUILD)/userspace >/dev/null

initramfs: driver userspace
	@scripts/build-initramfs.sh $(kernel_dir) $(BUILD)/userspace $(DRIVER)/hmmdev.ko $(INITRD)

VM_ARGS = --qemu $(qemu_dir)/qemu-system-x86_64 --qemu-python $(qemu_dir)/../src/python \
	--kernel $(kernel_dir)/arch/x86/boot/bzImage --initrd $(INITRD) --share $(CURDIR) \
	--devices $(DEVICES) --iommu $(IOMMU)

# make run                 interactive shell (Ctrl-A X quits)
# make run CMD='...'       run CMD in the guest, print its output, exit with its status
run: all
	@if [ -n "$$CMD" ]; then $(PY) images/vm.py $(VM_ARGS) --cmd "$$CMD"; \
	 else $(PY) images/vm.py $(VM_ARGS); fi

QEMU_ENV = HMMDEV_QEMU_BUILD=$(qemu_dir)
TEST_ENV = $(QEMU_ENV) HMMDEV_KERNEL_BUILD=$(kernel_dir) HMMDEV_INITRD=$(INITRD) \
	HMMDEV_DRIVER_BUILD=$(DRIVER) HMMDEV_TEST_LOGS=$(BUILD)/test-logs/$(KCONF)

# The bounded random run (tests/device/test_random.py) against the ASan+UBSan
# QEMU: any crash or sanitizer report fails it.  FUZZ_SEED=N replays a run
# (the seed is printed).  make test includes a short one.
FUZZ_SECONDS ?= 180
TEST_FUZZ_SECONDS ?= 15
FUZZ_RUN = HMMDEV_QEMU_BUILD=$$(cat $(BUILD)/qemu-asan.dir) HMMDEV_TEST_LOGS=$(BUILD)/test-logs/asan \
	$(if $(FUZZ_SEED),HMMDEV_RANDOM_SEED=$(FUZZ_SEED)) \
	$(PY) -m pytest -v -rfEsP tests/device/test_random.py

# Both suites run even when the first fails; the exit status covers both.
# TEST_FUZZ_SECONDS=0 leaves the random run out (it does not depend on the
# guest kernel: .ci/run runs it with the first kernel only).
test: all qemu-asan
	@st=0; $(TEST_ENV) $(PY) -m pytest -v -rfEs tests $(PYTEST_ARGS) || st=1; \
	 if [ "$(TEST_FUZZ_SECONDS)" != 0 ]; then \
	   echo "[test] random run, $(TEST_FUZZ_SECONDS) s, ASan+UBSan QEMU"; \
	   HMMDEV_RANDOM_SECONDS=$(TEST_FUZZ_SECONDS) $(FUZZ_RUN) || st=1; fi; exit $$st

fuzz: qemu-asan
	@HMMDEV_RANDOM_SECONDS=$(FUZZ_SECONDS) $(FUZZ_RUN)

# Reports, not tests: copy-engine throughput against host memcpy
# (build/bench/copy-engine.{json,md}), our driver against the kernel's
# test_hmm in one VM run (build/bench/driver-vs-test_hmm.{json,md}), and the
# test_hmm uAPI on test_hmm.ko and on our device (dmirror-vs-test_hmm.{json,md}),
# and the ATC: hit rate against working set, throughput with ATS on/off and
# without an IOMMU (ats.{json,md}).
bench: all
	@$(QEMU_ENV) $(PY) -m bench.copy_engine --out $(BUILD)/bench/$(KCONF)
	@$(TEST_ENV) $(PY) -m bench.driver_vs_test_hmm --out $(BUILD)/bench/$(KCONF)
	@$(TEST_ENV) $(PY) -m bench.dmirror_vs_test_hmm --out $(BUILD)/bench/$(KCONF)
	@$(TEST_ENV) $(PY) -m bench.ats --out $(BUILD)/bench/$(KCONF) --vm

# The random storm of tests/vm/test_storm.py, long: SOAK_SECONDS per device
# kind (make test runs 60), SOAK_SEED=N replays a run (the seed is printed).
SOAK_SECONDS ?= 600
soak: all
	@$(TEST_ENV) HMMDEV_STORM_SECONDS=$(SOAK_SECONDS) $(if $(SOAK_SEED),HMMDEV_STORM_SEED=$(SOAK_SEED)) \
	  $(PY) -m pytest -v -rfEsxX tests/vm/test_storm.py $(PYTEST_ARGS)

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
