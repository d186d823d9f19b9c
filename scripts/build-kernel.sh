#!/usr/bin/env bash
# Build the hmmdev guest kernel (the upstream tarball of the pinned Debian
# source package `linux`, plus our config), test_hmm.ko and the static upstream
# hmm-tests binary.  Prints the kernel build directory (O=).
#
#   KERNEL=7.2|6.12                Linux 7.2.8 (the default) or 6.12.107 (LTS)
#   KERNEL_FLAVOUR=release|debug   debug adds images/kernel-debug.config
#   scripts/build-kernel.sh --print-dir   print the cache directory (no build)
#   scripts/build-kernel.sh --config-only DIR
#                                  only generate and check .config in DIR
#
# Cached in $HMMDEV_CACHE/linux-<kernel>-<flavour>-<key>; the key digests the source
# version, the recipe number below and the config fragments, so a second clone with the
# same inputs reuses the build, and a build that already finished is not
# touched again (not even a no-op make, which costs ~30 s).
set -euo pipefail
. "$(dirname "$0")/common.sh"

config_only=
if [ "${1:-}" = "--config-only" ]; then
  config_only=$(mkdir -p "$2" && cd "$2" && pwd)
fi

flavour=${KERNEL_FLAVOUR:-release}
frags=(images/kernel.config)
case "$flavour" in
  release) ;;
  debug) frags+=(images/kernel-debug.config) ;;
  *) die "KERNEL_FLAVOUR=$flavour: expected release or debug" ;;
esac

# Bump when the build steps below change what ends up in the build directory.
RECIPE=1
key=$( (echo "$LINUX_DEB_VERSION recipe $RECIPE"; hash_inputs "${frags[@]}"
       pinned_sums linux "$LINUX_DEB_VERSION") | sha256sum | cut -c1-12)
src="$HMMDEV_CACHE/linux-$LINUX_UPSTREAM"
name="linux-$KERNEL-$flavour"
[ "${1:-}" = "--print-dir" ] && { echo "$HMMDEV_CACHE/$name-$key"; exit 0; }
if [ -n "$config_only" ]; then
  out=$config_only logf=$config_only/config.log
else
  cached_tree "$name" "$key"
  out="$TREE/build" logf="$TREE/build.log"
  # a finished build is not touched again (not even a no-op make, ~30 s)
  [ -f "$TREE/.built" ] && { cached_tree_done "$out"; exit 0; }
fi

# The source tree is shared by all flavours and never written to (O= builds).
(
  flock 8
  if [ ! -f "$src/.unpacked" ]; then
    log "kernel: fetching Debian source linux $LINUX_DEB_VERSION" >&2
    "$HMMDEV_ROOT/scripts/fetch-source.sh" linux "$LINUX_DEB_VERSION" "$HMMDEV_CACHE/sources" >&2
    log "kernel: unpacking linux_$LINUX_UPSTREAM.orig.tar.xz (about a minute)" >&2
    rm -rf "$src" "$src.tmp"; mkdir -p "$src.tmp"
    tar -xJf "$HMMDEV_CACHE/sources/linux_$LINUX_UPSTREAM.orig.tar.xz" -C "$src.tmp" --strip-components=1
    mv "$src.tmp" "$src"; touch "$src/.unpacked"
  fi
) 8>"$HMMDEV_CACHE/.linux-src.lock"

export CCACHE_DIR=${CCACHE_DIR:-$HMMDEV_CACHE/ccache} CCACHE_BASEDIR=$HMMDEV_CACHE
kmake() { make -C "$src" O="$out" CC="ccache gcc" -j"$JOBS" "$@"; }

log "kernel: configure ($flavour: x86_64_defconfig + kvm_guest.config + ${frags[*]})" >&2
rm -rf "$out"; mkdir -p "$out"; : > "$logf"
run_logged "$logf" "kernel defconfig" kmake x86_64_defconfig kvm_guest.config
fragpaths=(); for f in "${frags[@]}"; do fragpaths+=("$HMMDEV_ROOT/$f"); done
run_logged "$logf" "merge_config" bash -c "cd '$out' && '$src/scripts/kconfig/merge_config.sh' -m -O '$out' '$out/.config' ${fragpaths[*]}"
run_logged "$logf" "kernel olddefconfig" kmake olddefconfig

# Every symbol the fragments ask for must have survived the merge.
missing=$(cat "${fragpaths[@]}" | sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*\)=\(.*\)$/\1 \2/p' \
                                       -e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1 n/p' |
  while read -r sym want; do
    got=$(sed -n -e "s/^$sym=\(.*\)$/\1/p" "$out/.config")
    [ -n "$got" ] || got=n
    [ "$got" = "$want" ] || echo "  $sym: wanted $want, got $got"
  done)
if [ -n "$missing" ]; then
  echo "ERROR: kernel config: these requested symbols did not survive merge_config" >&2
  echo "       (usually an unmet dependency; see 'make menuconfig' in $out):" >&2
  echo "$missing" >&2
  exit 1
fi
if [ -n "$config_only" ]; then
  log "kernel: $flavour config OK: $out/.config" >&2
  exit 0
fi

log "kernel: building bzImage and modules ($JOBS jobs, ~8 min on 2 cores, log $logf)" >&2
run_logged "$logf" "kernel build" kmake bzImage modules
run_logged "$logf" "kernel headers_install" kmake headers_install INSTALL_HDR_PATH="$out/usr-headers"

# The upstream conformance suite, unmodified, as a static binary for the guest.
# From 7.x it links the helpers its selftests Makefile gives every mm test
# (vm_util.c, hugepage_settings.c); 6.12's hmm-tests.c stands alone.
log "kernel: building selftests/mm/hmm-tests (static)" >&2
st="$src/tools/testing/selftests"
helpers=()
[ -f "$st/mm/hugepage_settings.c" ] && helpers=("$st/mm/vm_util.c" "$st/mm/hugepage_settings.c")
run_logged "$logf" "hmm-tests build" gcc -static -O2 -Wall -D_GNU_SOURCE \
  -isystem "$out/usr-headers/include" -I "$st" -I "$src" -I "$st/mm" \
  -o "$out/hmm-tests" "$st/mm/hmm-tests.c" "${helpers[@]}" -lpthread -lm -lrt
touch "$TREE/.built"
log "kernel: done: $out/arch/x86/boot/bzImage" >&2
cached_tree_done "$out"
