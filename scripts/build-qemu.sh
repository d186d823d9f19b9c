#!/usr/bin/env bash
# Build QEMU 10.2.2 (Debian source package, Debian patches applied) with the
# hmmdev device overlaid as hw/hmmdev.  Prints the path of the QEMU build dir.
#
# The tree and build live in $HMMDEV_CACHE/qemu-<flavour>-<key>, where <key>
# digests the source version, the configure arguments, the device list and the
# recipe number below.  The device sources
# (qemu-device/) are not part of the key (--print-dir prints the directory): a change there is synced into the
# tree and ninja rebuilds incrementally.
set -euo pipefail
. "$(dirname "$0")/common.sh"

CONFIGURE_ARGS=(
  --target-list=x86_64-softmmu
  --without-default-features --without-default-devices
  --with-devices-x86_64=hmmdev
  --enable-tcg --enable-virtfs --enable-attr --enable-trace-backends=log
  --disable-docs --disable-werror --disable-install-blobs --python=/usr/bin/python3
)
flavour=${QEMU_FLAVOUR:-release}
case "$flavour" in
  release) ;;
  asan) CONFIGURE_ARGS+=(--enable-asan --enable-ubsan --enable-debug --disable-strip) ;;
  *) die "QEMU_FLAVOUR=$flavour: expected release or asan" ;;
esac

# configure hard-codes the compiler in its cross file; ccache's compiler
# symlinks first on PATH are how it gets used.
[ -d /usr/lib/ccache ] && export PATH=/usr/lib/ccache:$PATH

# Bump when the unpack/hook steps below change what ends up in the tree.
RECIPE=1
key=$( (echo "$QEMU_DEB_VERSION recipe $RECIPE ${CONFIGURE_ARGS[*]}"; hash_inputs scripts/qemu-devices.mak
       pinned_sums qemu "$QEMU_DEB_VERSION") | sha256sum | cut -c1-12)
[ "${1:-}" = "--print-dir" ] && { echo "$HMMDEV_CACHE/qemu-$flavour-$key"; exit 0; }
cached_tree "qemu-$flavour" "$key"
top=$TREE src="$TREE/src" build="$TREE/build" logf="$TREE/build.log"

if [ ! -f "$top/.unpacked" ]; then
  log "qemu: fetching Debian source qemu $QEMU_DEB_VERSION" >&2
  "$HMMDEV_ROOT/scripts/fetch-source.sh" qemu "$QEMU_DEB_VERSION" "$HMMDEV_CACHE/sources" >&2
  rm -rf "$src"
  log "qemu: unpacking with dpkg-source -x (applies Debian's patches)" >&2
  run_logged "$logf" "dpkg-source -x" dpkg-source --no-check -x \
    "$HMMDEV_CACHE/sources/qemu_${QEMU_DEB_VERSION#*:}.dsc" "$src"
  # The minimal hooks: one line each in hw/Kconfig, hw/meson.build and the
  # trace subdirectory list, plus our device list.
  echo 'source hmmdev/Kconfig' >> "$src/hw/Kconfig"
  echo "subdir('hmmdev')" >> "$src/hw/meson.build"
  sed -i "s|^\(\s*\)'hw/9pfs',|\1'hw/9pfs',\n\1'hw/hmmdev',|" "$src/meson.build"
  grep -q "'hw/hmmdev'" "$src/meson.build" || die "qemu: could not hook hw/hmmdev into trace_events_subdirs"
  cp "$HMMDEV_ROOT/scripts/qemu-devices.mak" "$src/configs/devices/x86_64-softmmu/hmmdev.mak"
  touch "$top/.unpacked"
fi

# Sync the device; only changed files get a new mtime, so ninja rebuilds just those.
mkdir -p "$src/hw/hmmdev"
rsync -r --checksum --delete --no-times --no-perms "$HMMDEV_ROOT/qemu-device/" "$src/hw/hmmdev/"

if [ ! -f "$top/.configured" ]; then
  log "qemu: configure ($flavour)" >&2
  export CCACHE_DIR=${CCACHE_DIR:-$HMMDEV_CACHE/ccache} CCACHE_BASEDIR=$top CCACHE_NOHASHDIR=1
  rm -rf "$build"; mkdir -p "$build"
  (cd "$build" && run_logged "$logf" "QEMU configure" "$src/configure" "${CONFIGURE_ARGS[@]}")
  touch "$top/.configured"
fi

# ccache keyed relative to $top and without the build directory in the hash
# (debug info keeps the first path), so a rebuild under a new key still hits.
export CCACHE_DIR=${CCACHE_DIR:-$HMMDEV_CACHE/ccache} CCACHE_BASEDIR=$top CCACHE_NOHASHDIR=1
log "qemu: ninja ($flavour, $JOBS jobs, log $logf)" >&2
run_logged "$logf" "QEMU build" ninja -C "$build" -j "$JOBS" qemu-system-x86_64
cached_tree_done "$build"
