#!/usr/bin/env bash
# Macro benchmark: demo_loadgen against demo_proxy -> demo_backend on loopback
# while the proxy is replaced K times, per strategy and load mode:
#   none        the same run without any restart (steady state)
#   pidfd       handover exec --ready=notify (pidfd_getfd takeover, socket
#               activation of the new demo_proxy, then SIGTERM drain of the old)
#   stop_start  SIGTERM the old, wait for it to exit, start a new one on the port
# Writes OUT/macro.csv (one row per run: loadgen's counts by kind and latency
# percentiles) and OUT/macro_handovers.csv (one row per restart).
#   scripts/bench/macro.sh BIN_DIR OUT_DIR MODE:K:DURATION_MS,...
#   scripts/bench/macro.sh build/bin results/x new_conn:200:60000,keepalive:20:15000
# Each run lasts DURATION_MS of load; restarts stop after K or when the load ends.
set -euo pipefail
bin=$1
out=$2
IFS=, read -r -a runs <<<"$3"
concurrency=${CONCURRENCY:-16}
# demo_proxy relays bytes and cannot tell an idle keep-alive connection from a busy
# one: a draining instance closes what is left after this long.
drain_ms=${DRAIN_MS:-1000}

work=$(mktemp -d)
pids=()
cleanup() {
  local p
  # By pid: what this script started (the current proxy was started by handover).
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  if [ -f "$work/current.pid" ]; then
    kill -TERM "$(cut -d' ' -f1 "$work/current.pid")" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Wall clock in seconds with µs (bash's own clock: no fork on the timed path).
now() { echo "$EPOCHREALTIME"; }

# Waits (bounded) until FILE holds a line matching REGEX; prints the first match.
await_line() {
  local file=$1 regex=$2 i
  for ((i = 0; i < 500; i++)); do
    if grep -qE "$regex" "$file" 2>/dev/null; then
      grep -oE "$regex" "$file" | head -1
      return 0
    fi
    read -r -t 0.01 <> <(:) || true  # 10 ms, without spawning sleep
  done
  echo "macro.sh: timed out waiting for '$regex' in $file" >&2
  return 1
}

# Starts demo_proxy and returns once it printed "ready" (read from a FIFO: woken
# by the line itself, no polling). Its pid in $proxy_pid. A background cat keeps
# draining its stdout so it never gets SIGPIPE while draining.
start_proxy() {  # start_proxy LOG LISTEN
  local fifo=$work/fifo.$RANDOM.$RANDOM line fd
  mkfifo "$fifo"
  "$bin/demo_proxy" --listen="$2" --backend="$backend" --drain_timeout_ms="$drain_ms" \
    --print_ready >"$fifo" 2>>"$1" &
  proxy_pid=$!
  pids+=("$proxy_pid")
  exec {fd}<"$fifo"
  rm "$fifo"
  while read -r -t 10 line <&"$fd"; do
    echo "$line" >>"$1"
    [ "$line" = ready ] && break
  done
  cat <&"$fd" >>"$1" &
  exec {fd}<&-
  [ "$line" = ready ] || { echo "macro.sh: demo_proxy not ready" >&2; return 1; }
}

echo "strategy,mode,handovers,ok,refused,reset,timeout,bad_response,other,p50_us,p99_us,p999_us,max_us" \
  >"$out/macro.csv"
echo "strategy,mode,i,result,hold_ms,old_gone_ms,wall_ms" >"$out/macro_handovers.csv"

"$bin/demo_backend" --listen=127.0.0.1:0 >"$work/backend.log" 2>&1 &
pids+=($!)
backend=$(await_line "$work/backend.log" '127\.0\.0\.1:[0-9]+')

one_run() {  # one_run STRATEGY MODE K DURATION_MS
  local strategy=$1 mode=$2 k=$3 duration_ms=$4 i=0 t0 t1 old pid_now
  : >"$work/proxy0.log"
  start_proxy "$work/proxy0.log" 127.0.0.1:0
  local addr
  addr=$(grep -m1 -oE '127\.0\.0\.1:[0-9]+' "$work/proxy0.log")
  echo "$proxy_pid" >"$work/current.pid"
  "$bin/demo_loadgen" --target="$addr" --mode="$mode" --concurrency="$concurrency" \
    --duration_ms="$duration_ms" --json >"$work/loadgen.json" 2>"$work/loadgen.log" &
  local lg=$!
  pids+=("$lg")
  while [ "$strategy" != none ] && [ "$i" -lt "$k" ] && kill -0 "$lg" 2>/dev/null; do
    old=$(cut -d' ' -f1 "$work/current.pid")
    t0=$(now)
    if [ "$strategy" = pidfd ]; then
      # To a file, not $(...): the new proxy inherits stdout and outlives handover.
      "$bin/handover" exec --json --pid="$old" --ready=notify \
        --new_pidfile="$work/current.pid" -- "$bin/demo_proxy" --backend="$backend" \
        --drain_timeout_ms="$drain_ms" \
        >"$work/exec$i.json" 2>>"$work/handover.log" || true
      t1=$(now)
      grep -m1 '^{' "$work/exec$i.json" | awk -v s="$strategy" -v m="$mode" -v i="$i" -v t0="$t0" -v t1="$t1" '{
        r = $0; sub(/.*"result":"/, "", r); sub(/".*/, "", r)
        h = $0; sub(/.*"takeover":/, "", h); sub(/[,}].*/, "", h)
        g = $0; sub(/.*"total_ms":/, "", g); sub(/[,}].*/, "", g)
        printf "%s,%s,%d,%s,%s,%s,%.3f\n", s, m, i, r, h, g, (t1 - t0) * 1000 }' >>"$out/macro_handovers.csv"
    else
      kill -TERM "$old"
      wait "$old" 2>/dev/null || true
      t1=$(now)
      start_proxy "$work/proxy$((i + 1)).log" "$addr"
      pid_now=$(now)
      echo "$proxy_pid" >"$work/current.pid"
      awk -v s="$strategy" -v m="$mode" -v i="$i" -v t0="$t0" -v t1="$t1" -v t2="$pid_now" \
        'BEGIN { printf "%s,%s,%d,ok,%.3f,%.3f,%.3f\n", s, m, i, (t2 - t0) * 1000, (t1 - t0) * 1000, (t2 - t0) * 1000 }' \
        >>"$out/macro_handovers.csv"
    fi
    i=$((i + 1))
  done
  wait "$lg" || true
  kill -TERM "$(cut -d' ' -f1 "$work/current.pid")" 2>/dev/null || true
  awk -v s="$strategy" -v m="$mode" -v n="$i" -f "$(dirname "$0")/loadgen_row.awk" \
    "$work/loadgen.json" >>"$out/macro.csv"
  echo "macro $strategy $mode: $i restarts done" >&2
}

for run in "${runs[@]}"; do
  IFS=: read -r mode k duration_ms <<<"$run"
  for strategy in ${STRATEGIES:-none pidfd stop_start}; do
    one_run "$strategy" "$mode" "$k" "$duration_ms"
  done
done
