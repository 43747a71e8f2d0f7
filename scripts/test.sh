#!/usr/bin/env bash
# Runs every test: installs dependencies, configures, builds, runs ctest.
# Extra arguments go to ctest, e.g. scripts/test.sh -R Takeover --output-on-failure
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
"$root/scripts/install_deps.sh"
"$root/scripts/build.sh"
cd "$build"
ctest -j "$(nproc)" --output-on-failure --timeout 180 "$@"
