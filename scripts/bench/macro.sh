#!/usr/bin/env bash
# Macro benchmark: demo_loadgen against demo_proxy -> demo_backend on loopback
# while the proxy is replaced K times, per strategy and load mode:
#   none          the same run without any restart (steady state)
#   pidfd         handover exec --ready=notify (pidfd_getfd takeover, socket
#                 activation of the new demo_proxy, then SIGTERM drain of the old)
#   pidfd_proxy   a new demo_proxy --takeover_pid=OLD (it takes the listeners with
#                 pidfd_getfd itself, serves, then SIGTERMs the old through the pidfd)
#   scm           a new demo_proxy --takeover_scm=CTL (SCM_RIGHTS from the old one's
#                 control socket; every generation serves CTL, see docs/demo_proxy.md)
#   stop_start    SIGTERM the old, wait for it to exit, start a new one on the port
#   reuseport_migrate0, reuseport_migrate1
#                 SO_REUSEPORT overlap: a new demo_proxy --reuseport binds its own
#                 socket on the address, is ready, then the old one is SIGTERMed and
#                 closes its socket; net.ipv4.tcp_migrate_req is 0 or 1 meanwhile
# Writes OUT/macro.csv (one row per run: loadgen's counts by kind and latency
# percentiles), OUT/macro_handovers.csv (one row per restart) and
# OUT/macro_windows.csv (per run: attempts inside restart windows and outside them,
# from loadgen's per-attempt samples; scripts/bench/windows.awk).
#   scripts/bench/macro.sh BIN_DIR OUT_DIR RUN,RUN,...
#   RUN = MODE:K:DURATION_MS[:STRATEGY+STRATEGY...]   (default: every strategy)
#   scripts/bench/macro.sh build/bin results/x new_conn:200:30000:none+pidfd+scm,keepalive:8:10000
# Restarts follow each other from the load's first successful request on; the
# load ends TAIL_MS (default 1000) after the K-th, or after DURATION_MS if that
# comes first (none: after DURATION_MS). STRATEGIES="pidfd scm" runs only those. The whole script
# runs in a private network namespace when it may (common.sh, enter_netns;
# BENCH_NETNS=host keeps it in the host's).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/bench/common.sh
source "$here/common.sh"
enter_netns "$here/macro.sh" "$@"

bin=$1
out=$2
IFS=, read -r -a runs <<<"$3"
# demo_proxy relays bytes and cannot tell an idle keep-alive connection from a busy
# one: a draining instance closes what is left after this long.
drain_ms=${DRAIN_MS:-1000}
all_strategies="none pidfd pidfd_proxy scm stop_start reuseport_migrate0 reuseport_migrate1"

