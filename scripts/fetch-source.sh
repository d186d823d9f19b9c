#!/usr/bin/env bash
# Put the pinned files of one Debian source package into a directory, verified.
#
#   scripts/fetch-source.sh PACKAGE VERSION DESTDIR
#
# Look-up order: $HMMDEV_SOURCE_CACHE (relative paths are taken from the repo
# root), then `apt-get source --download-only`.  Every file is checked against
# scripts/sources.sha256; a mismatch or a missing file is fatal.
set -euo pipefail
pkg=$1 ver=$2 dest=$3
root=$(cd "$(dirname "$0")/.." && pwd)
sums=${HMMDEV_SOURCE_SUMS:-$root/scripts/sources.sha256}   # overridable for the tests
uver=${ver#*:}                       # drop the epoch: 1:10.2.2+ds-1 -> 10.2.2+ds-1
files=$(awk -v p="${pkg}_" '$1 !~ /^#/ && index($2, p) == 1 {print $2}' "$sums" | grep -F "${uver%-*}")
[ -n "$files" ] || { echo "fetch-source: no pinned sums for $pkg $ver in $sums" >&2; exit 1; }

mkdir -p "$dest"
verify() {   # all pinned files present in $1 and matching?
  local d=$1 f want got
  for f in $files; do
    [ -f "$d/$f" ] || return 1
    want=$(awk -v f="$f" '$2 == f {print $1}' "$sums")
    got=$(sha256sum "$d/$f" | cut -d' ' -f1)
    if [ "$want" != "$got" ]; then
      echo "fetch-source: CHECKSUM MISMATCH for $pkg file $d/$f" >&2
      echo "fetch-source:   expected $want" >&2
      echo "fetch-source:   got      $got" >&2
      return 2
    fi
  done
}

if verify "$dest" 2>/dev/null; then exit 0; fi

cache=${HMMDEV_SOURCE_CACHE:-}
if [ -n "$cache" ]; then
  case "$cache" in /*) ;; *) cache="$root/$cache";; esac
  if [ -d "$cache" ]; then
    rc=0; verify "$cache" || rc=$?
    if [ $rc -eq 0 ]; then
      for f in $files; do cp -f "$cache/$f" "$dest/"; done
      echo "fetch-source: $pkg $ver from HMMDEV_SOURCE_CACHE=$cache"
      exit 0
    elif [ $rc -eq 2 ]; then
      echo "fetch-source: $pkg $ver in HMMDEV_SOURCE_CACHE=$cache does not match the pinned sums" >&2
      exit 1
    fi
    echo "fetch-source: $pkg $ver not complete in HMMDEV_SOURCE_CACHE=$cache, trying apt-get source" >&2
  else
    echo "fetch-source: HMMDEV_SOURCE_CACHE=$cache is not a directory, trying apt-get source" >&2
  fi
fi

echo "fetch-source: apt-get source --download-only $pkg=$ver"
if ! (cd "$dest" && apt-get source -qq --download-only "$pkg=$ver") >"$dest/apt-get-source.log" 2>&1; then
  echo "fetch-source: ERROR: cannot get Debian source package $pkg $ver." >&2
  echo "fetch-source:   apt-get source said: $(tail -n 2 "$dest/apt-get-source.log" | tr '\n' ' ')" >&2
  echo "fetch-source:   apt finds it through the deb-src line for sid that scripts/deps.sh writes:" >&2
  echo "fetch-source:   run \`sudo scripts/deps.sh\` (it rewrites /etc/apt/sources.list.d/hmmdev.sources" >&2
  echo "fetch-source:   and runs apt-get update).  If the mirror no longer serves this version, point" >&2
  echo "fetch-source:   HMMDEV_SOURCE_CACHE at a directory holding $(echo $files | tr '\n' ' ')" >&2
  echo "fetch-source:   (for example ../shared/cache/debian-sources)." >&2
  exit 1
fi
rc=0; verify "$dest" || rc=$?
[ $rc -eq 0 ] || { echo "fetch-source: ERROR: $pkg $ver from apt does not match scripts/sources.sha256" >&2; exit 1; }
echo "fetch-source: $pkg $ver from apt"
