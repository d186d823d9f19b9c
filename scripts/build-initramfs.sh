#!/usr/bin/env bash
# Pack the guest initramfs: busybox-static, images/init, hmmdev.ko, the
# kernel's test_hmm.ko, the upstream hmm-tests and our static binaries.
#
#   scripts/build-initramfs.sh KERNEL_BUILD_DIR USERSPACE_BUILD_DIR HMMDEV_KO OUTPUT
set -euo pipefail
. "$(dirname "$0")/common.sh"
kbuild=$1 ubuild=$2 module=$3 output=$4

# The module must be built for this very kernel (the guest would refuse it).
release=$(cat "$kbuild/include/config/kernel.release")
magic=$(/sbin/modinfo -F vermagic "$module" 2>/dev/null | cut -d' ' -f1) ||
  die "initramfs: no module at $module; run 'make driver KERNEL=$KERNEL'"
[ "$magic" = "$release" ] ||
  die "initramfs: $module was built for Linux $magic, the kernel is $release; run 'make driver KERNEL=$KERNEL'"

busybox=/bin/busybox
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
  die "initramfs: $busybox is not static; install busybox-static (make deps)"

stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,etc,lib/modules,usr/bin,usr/sbin}
cp "$busybox" "$stage/bin/busybox"
cp "$HMMDEV_ROOT/images/init" "$stage/init"
cp "$module" "$stage/lib/modules/"
cp "$kbuild/lib/test_hmm.ko" "$stage/lib/modules/"
cp "$kbuild/hmm-tests" "$stage/bin/"
for b in hmmdev hmmdev-tests hmmdev-bench hmm-dmirror-bench hmmdev-storm; do cp "$ubuild/guest-userspace/$b" "$stage/bin/"; done
echo 'root:x:0:0:root:/:/bin/sh' > "$stage/etc/passwd"

mkdir -p "$(dirname "$output")"
(cd "$stage" && find . | sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$output.tmp"
mv "$output.tmp" "$output"
log "initramfs: $output ($(du -h "$output" | cut -f1))" >&2
