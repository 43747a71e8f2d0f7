#!/usr/bin/env bash
# Configures and builds everything into build/ (binaries in build/bin/).
# Pass cmake -D options through, e.g. scripts/build.sh -DHANDOVER_SANITIZE=address,undefined
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
