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
  nginx-light  # tests/integration/exec_nginx_test.cc hands over a real nginx
  haproxy      # and exec_haproxy_test.cc a real HAProxy
)
for set_name in "$@"; do
  case "$set_name" in
    bench) packages+=(gnuplot-nox libnginx-mod-stream) ;;
    *) echo "install_deps.sh: unknown package set '$set_name' (known: bench)" >&2; exit 2 ;;
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
# Packaged servers (nginx, haproxy) must not start as system services on
# install: the tests and benchmarks start their own, on loopback ports of their
# choosing. policy-rc.d exit 101 tells invoke-rc.d "not now"; ours is removed after.
policy=/usr/sbin/policy-rc.d
added_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  added_policy=1
fi
remove_policy() { if [ -n "$added_policy" ]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap remove_policy EXIT
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
