# Shared settings of the hmmdev build scripts.  Source it; do not run it.
HMMDEV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HMMDEV_CACHE=${HMMDEV_CACHE:-$HOME/.cache/hmmdev}
case "$HMMDEV_CACHE" in /*) ;; *) HMMDEV_CACHE="$HMMDEV_ROOT/$HMMDEV_CACHE";; esac
QEMU_DEB_VERSION=1:10.2.2+ds-1
# The guest kernel: KERNEL=7.2 (the default) or KERNEL=6.12 (the LTS line).
KERNEL=${KERNEL:-7.2}
case "$KERNEL" in
  7.2)  LINUX_DEB_VERSION=7.2.8-1 ;;
  6.12) LINUX_DEB_VERSION=6.12.107-1 ;;
  *) printf 'ERROR: KERNEL=%s: expected KERNEL=7.2 (the default) or KERNEL=6.12\n' "$KERNEL" >&2
     exit 2 ;;
esac
LINUX_UPSTREAM=${LINUX_DEB_VERSION%-*}
JOBS=${JOBS:-$(nproc)}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# hash_inputs FILE... : a short digest of the named files' contents and names.
hash_inputs() {
  (for f in "$@"; do echo "== $f"; cat "$HMMDEV_ROOT/$f"; done) | sha256sum | cut -c1-16
}

# pinned_sums PACKAGE VERSION : the lines of scripts/sources.sha256 that pin
# that source package.  Build keys digest these, not the whole file, so that
# pinning another package (or another kernel) does not rebuild this one.
pinned_sums() {
  local uver=${2#*:}
  awk -v p="${1}_${uver%-*}" '$1 !~ /^#/ && index($2, p) == 1' "$HMMDEV_ROOT/scripts/sources.sha256"
}

# The cached-tree protocol every build script follows: a key digests the
# build's inputs -> cached_tree NAME KEY creates and locks (fd 9, for the rest
# of the script) $HMMDEV_CACHE/NAME-KEY, in $TREE -> the script builds there
# (or finds it built) -> cached_tree_done OUTDIR points $HMMDEV_CACHE/NAME at
# the tree and prints OUTDIR, which the Makefile records in build/NAME.dir.
cached_tree() {
  TREE="$HMMDEV_CACHE/$1-$2" TREE_NAME=$1
  mkdir -p "$TREE"
  exec 9>"$TREE/.lock"
  flock 9
}

cached_tree_done() {
  ln -sfn "$TREE" "$HMMDEV_CACHE/$TREE_NAME"
  echo "$1"
}

# run_logged LOGFILE WHAT CMD... : run with output to LOGFILE; on failure show its tail.
run_logged() {
  local logf=$1 what=$2; shift 2
  if ! "$@" >>"$logf" 2>&1; then
    echo "ERROR: $what failed.  Last lines of $logf:" >&2
    tail -n 40 "$logf" >&2
    exit 1
  fi
}
