#!/usr/bin/env bash
# Zero-downtime restart of one server, for deploy pipelines.
#
#   scripts/rolling_restart.sh --pidfile=/run/proxy.pid [handover exec flags] -- COMMAND [ARGS...]
#
# 1. `handover check`: may we take the old server's sockets? If not, stop here
#    with the reason (exit 3) before anything is touched.
# 2. `handover exec`: take the sockets, start COMMAND with them, wait until it
#    is ready, drain the old server. The new server's pidfile replaces the old
#    one (override with --new_pidfile=PATH), so the next run finds it.
# 3. Print one summary line and exit with handover's code:
#    0 ok; 5 the new server serves but the old one is still running;
#    6/7 COMMAND failed / was not ready: rolled back, the old server keeps serving;
#    2 usage, 3 permission, 4 not found, 1 other. See docs/operations.md.
# The handover binary: $HANDOVER, else build/bin/handover, else `handover` on PATH.
# When the caller captures this script's output through a pipe (CI, ssh, $(...)),
# pass --command_output=FILE: otherwise the new server inherits the pipe and the
# caller waits for it as long as the server runs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
handover=${HANDOVER:-}
if [ -z "$handover" ]; then
  if [ -x "$root/build/bin/handover" ]; then handover=$root/build/bin/handover
  else handover=$(command -v handover || true); fi
fi
if [ -z "$handover" ] || [ ! -x "$handover" ]; then
  echo "rolling_restart: no handover binary: build it (scripts/build.sh) or set HANDOVER=" >&2
  exit 2
fi

usage() {
  echo "usage: rolling_restart.sh --pidfile=PATH [handover exec flags] -- COMMAND [ARGS...]" >&2
  exit 2
}

pidfile=''
new_pidfile=''
flags=()
command=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; command=("$@"); break ;;
    --pidfile=*) pidfile=${1#--pidfile=} ;;
    --new_pidfile=*) new_pidfile=${1#--new_pidfile=} ;;
    --pid=*) echo "rolling_restart: use --pidfile (a pid alone goes stale)" >&2; exit 2 ;;
    --json) ;;  # the script reads handover's JSON itself
    -*) flags+=("$1") ;;
    *) usage ;;
  esac
  shift
done
if [ -z "$pidfile" ] || [ ${#command[@]} -eq 0 ]; then usage; fi
new_pidfile=${new_pidfile:-$pidfile}

set +e
check=$("$handover" check --pidfile="$pidfile" 2>&1)
code=$?
set -e
if [ "$code" -ne 0 ]; then
  echo "rolling_restart: FAILED before touching anything: ${check}" >&2
  exit "$code"
fi

# COMMAND inherits handover's stdout (this script's), so the report comes
# through a file, not a pipe that the new server would keep open.
report_file=$(mktemp)
trap 'rm -f "$report_file"' EXIT
set +e
"$handover" exec --pidfile="$pidfile" --new_pidfile="$new_pidfile" --report_json="$report_file" \
  "${flags[@]}" -- "${command[@]}"
code=$?
set -e
report=$(cat "$report_file")

# A number or short string field of handover's one-line JSON report.
field() { printf '%s' "$report" | grep -o "\"$1\":[^,}]*" | head -n1 | cut -d: -f2- | tr -d '"'; }
# The error message: the report's last field, free text.
error() { printf '%s' "$report" | sed -n 's/.*"error":"\(.*\)"}$/\1/p'; }
case "$code" in
  0) echo "rolling_restart: ok: pid $(field old_pid) -> pid $(field new_pid) in $(field total_ms) ms" ;;
  5) echo "rolling_restart: new pid $(field new_pid) serves, but old pid $(field old_pid) is still running: $(error)" >&2 ;;
  6|7) echo "rolling_restart: FAILED, rolled back (old pid $(field old_pid) keeps serving): $(error)" >&2 ;;
  *) echo "rolling_restart: FAILED (exit $code)${report:+: $(error)}" >&2 ;;
esac
exit "$code"