work=$(mktemp -d)
migrate_file=/proc/sys/net/ipv4/tcp_migrate_req
migrate_before=""
restore_migrate() {
  if [ -n "$migrate_before" ]; then echo "$migrate_before" >"$migrate_file" || true; fi
}
cleanup() {
  trap - EXIT
  restore_migrate
  # By pid: what this script started and has not reaped, and the current proxy of a
  # run in progress (for pidfd handover started it).
  local current_pid=()
  if [ -f "$work/current.pid" ]; then read -r -a current_pid <"$work/current.pid"; fi
  stop_running "$bin" "${current_pid[@]:0:1}"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# Reads lines from FD, appending them to LOG, until one starts with PREFIX (10 s
# per line at most); sets found to that line. Builtins only, as everything the
# driver does between two restarts: the load saturates both CPUs, and every fork
# waits for one.
read_until() {  # read_until FD PREFIX LOG
  local line
  found=""
  while IFS= read -r -t 10 -u "$1" line; do
    echo "$line" >>"$3"
    if [[ $line == "$2"* ]]; then
      found=$line
      return 0
    fi
  done
  echo "macro.sh: no '$2' line within 10 s (see $3)" >&2
  return 1
}

# Starts demo_proxy with ARGS, its stdout on FIFO number N (made by one_run), and
# returns once it printed "ready" (woken by the line itself, no polling). Sets
# proxy_pid and proxy_fd, our end of its stdout: it stays open until the proxy has
# exited (finish_output), so the proxy never gets SIGPIPE; the few lines it writes
# meanwhile wait in the pipe.
declare -A out_fd=()
start_proxy() {  # start_proxy N ARGS...: its stdout lines and stderr in proxyN.log
  local n=$1
  shift
  "$bin/demo_proxy" --backend="$backend" --drain_timeout_ms="$drain_ms" --print_ready "$@" \
    >"$work/fifo.$n" 2>>"$work/proxy$n.log" &
  proxy_pid=$!
  running[$proxy_pid]=1
  exec {proxy_fd}<"$work/fifo.$n"
  out_fd[$proxy_pid]="$proxy_fd $n"
  read_until "$proxy_fd" ready "$work/proxy$n.log"
}
# After PID has exited: the rest of its stdout to its log, and our end closed.
finish_output() {  # finish_output PID
  local fd n line
  [ -n "${out_fd[$1]:-}" ] || return 0
  read -r fd n <<<"${out_fd[$1]}"
  while IFS= read -r -t 1 -u "$fd" line; do echo "$line" >>"$work/proxy$n.log"; done
  exec {fd}<&-
  unset "out_fd[$1]"
}

# One row of macro_handovers.csv; times in µs from the wall clock, "" for none.
row() {  # row STRATEGY MODE I RESULT T0 T_HOLD_OR_MS T_GONE T_WALL T_READY
  local hold gone wall ready
  if [[ $6 == *.* ]]; then hold=$6; else ms hold "$5" "$6"; fi
  ms gone "$5" "$7"
  ms wall "$5" "$8"
  ms ready "$5" "$9"
  echo "$1,$2,$3,$4,$hold,$gone,$wall,$ready,$5" >>"$out/macro_handovers.csv"
}

current() { read -r cur _ <"$work/current.pid"; }  # sets cur

# Each restart_* performs restart number $i of the run (the new proxy's log and
# FIFO are number i + 1); 1 when the run must stop.
restart_pidfd() {
  local old t0 t1 json="" line result hold spawn ready total
  current
  old=$cur
  stamp t0
  # To a file, not $(...): the new proxy inherits stdout and outlives handover.
  "$bin/handover" exec --json --pid="$old" --ready=notify \
    --new_pidfile="$work/current.pid" -- "$bin/demo_proxy" --backend="$backend" \
    --drain_timeout_ms="$drain_ms" >"$work/exec$i.json" 2>>"$work/handover.log" || true
  stamp t1
  while IFS= read -r line; do
    if [[ $line == "{"* ]]; then json=$line; break; fi
  done <"$work/exec$i.json"
  local re='"result":"([a-z_]+)".*"takeover":([0-9]+\.[0-9]{3}),"spawn":([0-9]+\.[0-9]{3}),"ready":([0-9]+\.[0-9]{3}),.*"total_ms":([0-9]+\.[0-9]{3})'
  if [[ ! $json =~ $re ]]; then
    echo "macro.sh: handover exec printed no report: $json" >&2
    echo "$strategy,$mode,$i,no_report,,,,,$t0" >>"$out/macro_handovers.csv"
    return 1
  fi
  result=${BASH_REMATCH[1]} hold=${BASH_REMATCH[2]} spawn=${BASH_REMATCH[3]}
  ready=${BASH_REMATCH[4]} total=${BASH_REMATCH[5]}
  # handover's phases, in ms with 3 decimals (so "1.234" -> 1234 µs), count from
  # its own start, a little after t0; "old gone" is its total.
  row "$strategy" "$mode" "$i" "$result" "$t0" "$hold" "$((t0 + 10#${total/./}))" "$t1" \
    "$((t0 + 10#${hold/./} + 10#${spawn/./} + 10#${ready/./}))"
  [ "$result" = ok ]
}

# pidfd_proxy and scm: the new demo_proxy takes the listeners, serves, and retires
# the old one itself; its summary line has the takeover time.
restart_takeover() {
  local old t0 t1 t2 t3 n=$((i + 1)) takeover_us status hold src
  current
  old=$cur
  if [ "$strategy" = scm ]; then
    src=(--takeover_scm="$work/proxy.ctl" --control_socket="$work/proxy.ctl")
  else
    src=(--takeover_pid="$old")
  fi
  stamp t0
  if ! start_proxy "$n" --listen="$addr" "${src[@]}"; then
    not_ready
    return 1
  fi
  stamp t1
  echo "$proxy_pid" >"$work/current.pid"
  reap "$old"  # the new instance sent it SIGTERM through its pidfd
  stamp t2
  finish_output "$old"
  read_until "$proxy_fd" "handover " "$work/proxy$n.log" || true
  stamp t3
  field takeover_us "$found" takeover_us
  [ -n "$takeover_us" ] || takeover_us=0
  printf -v hold '%d.%03d' $((takeover_us / 1000)) $((takeover_us % 1000))
  # Its exit status as we reaped it (the new instance may see it exit before that).
  if [ "$reaped_status" = 0 ]; then status=ok; else status=old_exit_$reaped_status; fi
  row "$strategy" "$mode" "$i" "$status" "$t0" "$hold" "$t2" "$t3" "$t1"
}

# The new proxy did not get ready: record it, stop it, leave the old one serving.
not_ready() {
  echo "$strategy,$mode,$i,new_not_ready,,,,,$t0" >>"$out/macro_handovers.csv"
  kill -TERM "$proxy_pid" 2>/dev/null || true
  reap "$proxy_pid"
  finish_output "$proxy_pid"
}

restart_reuseport() {
  local old t0 t1 t2
  current
  old=$cur
  stamp t0
  if ! start_proxy $((i + 1)) --listen="$addr" --reuseport; then
    not_ready
    return 1
  fi
  stamp t1
  echo "$proxy_pid" >"$work/current.pid"
  kill -TERM "$old"
  reap "$old"
  stamp t2
  finish_output "$old"
  # It holds its own socket from its bind, just before "ready".
  row "$strategy" "$mode" "$i" ok "$t0" "$t1" "$t2" "$t2" "$t1"
}

restart_stop_start() {
  local old t0 t1 t2
  current
  old=$cur
  stamp t0
  kill -TERM "$old"
  reap "$old"
  stamp t1
  if ! start_proxy $((i + 1)) --listen="$addr"; then
    not_ready
    return 1
  fi
  stamp t2
  echo "$proxy_pid" >"$work/current.pid"
  finish_output "$old"
  row "$strategy" "$mode" "$i" ok "$t0" "$t2" "$t1" "$t2" "$t2"
}

# tcp_migrate_req for this namespace (restored at exit); 1 if it cannot be set.
set_migrate() {
  [ -n "$migrate_before" ] || migrate_before=$(cat "$migrate_file" 2>/dev/null) || return 1
  echo "$1" 2>/dev/null >"$migrate_file"
}

one_run() {  # one_run STRATEGY MODE K DURATION_MS
  local strategy=$1 mode=$2 k=$3 duration_ms=$4 i=0 first=() fn
  case $strategy in
    none) fn="" ;;
    pidfd) fn=restart_pidfd ;;
    pidfd_proxy) fn=restart_takeover ;;
    scm) fn=restart_takeover; first=(--control_socket="$work/proxy.ctl") ;;
    stop_start) fn=restart_stop_start ;;
    reuseport_migrate0 | reuseport_migrate1)
      fn=restart_reuseport
      first=(--reuseport)
      if ! set_migrate "${strategy#reuseport_migrate}"; then
        echo "macro.sh: cannot set $migrate_file (needs root): skipping $strategy" >&2
        return 0
      fi
      ;;
    *) echo "macro.sh: unknown strategy $strategy" >&2; return 1 ;;
  esac
  rm -f "$work"/fifo.* "$work"/proxy*.log "$work"/exec*.json
  local fifos=("$work/fifo.0") n
  [ "$strategy" = pidfd ] || for ((n = 1; n <= k; n++)); do fifos+=("$work/fifo.$n"); done
  mkfifo "${fifos[@]}"
  start_proxy 0 --listen=127.0.0.1:0 "${first[@]}"
  echo "$proxy_pid" >"$work/current.pid"
  addr=$(grep -m1 -oE '127\.0\.0\.1:[0-9]+' "$work/proxy0.log")
  start_load "$work" "$bin" "$addr" "$mode" "$duration_ms"
  while [ -n "$fn" ] && [ "$i" -lt "$k" ] && kill -0 "$lg" 2>/dev/null; do
    if ! "$fn"; then
      echo "macro.sh: $strategy $mode: restart $i failed; ending the restarts of this run" >&2
      i=$((i + 1))
      break
    fi
    i=$((i + 1))
  done
  # K done: the load goes on for TAIL_MS (steady state within the same run, outside
  # every restart window), then ends (DURATION_MS was the cap); runs without
  # restarts last DURATION_MS.
  if [ "$i" -ge "$k" ] && [ "$k" -gt 0 ]; then end_load_after "${TAIL_MS:-1000}"; fi
  reap "$lg"
  finish_load "$work/loadgen.json"
  # The last proxy (handover started it for pidfd: not our child, so through its pidfd).
  current
  "$bin/handover" drain --pid="$cur" --timeout_ms=$((drain_ms + 5000)) --kill_after_timeout \
    >/dev/null 2>>"$work/handover.log" || true
  rm "$work/current.pid"
  [ -z "${running[$cur]:-}" ] || reap "$cur"
  finish_output "$cur"
  case $strategy in reuseport_*) restore_migrate ;; esac
  awk -v s="$strategy" -v m="$mode" -v n="$i" -f "$here/loadgen_row.awk" \
    "$work/loadgen.json" >>"$out/macro.csv"
  window_rows "$out" "$strategy" "$mode" "$work/samples.csv"
  echo "macro $strategy $mode: $i restarts done" >&2
}

echo "strategy,mode,handovers,ok,refused,reset,timeout,bad_response,other,p50_us,p99_us,p999_us,max_us" \
  >"$out/macro.csv"
handovers_header >"$out/macro_handovers.csv"
windows_header >"$out/macro_windows.csv"
echo "macro.sh: network namespace: $BENCH_NETNS" >&2
echo "macro_netns=$BENCH_NETNS" >>"$out/machine.txt"  # the report says where it ran

mkfifo "$work/backend.out"
"$bin/demo_backend" --listen=127.0.0.1:0 >"$work/backend.out" 2>"$work/backend.log" &
running[$!]=1
exec {backend_fd}<"$work/backend.out"
read_until "$backend_fd" "listening " "$work/backend.log"
backend=${found#listening }
# backend_fd stays open: the backend writes nothing more but must never get SIGPIPE.

for run in "${runs[@]}"; do
  IFS=: read -r mode k duration_ms list <<<"$run"
  list=${list//+/ }
  for strategy in ${list:-${STRATEGIES:-$all_strategies}}; do
    if [ -n "${STRATEGIES:-}" ] && [[ " $STRATEGIES " != *" $strategy "* ]]; then continue; fi
    one_run "$strategy" "$mode" "$k" "$duration_ms"
  done
done
