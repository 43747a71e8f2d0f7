#!/usr/bin/env bash
# The live demo (docs/demo_proxy.md#the-demo). Installs dependencies, builds, starts
# demo_backend and demo_proxy on free loopback ports, runs demo_loadgen for about
# 20 s and meanwhile hands the proxy's listener over 10 times, alternating pidfd_getfd
# (--takeover_pid) and SCM_RIGHTS (--takeover_scm). Prints one row per handover and
# the load generator's totals. Exit status 1 if any request or handover failed.
#
# Environment: BUILD_DIR (default build/), DEMO_SECONDS (load duration, default 20),
# DEMO_HANDOVERS (default 10).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BUILD_DIR:-$root/build}/bin
seconds=${DEMO_SECONDS:-20}
handovers=${DEMO_HANDOVERS:-10}

"$root/scripts/install_deps.sh"
"$root/scripts/build.sh" >/dev/null

work=$(mktemp -d)
pids=()  # every process this script started
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

# Reads lines from fd $1 until one starts with $2 (10 s per line at most); prints it.
read_until() {
  local fd=$1 prefix=$2 line
  while IFS= read -r -t 10 -u "$fd" line; do
    if [[ $line == "$prefix"* ]]; then
      printf '%s\n' "$line"
      return 0
    fi
  done
  echo "demo.sh: no '$prefix' line within 10 s" >&2
  return 1
}

# The value of key $2 in a "word k=v k=v" line $1.
field() {
  local word
  for word in $1; do
    if [[ $word == "$2="* ]]; then
      printf '%s\n' "${word#*=}"
      return 0
    fi
  done
  printf '?\n'
}

ms() {  # microseconds -> "12.345"
  if [[ $1 =~ ^[0-9]+$ ]]; then printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); else printf '%s' "$1"; fi
}

# Starts a process with stdout on a new FIFO; sets started_pid and started_fd.
start() {
  local name=$1
  shift
  mkfifo "$work/$name.out"
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  started_pid=$!
  pids+=("$started_pid")
  exec {started_fd}<"$work/$name.out"
}

start backend "$bin/demo_backend" --listen=127.0.0.1:0
backend_line=$(read_until "$started_fd" "listening ")
backend=${backend_line#listening }

control=$work/proxy.ctl
start proxy0 "$bin/demo_proxy" --listen=127.0.0.1:0 --backend="$backend" \
  --control_socket="$control" --print_ready --drain_timeout_ms=5000
proxy_pid=$started_pid
proxy_fd=$started_fd
listen_line=$(read_until "$proxy_fd" "listening ")
address=${listen_line##* }
read_until "$proxy_fd" ready >/dev/null
echo "backend $backend; proxy pid $proxy_pid on $address; control socket $control"
echo "load: demo_loadgen --mode=new_conn --concurrency=8 for ${seconds}s;" \
  "$handovers handovers, alternating pidfd and SCM_RIGHTS"

"$bin/demo_loadgen" --target="$address" --mode=new_conn --concurrency=8 \
  --duration_ms=$((seconds * 1000)) >"$work/load.out" 2>"$work/load.err" &
load_pid=$!
pids+=("$load_pid")

rows=()
handover_failures=0
gap_ms=$((seconds * 1000 / (handovers + 1)))
for ((i = 1; i <= handovers; i++)); do
  # Pacing for a human watching, not synchronisation: every wait below is on a line.
  sleep "$(ms "$gap_ms")"
  if ((i % 2 == 1)); then
    mode=pidfd
    source=(--takeover_pid="$proxy_pid")
  else
    mode=scm
    source=(--takeover_scm="$control")
  fi
  old_pid=$proxy_pid
  old_fd=$proxy_fd
  start "proxy$i" "$bin/demo_proxy" --listen="$address" --backend="$backend" \
    --control_socket="$control" --print_ready --drain_timeout_ms=5000 "${source[@]}"
  proxy_pid=$started_pid
  proxy_fd=$started_fd
  if ! read_until "$proxy_fd" ready >/dev/null ||
    ! summary=$(read_until "$proxy_fd" "handover "); then
    echo "handover $i ($mode) failed:" >&2
    cat "$work/proxy$i.err" >&2
    handover_failures=$((handover_failures + 1))
    break
  fi
  old_code=0
  wait "$old_pid" || old_code=$?
  exec {old_fd}<&-
  rows+=("$(printf '%-3s %-6s %-8s %-14s %-14s %-10s %s' "$i" "$(field "$summary" mode)" \
    "$(field "$summary" sockets)/$(field "$summary" claimed)" \
    "$(ms "$(field "$summary" takeover_us)")" "$(ms "$(field "$summary" old_exit_us)")" \
    "$(field "$summary" old_status)" "$old_code")")
  printf '  handover %2d %-5s done: %s\n' "$i" "$mode" "$summary"
done

load_code=0
wait "$load_pid" || load_code=$?
load=$(cat "$work/load.out")
kill -TERM "$proxy_pid"
wait "$proxy_pid" || true

echo
printf '%-3s %-6s %-8s %-14s %-14s %-10s %s\n' "#" mode taken "takeover (ms)" \
  "old exit (ms)" "old status" "old exit code"
for row in "${rows[@]}"; do printf '%s\n' "$row"; done
echo
echo "takeover: open + prove + copy + match by cookie (pidfd) or fetch + prove (SCM), until the fds are ours"
echo "old exit: from the drain signal (SIGTERM through the pidfd) to the pidfd turning readable"
echo "taken: sockets received / claimed by --listen (pidfd also takes the control socket, then closes it)"
echo
failed=0
for kind in refused reset timeout bad_response other; do
  failed=$((failed + $(field "$load" "$kind")))
done
printf 'requests: ok=%s failed=%d (refused=%s reset=%s timeout=%s bad_response=%s other=%s)\n' \
  "$(field "$load" ok)" "$failed" "$(field "$load" refused)" "$(field "$load" reset)" \
  "$(field "$load" timeout)" "$(field "$load" bad_response)" "$(field "$load" other)"
printf 'latency: p50=%s ms p99=%s ms p99.9=%s ms max=%s ms\n' \
  "$(ms "$(field "$load" p50_us)")" "$(ms "$(field "$load" p99_us)")" \
  "$(ms "$(field "$load" p999_us)")" "$(ms "$(field "$load" max_us)")"
if ((failed > 0 || load_code != 0 || handover_failures > 0 || ${#rows[@]} != handovers)); then
  echo "FAILED: $failed failed requests, $handover_failures failed handovers"
  exit 1
fi
echo "OK: ${#rows[@]} handovers, no failed request"
