#!/usr/bin/env bash
# The peers, from Debian: demo_loadgen against HAProxy or nginx (TCP relay to
# demo_backend on loopback) while they reload K times, one after the other.
#   haproxy_reload  haproxy -W (master-worker), stats socket with expose-fd
#                   listeners; reload = SIGUSR2 to the master: the new worker
#                   gets the listeners from the old one over SCM_RIGHTS (-x).
#   nginx_reload    nginx master + 1 worker; reload = SIGHUP to the master (the
#                   master keeps the listeners; new workers, old ones drain).
# Old workers get 1 s to drain (hard-stop-after, worker_shutdown_timeout), as
# demo_proxy in macro.sh.
# Appends to OUT/macro.csv and OUT/macro_handovers.csv (made by macro.sh):
# hold_ms = until a new worker exists, old_gone_ms = until the old worker exited.
#   scripts/bench/peers.sh BIN_DIR OUT_DIR MODE:K:DURATION_MS,...
set -euo pipefail
bin=$1
out=$2
IFS=, read -r -a runs <<<"$3"
concurrency=${CONCURRENCY:-16}

work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

now() { echo "$EPOCHREALTIME"; }
pause() { read -r -t 0.002 <> <(:) || true; }  # 2 ms, without spawning sleep

# Bounded waits on process state (these processes are not our children).
children_of() { cat "/proc/$1/task/$1/children" 2>/dev/null || true; }
await_gone() {  # await_gone PID: at most ~10 s
  local i
  for ((i = 0; i < 5000; i++)); do
    [ -d "/proc/$1" ] || return 0
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] && return 0
    pause
  done
  return 1
}
# A child of PARENT that is not in SEEN (" pid pid ... ") and not a zombie (a
# former worker stays listed until its parent reaps it).
await_new_child() {  # await_new_child PARENT SEEN -> new child pid, at most ~10 s
  local i c
  for ((i = 0; i < 5000; i++)); do
    for c in $(children_of "$1"); do
      case "$2" in *" $c "*) continue ;; esac
      [ "$(awk '{print $3}' "/proc/$c/stat" 2>/dev/null)" = Z ] && continue
      [ -d "/proc/$c" ] && { echo "$c"; return 0; }
    done
    pause
  done
  return 1
}

free_port() {  # a port nothing listens on (loopback)
  local p
  for p in $(seq 18080 18180); do
    ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return 0; }
  done
  return 1
}

"$bin/demo_backend" --listen=127.0.0.1:0 >"$work/backend.log" 2>&1 &
pids+=($!)
for ((i = 0; i < 500; i++)); do
  backend=$(grep -m1 -oE '127\.0\.0\.1:[0-9]+' "$work/backend.log" || true)
  [ -n "$backend" ] && break
  pause
done

start_haproxy() {  # -> master pid in $master
  cat >"$work/haproxy.cfg" <<EOF
global
  stats socket $work/haproxy.sock mode 600 level admin expose-fd listeners
  maxconn 8000
  hard-stop-after 1s
defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend f
  bind 127.0.0.1:$port
  default_backend b
backend b
  server s1 $backend
EOF
  haproxy -W -db -q -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
  master=$!
  pids+=("$master")
}

start_nginx() {
  mkdir -p "$work/nginx"
  cat >"$work/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process on;
worker_processes 1;
worker_shutdown_timeout 1s;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 8000; }
stream {
  server {
    listen 127.0.0.1:$port;
    proxy_pass $backend;
  }
}
EOF
  nginx -p "$work/nginx" -c "$work/nginx.conf" >"$work/nginx.log" 2>&1 &
  master=$!
  pids+=("$master")
}

one_run() {  # one_run PEER MODE K DURATION_MS
  local peer=$1 mode=$2 k=$3 duration_ms=$4 i=0 t0 t1 t2 old new sig
  port=$(free_port)
  if [ "$peer" = haproxy_reload ]; then start_haproxy; sig=USR2; else start_nginx; sig=HUP; fi
  old=$(await_new_child "$master" " ") || { echo "peers.sh: $peer did not start" >&2; return 1; }
  local seen=" $old "
  # Ready once it accepts.
  for ((i = 0; i < 2500; i++)); do
    ss -Hltn "sport = :$port" | grep -q . && break
    pause
  done
  i=0
  "$bin/demo_loadgen" --target="127.0.0.1:$port" --mode="$mode" --concurrency="$concurrency" \
    --duration_ms="$duration_ms" --json >"$work/loadgen.json" 2>"$work/loadgen.log" &
  local lg=$!
  pids+=("$lg")
  while [ "$i" -lt "$k" ] && kill -0 "$lg" 2>/dev/null; do
    t0=$(now)
    kill -"$sig" "$master"
    if ! new=$(await_new_child "$master" "$seen"); then
      echo "$peer,$mode,$i,no_new_worker,,," >>"$out/macro_handovers.csv"
      break
    fi
    t1=$(now)
    if ! await_gone "$old"; then
      echo "$peer,$mode,$i,old_worker_stayed,,," >>"$out/macro_handovers.csv"
      break
    fi
    t2=$(now)
    awk -v s="$peer" -v m="$mode" -v i="$i" -v t0="$t0" -v t1="$t1" -v t2="$t2" \
      'BEGIN { printf "%s,%s,%d,ok,%.3f,%.3f,%.3f\n", s, m, i, (t1 - t0) * 1000, (t2 - t0) * 1000, (t2 - t0) * 1000 }' \
      >>"$out/macro_handovers.csv"
    old=$new
    seen+="$new "
    i=$((i + 1))
  done
  wait "$lg" 2>/dev/null || true
  # Stop the peer: SIGTERM, then SIGKILL its master and workers if it lingers.
  local workers
  workers=$(children_of "$master")
  kill -TERM "$master" 2>/dev/null || true
  await_gone "$master" || true
  # shellcheck disable=SC2086  # word splitting of the pid list is intended
  kill -KILL "$master" $workers 2>/dev/null || true
  wait "$master" 2>/dev/null || true
  awk -v s="$peer" -v m="$mode" -v n="$i" -f "$(dirname "$0")/loadgen_row.awk" \
    "$work/loadgen.json" >>"$out/macro.csv"
  echo "peers $peer $mode: $i reloads done" >&2
}

for run in "${runs[@]}"; do
  IFS=: read -r mode k duration_ms <<<"$run"
  for peer in ${PEERS:-haproxy_reload nginx_reload}; do
    one_run "$peer" "$mode" "$k" "$duration_ms" || echo "peers.sh: $peer $mode failed" >&2
  done
done
