#!/usr/bin/env bash
# Pack the guest initramfs: busybox-static, images/init, hmmdev.ko, the
# kernel's test_hmm.ko, the upstream hmm-tests and our static binaries.
#
#   scripts/build-initramfs.sh KERNEL_BUILD_DIR USERSPACE_BUILD_DIR OUTPUT
set -euo pipefail
. "$(dirname "$0")/common.sh"
kbuild=$1 ubuild=$2 output=$3

busybox=/bin/busybox
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
  die "initramfs: $busybox is not static; install busybox-static (make deps)"

stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,etc,lib/modules,usr/bin,usr/sbin}
cp "$busybox" "$stage/bin/busybox"
cp "$HMMDEV_ROOT/images/init" "$stage/init"
cp "$HMMDEV_ROOT/guest-driver/hmmdev.ko" "$stage/lib/modules/"
cp "$kbuild/lib/test_hmm.ko" "$stage/lib/modules/"
cp "$kbuild/hmm-tests" "$stage/bin/"
for b in hmmdev hmmdev-tests hmmdev-bench hmm-dmirror-bench hmmdev-storm; do cp "$ubuild/guest-userspace/$b" "$stage/bin/"; done
echo 'root:x:0:0:root:/:/bin/sh' > "$stage/etc/passwd"

mkdir -p "$(dirname "$output")"
(cd "$stage" && find . | sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$output.tmp"
mv "$output.tmp" "$output"
log "initramfs: $output ($(du -h "$output" | cut -f1))" >&2
