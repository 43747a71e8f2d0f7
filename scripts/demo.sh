#!/usr/bin/env bash
# The live demo. Builds everything, starts a process holding listeners, and shows
# handover listing them, checking it may take them, and draining the old process.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BUILD_DIR:-$root/build}/bin
"$root/scripts/install_deps.sh"
"$root/scripts/build.sh" >/dev/null

work=$(mktemp -d)
holder_pid=
cleanup() {
  if [ -n "$holder_pid" ] && kill -0 "$holder_pid" 2>/dev/null; then kill "$holder_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkfifo "$work/out"
"$bin/fd_holder" --tcp=2 --udp=1 --unix="$work/old.sock" >"$work/out" &
holder_pid=$!
exec 3<"$work/out"
while read -r -t 10 line <&3 && [ "$line" != ready ]; do :; done

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
echo "An old server (pid $holder_pid) holds 2 TCP listeners, 1 UDP socket, 1 unix listener,"
echo "plus an established connection, a pipe and a file that must never be listed."
step "$bin/handover" list --pid="$holder_pid"
step "$bin/handover" list --pid="$holder_pid" --select=unix:"$work/old.sock" --json
step "$bin/handover" check --pid="$holder_pid"
step "$bin/handover" drain --pid="$holder_pid" --timeout_ms=5000
echo
echo "Bad input gets one line and a documented exit code:"
set +e
step "$bin/handover" list --pid=99999999; echo "exit $?"
step "$bin/handover" list --pid=abc; echo "exit $?"
