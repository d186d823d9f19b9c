#!/usr/bin/env bash
# Install the Debian packages hmmdev builds and runs with, and the apt source
# lines it fetches the pinned kernel and QEMU sources through.
#
#   scripts/deps.sh           install what is missing (root), or print the command (non-root)
#   scripts/deps.sh --check   exit 1 and list what is missing, change nothing
#   scripts/deps.sh --print-sources   print the apt sources file it maintains
#
# The apt lines are a check of their own, separate from the packages: the file
# /etc/apt/sources.list.d/hmmdev.sources is rewritten whenever its content
# differs from what this script would write, and `apt-get update` runs then.
# It holds
#   - bookworm-backports (deb and deb-src): meson >= 1.5;
#   - deb-src for the release and its updates;
#   - deb-src ONLY for sid: the pinned source packages (linux 7.2.8-1 and
#     6.12.107-1, qemu 1:10.2.2+ds-1) are served only there.  No binary
#     package can come from sid, because there is no `deb` line for it.
# Every line is derived from the Debian mirror this machine already uses
# (/etc/apt/sources.list{,.d}); no host name is written anywhere in the repo.
set -euo pipefail

PKGS=(
  build-essential gcc g++ make pkg-config git ca-certificates
  ninja-build ccache dpkg-dev xz-utils file python3 python3-venv
  libglib2.0-dev libpixman-1-dev libfdt-dev libattr1-dev libcap-ng-dev zlib1g-dev
  flex bison bc libelf-dev libssl-dev kmod rsync cpio busybox-static
  seabios qemu-system-data
  python3-pytest libgtest-dev
)
MESON_MIN=1.5
LIST=${HMMDEV_APT_LIST:-/etc/apt/sources.list.d/hmmdev.sources}
# Source versions apt must list once LIST is in place (scripts/common.sh pins them).
PROBE_PKG=linux PROBE_VERS="7.2.8-1 6.12.107-1"

have_pkg() { dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed'; }

meson_ok() {
  command -v meson >/dev/null 2>&1 || return 1
  local v; v=$(meson --version 2>/dev/null) || return 1
  [ "$(printf '%s\n%s\n' "$MESON_MIN" "$v" | sort -V | head -n1)" = "$MESON_MIN" ]
}

# The first Debian archive URI already configured (deb822 or one-line format),
# skipping our own file so that the answer does not feed on itself.
mirror_uri() {
  local f u
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && [ "$f" != "$LIST" ] || continue
    u=$(awk '/^URIs:/{print $2; exit}' "$f")
    case "$u" in */debian|*/debian/) echo "${u%/}"; return 0;; esac
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    u=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' "$f")
    [ -n "$u" ] && { echo "${u%/}"; return 0; }
  done
  return 1
}

# Does apt's source index list PROBE_PKG at every one of PROBE_VERS?
# (`apt-cache showsrc` takes no =VERSION, so pick the versions out of its records.)
probe_indexed() {
  local listed v
  listed=$(apt-cache showsrc "$PROBE_PKG" 2>/dev/null | sed -n 's/^Version: //p')
  for v in $PROBE_VERS; do
    grep -qx -- "$v" <<<"$listed" || return 1
  done
}

# What LIST must contain on this machine.
wanted_list() {
  local uri codename
  uri=$(mirror_uri) || return 1
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  cat <<EOT
# Written by hmmdev scripts/deps.sh; rewritten when it differs.  Do not edit.
# backports: meson >= $MESON_MIN.
Types: deb deb-src
URIs: $uri
Suites: ${codename}-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

# deb-src for apt-get source.
Types: deb-src
URIs: $uri
Suites: ${codename} ${codename}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

# Source packages only: the pinned linux and qemu versions.  No deb line, so
# no binary package ever comes from sid.
Types: deb-src
URIs: $uri
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
}

if [ "${1:-}" = "--print-sources" ]; then
  wanted_list || { echo "deps: cannot find a Debian mirror in /etc/apt/sources.list*" >&2; exit 1; }
  exit 0
fi

missing=()
for p in "${PKGS[@]}"; do have_pkg "$p" || missing+=("$p"); done
meson_ok || missing+=("meson(>=$MESON_MIN, bookworm-backports)")

# The source lines: does LIST say what it should, and does apt know the pinned sources?
list_state=ok
if ! want=$(wanted_list); then
  echo "deps: cannot find a Debian mirror in /etc/apt/sources.list*; add one first" >&2
  exit 1
fi
if [ "$(cat "$LIST" 2>/dev/null)" != "$want" ]; then
  list_state=stale
elif ! probe_indexed; then
  list_state=unindexed
fi

if [ "${1:-}" = "--check" ]; then
  case $list_state in
    stale)     missing+=("apt source lines ($LIST differs from what deps.sh writes)");;
    unindexed) missing+=("apt source index (apt-cache showsrc $PROBE_PKG lists not all of $PROBE_VERS; apt-get update)");;
  esac
  if [ ${#missing[@]} -gt 0 ]; then echo "missing: ${missing[*]}"; exit 1; fi
  exit 0
fi
if [ ${#missing[@]} -eq 0 ] && [ $list_state = ok ]; then echo "deps: all present"; exit 0; fi

if [ "$(id -u)" -ne 0 ]; then
  [ ${#missing[@]} -eq 0 ] || echo "deps: missing packages: ${missing[*]}" >&2
  [ $list_state = ok ] || echo "deps: $LIST must be (re)written and apt updated" >&2
  echo "deps: run as root:  sudo $(readlink -f "$0")" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if [ $list_state = stale ]; then
  echo "deps: writing $LIST (backports; deb-src for $(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}") and sid)"
  printf '%s\n' "$want" > "$LIST"
fi
echo "deps: apt-get update"
apt-get update -qq
if ! probe_indexed; then
  echo "deps: WARNING: apt lists no source package $PROBE_PKG $PROBE_VER after the update; the kernel source" >&2
  echo "deps:   will have to come from HMMDEV_SOURCE_CACHE (see README, 'Sources')." >&2
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${PKGS[*]}"
  apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
fi
if ! meson_ok; then
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  echo "deps: installing meson from ${codename}-backports"
  apt-get install -y -qq --no-install-recommends -t "${codename}-backports" meson >/dev/null
fi
meson_ok || { echo "deps: meson >= $MESON_MIN still not available" >&2; exit 1; }
echo "deps: done"
