#!/usr/bin/env bash
# Install the Debian packages hmmdev builds and runs with.
#
#   scripts/deps.sh           install what is missing (root), or print the command (non-root)
#   scripts/deps.sh --check   exit 1 and list what is missing, install nothing
#
# meson >= 1.5 comes from bookworm-backports, and `apt-get source` needs deb-src
# lines.  Both are derived from the Debian mirror this machine already uses
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

have_pkg() { dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed'; }

meson_ok() {
  command -v meson >/dev/null 2>&1 || return 1
  local v; v=$(meson --version 2>/dev/null) || return 1
  [ "$(printf '%s\n%s\n' "$MESON_MIN" "$v" | sort -V | head -n1)" = "$MESON_MIN" ]
}

missing=()
for p in "${PKGS[@]}"; do have_pkg "$p" || missing+=("$p"); done
meson_ok || missing+=("meson(>=$MESON_MIN, bookworm-backports)")

if [ "${1:-}" = "--check" ]; then
  if [ ${#missing[@]} -gt 0 ]; then echo "missing: ${missing[*]}"; exit 1; fi
  exit 0
fi
if [ ${#missing[@]} -eq 0 ]; then echo "deps: all present"; exit 0; fi

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]}" >&2
  echo "deps: run as root:  sudo $(readlink -f "$0")" >&2
  exit 1
fi

# The first Debian archive URI already configured (deb822 or one-line format).
mirror_uri() {
  local f u
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
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

list=/etc/apt/sources.list.d/hmmdev.sources
if [ ! -f "$list" ]; then
  uri=$(mirror_uri) || { echo "deps: cannot find a Debian mirror in /etc/apt/sources.list*; add one first" >&2; exit 1; }
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  echo "deps: adding ${codename}-backports and deb-src lines for $uri"
  cat > "$list" <<EOT
# Written by hmmdev scripts/deps.sh: backports (meson >= $MESON_MIN) and deb-src for apt-get source.
Types: deb deb-src
URIs: $uri
Suites: ${codename}-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $uri
Suites: ${codename} ${codename}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
fi

export DEBIAN_FRONTEND=noninteractive
echo "deps: apt-get update"
apt-get update -qq
echo "deps: installing ${PKGS[*]}"
apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
if ! meson_ok; then
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  echo "deps: installing meson from ${codename}-backports"
  apt-get install -y -qq --no-install-recommends -t "${codename}-backports" meson >/dev/null
fi
meson_ok || { echo "deps: meson >= $MESON_MIN still not available" >&2; exit 1; }
echo "deps: done"
