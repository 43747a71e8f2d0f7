#!/usr/bin/env bash
# Installs the Debian packages handover needs to build, test and run its demo.
# Idempotent and fast when everything is present. Uses sudo when not root.
# Extra package sets: `install_deps.sh bench` adds what scripts/bench.sh needs.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libabsl-dev libgflags-dev libgoogle-glog-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  iproute2
)
for set_name in "$@"; do
  case "$set_name" in
    nginx) packages+=(nginx-light) ;;
    bench) packages+=(gnuplot-nox haproxy nginx-light libnginx-mod-stream) ;;
    *) echo "install_deps.sh: unknown package set '$set_name' (known: nginx, bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
echo "install_deps.sh: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
