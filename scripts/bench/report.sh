#!/usr/bin/env bash
# Prints docs/benchmarks.md from the files scripts/bench.sh leaves in DIR.
#   scripts/bench/report.sh docs/bench > docs/benchmarks.md
set -euo pipefail
dir=$1
val() { awk -F= -v k="$1" '$1 == k {sub(/^[^=]*=/, ""); print; exit}' "$dir/machine.txt"; }

# Median "q1-q3" of one summary row, in µs or ms.
fmt_awk='
function t(us) { return us >= 10000 ? sprintf("%.1f ms", us / 1000) : us >= 1000 ? sprintf("%.2f ms", us / 1000) : sprintf("%.0f µs", us) }
function cell(med, q1, q3) { return t(med) " (" t(q1) "–" t(q3) ")" }'

# takeover table for one state: N | pidfd | scm | getfd | dup | pidfd/scm | pidfd/getfd
takeover_table() {
  local state=$1
  echo "| N | pidfd path | SCM_RIGHTS | bare pidfd_getfd loop | bare dup loop | pidfd / SCM (paired) | pidfd / getfd loop (paired) | list-first path |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F, -v s="$state" "$fmt_awk"'
    FNR == 1 { f++; next }
    f == 1 && $1 == s {
      ns[$3] = 1
      if ($4 > 0) c[$2, $3] = cell($5, $6, $7)
      else c[$2, $3] = "fails: " $10
    }
    f == 2 && $1 == s { r[$4, $2] = sprintf("%.2f× (%.2f–%.2f)", $6, $7, $8) }
    END {
      n = 0; for (k in ns) order[++n] = k + 0
      for (i = 2; i <= n; i++) { v = order[i]; for (j = i - 1; j >= 1 && order[j] > v; j--) order[j + 1] = order[j]; order[j + 1] = v }
      for (i = 1; i <= n; i++) {
        k = order[i]
        printf "| %d | %s | %s | %s | %s | %s | %s | %s |\n", k, c["pidfd", k], c["scm", k], c["getfd", k], c["dup", k], \
          (("scm", k) in r) && r["scm", k] !~ /^0.00/ ? r["scm", k] : "—", r["getfd", k], c["pidfd_list", k]
      }
    }' "$dir/takeover_summary.csv" \
    <(awk -F, 'NR == 1 || $6 > 0' "$dir/takeover_ratios.csv")
}

steps_table() {
  echo "| state | N | open + prove | discover | take + verify | sum of steps |"
  echo "|---|---:|---:|---:|---:|---:|"
  awk -F, "$fmt_awk"'
    NR > 1 && $2 ~ /^(step_|phases$)/ { c[$1, $3, $2] = t($5); key[$1 "," $3] = 1 }
    END {
      split("idle busy stopped", st, " ")
      for (s = 1; s <= 3; s++) for (k in key) {
        split(k, p, ","); if (p[1] != st[s]) continue
        line[st[s], p[2] + 0] = sprintf("| %s | %d | %s | %s | %s | %s |", p[1], p[2], c[p[1], p[2], "step_open"], c[p[1], p[2], "step_discover"], c[p[1], p[2], "step_take"], c[p[1], p[2], "phases"])
      }
      split("1 16 64 256 1024 4096", ns, " ")
      for (s = 1; s <= 3; s++) for (i = 1; i <= 6; i++) if ((st[s], ns[i]) in line) print line[st[s], ns[i]]
    }' "$dir/takeover_summary.csv"
}

stopped_scm() {
  awk -F, 'NR > 1 && $1 == "stopped" && $2 == "scm" {
    n = split($10, f, " "); kinds = ""
    for (i = 1; i <= n; i++) { split(f[i], p, "@"); kinds = kinds sprintf("%s%s after %.0f ms", i > 1 ? ", " : "", p[1], p[2] / 1000) }
    printf "- N = %d: %d of %d attempts succeeded; failures: %s\n", $3, $4, $4 + n, kinds == "" ? "none" : kinds
  }' "$dir/takeover_summary.csv"
}

# Takeover from a loaded demo_proxy (handover_bench --mode=loaded): loaded.csv,
# loaded_summary.csv, loaded_ratios.csv and loaded_load.csv; "not measured" without them.
have_loaded() { [ -s "$dir/loaded_summary.csv" ] && [ -s "$dir/loaded_ratios.csv" ]; }

# loaded_table STATE: N | pidfd | scm | getfd | pidfd/scm | pidfd/getfd
loaded_table() {
  local state=$1
  if ! have_loaded || ! awk -F, -v s="$state" 'NR > 1 && $1 == s {f = 1} END {exit !f}' "$dir/loaded_summary.csv"; then
    echo "not measured"
    return
  fi
  echo "| N | pidfd path | SCM_RIGHTS (answered by the loaded loop) | bare pidfd_getfd loop | pidfd / SCM (paired) | pidfd / getfd loop (paired) |"
  echo "|---:|---:|---:|---:|---:|---:|"
  awk -F, -v s="$state" "$fmt_awk"'
    FNR == 1 { f++; next }
    f == 1 && $1 == s {
      if (!($3 in ns)) { ns[$3] = 1; order[++n] = $3 + 0 }
      c[$2, $3] = $4 > 0 ? cell($5, $6, $7) : "fails: " $10
      if ($4 > 0 && $10 != "") c[$2, $3] = c[$2, $3] "; failed: " $10
    }
    f == 2 && $1 == s { r[$4, $2] = $5 > 0 ? sprintf("%.2f× (%.2f–%.2f)", $6, $7, $8) : "—" }
    END {
      for (i = 1; i <= n; i++) {
        k = order[i]
        printf "| %d | %s | %s | %s | %s | %s |\n", k, c["pidfd", k], c["scm", k], c["getfd", k], r["scm", k], r["getfd", k]
      }
    }' "$dir/loaded_summary.csv" "$dir/loaded_ratios.csv"
}

# loaded_load_table: the load each point ran under (loaded_load.csv).
loaded_load_table() {
  if [ ! -s "$dir/loaded_load.csv" ]; then
    echo "not measured"
    return
  fi
  echo "| load | N | demo_loadgen ok requests/s (failed requests) | its p99 | demo_proxy's loop while measured: on a CPU + runnable, waiting for one | repetitions took |"
  echo "|---|---:|---:|---:|---:|---:|"
  awk -F, 'NR > 1 {printf "| %s | %d | %d (%d) | %.1f ms | %.0f%% + %.0f%% | %.0f ms of %d ms of load |\n", $1 == "loaded" ? "new_conn" : "keepalive", $2, $8, $7, $11 / 1000, $9, $10, $4, $5}' \
    "$dir/loaded_load.csv"
}

discover_table() {
  echo "| established connections in the namespace | fds the target holds | sock_diag | /proc/PID/net | full TakeOver (auto) |"
  echo "|---:|---:|---:|---:|---:|"
  awk -F, "$fmt_awk"'
    NR > 1 { c[$1, $2, $3] = $4 > 0 ? cell($5, $6, $7) : "fails: " $10; if (!(($1, $2) in seen)) { seen[$1, $2] = 1; o[++n] = $1 "," $2 } }
    END { for (i = 1; i <= n; i++) { split(o[i], p, ","); printf "| %d | %d | %s | %s | %s |\n", p[1], p[2], c[p[1], p[2], "sock_diag"], c[p[1], p[2], "proc_net"], c[p[1], p[2], "takeover"] } }' \
    "$dir/discover_summary.csv"
}

# shellcheck source=scripts/bench/report_macro.sh
source "$(dirname "$0")/report_macro.sh"

# Median of one summary row: median_of FILE FIELDS... (key columns 1..3)
median_of() {
  awk -F, -v a="$2" -v b="$3" -v c="$4" 'NR > 1 && $1 == a && $2 == b && $3 == c {print $5; exit}' "$1"
}
ratio_of() {
  awk -F, -v s="$1" -v n="$2" -v b="$3" 'NR > 1 && $1 == s && $2 == n && $4 == b {printf "%.2f (IQR %.2f–%.2f, %d pairs)", $6, $7, $8, $5; exit}' \
    "$dir/takeover_ratios.csv"
}
loaded_ratio_of() {  # loaded_ratio_of STATE N: "median (IQR, pairs)" of pidfd / SCM
  have_loaded || { echo "not measured"; return; }
  awk -F, -v s="$1" -v n="$2" 'NR > 1 && $1 == s && $2 == n && $4 == "scm" && $5 > 0 {printf "%.2f (IQR %.2f–%.2f, %d pairs)", $6, $7, $8, $5; f = 1; exit} END {if (!f) print "not measured"}' \
    "$dir/loaded_ratios.csv"
}
loaded_worst() {  # loaded_worst STATE MAX_N: the largest median pidfd / SCM for N <= MAX_N
  have_loaded || return 0
  awk -F, -v s="$1" -v m="$2" 'NR > 1 && $1 == s && $4 == "scm" && $2 <= m && $5 > 0 && (w == "" || $6 > w) {w = $6} END {print w}' \
    "$dir/loaded_ratios.csv"
}
loaded_target_figures() {  # pidfd / SCM from the loaded demo_proxy at N = 1, 16, 64
  if ! have_loaded; then
    echo "loaded demo_proxy: not measured (no loaded.csv)"
    return
  fi
  echo "new_conn load: pidfd / SCM at N = 1: $(loaded_ratio_of loaded 1); N = 16: $(loaded_ratio_of loaded 16); N = 64: $(loaded_ratio_of loaded 64). Keep-alive load: N = 1: $(loaded_ratio_of loaded_keepalive 1); N = 16: $(loaded_ratio_of loaded_keepalive 16); N = 64: $(loaded_ratio_of loaded_keepalive 64)"
}
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }

# verdict VALUE LIMIT: "met" when VALUE <= LIMIT, else "missed by X×".
verdict() {
  awk -v v="$1" -v l="$2" 'BEGIN { if (v == "") print "not measured"; else if (v + 0 <= l + 0) print "**met**"; else printf "**missed** (%.1f× the limit)\n", v / l }'
}
ratio_med() {
  awk -F, -v s="$1" -v n="$2" -v b="$3" 'NR > 1 && $1 == s && $2 == n && $4 == b {print $6; exit}' "$dir/takeover_ratios.csv"
}
worst_ratio() {  # worst_ratio STATE B MAX_N: the largest median ratio for N <= MAX_N
  awk -F, -v s="$1" -v b="$2" -v m="$3" 'NR > 1 && $1 == s && $4 == b && $2 <= m && $5 > 0 && $6 > w {w = $6} END {print w}' "$dir/takeover_ratios.csv"
}
hold_ms=$(restart_median 5 pidfd new_conn)
scm_ready_ms=$(restart_median 8 scm new_conn)

max_n=$(awk -F, 'NR > 1 && $1 == "idle" {print $3}' "$dir/takeover_summary.csv" | sort -n | tail -1)
max_conns=$(awk -F, 'NR > 1 {print $1}' "$dir/discover_summary.csv" | sort -n | tail -1)
d_idle=$(median_of "$dir/discover_summary.csv" 0 100 sock_diag)
d_busy=$(median_of "$dir/discover_summary.csv" "$max_conns" 100 sock_diag)
t_idle=$(median_of "$dir/discover_summary.csv" 0 100 takeover)
t_busy=$(median_of "$dir/discover_summary.csv" "$max_conns" 100 takeover)
p_idle=$(median_of "$dir/discover_summary.csv" 0 100 proc_net)
p_busy=$(median_of "$dir/discover_summary.csv" "$max_conns" 100 proc_net)

cat <<EOF
# Benchmarks

Generated by \`scripts/bench.sh\` ($(val mode) run) — do not edit by hand; edit
\`scripts/bench/report.sh\` and rerun. Raw rows: [docs/bench/](bench/) (\`takeover.csv\`,
\`loaded.csv\`, \`discover.csv\`, \`macro.csv\`, \`macro_handovers.csv\`,
\`macro_windows.csv\`), summaries and paired ratios next to them.

| | |
|---|---|
| date | $(val date) |
| commit | $(val commit) |
| kernel | $(val kernel) |
| machine | $(val nproc) vCPU ($(val cpu)), $(val mem_mb) MB, VM |
| RLIMIT_NOFILE hard | $(val nofile_hard) |
| TCP sockets before the run (\`ss -s\`) | $(val tcp_before) |
| load average before / after (other work shares this VM) | $(val load_before) / $(val load_after) |

Commands (from \`scripts/bench.sh\`; \`scripts/bench.sh --quick\` runs fewer points):
\`\`\`
$(sed "s|$(cd "$dir/../.." && pwd)/||g" "$dir/commands.txt")
\`\`\`

## Method

- Every figure is the **median of repeated runs** with the interquartile range
  (q1–q3) in brackets; min/max and the count are in \`takeover_summary.csv\` /
  \`discover_summary.csv\`. A failed run is never averaged in: it is listed by kind.
- **Ratios are paired**: the methods run interleaved, in rotating order, inside each
  repetition against the same old process, and the ratio is taken per repetition;
  the table gives the median of those ratios and their IQR.
- Absolute times come from a 2-vCPU VM where every syscall costs 1–3 µs
  (paravirtualised interrupt enabling shows at the top of \`perf\`): read ratios.
- The old instance is \`scm_server\` (tests/testing): N TCP listeners on 127.0.0.1 and an
  SCM_RIGHTS control socket served from its poll loop. **idle**: it waits in
  poll(). **busy**: its loop computes ${BUSY_MS:-10} ms between polls (a loaded event loop: a
  request waits 0–10 ms for the loop, then is served). **stopped**: SIGSTOPped.
- **pidfd path** = \`handover::TakeOver({.pid})\`, copy-first (the default): pidfd_open,
  prove identity, read the fd numbers of /proc/PID/fd, sock_diag dump of the target's
  netns, pidfd_getfd of EVERY fd, SO_COOKIE of the copies (one io_uring submission per
  1024; getsockopt below 64 fds), keep those whose cookie the dump lists, SO_ACCEPTCONN
  of the kept listeners (batched the same way). It takes N + 1 sockets (the control
  socket is a unix listener too). **list-first path** = the same call with
  \`.path = kListFirst\` (what TakeOver did before): readlinkat of every /proc/PID/fd/N,
  sock_diag, join by inode, then pidfd_getfd, fstat (inode) and SO_ACCEPTCONN per
  socket; the step table below times its steps.
  **SCM_RIGHTS** = \`handover::FetchListeners\`: connect, request, receive N fds in
  batches of 253, the old side answering from its loop. **getfd loop**: pidfd_getfd of
  the N known fd numbers, pidfd opened beforehand. **dup loop**: F_DUPFD_CLOEXEC of N
  sockets of our own. All copies are closed after the clock stops.
- Discovery: \`conn_holder\` processes hold the host's established loopback
  connections (both ends; 8000 per process because the hard RLIMIT_NOFILE here is
  $(val nofile_hard) and cannot be raised without CAP_SYS_RESOURCE). The target is
  \`fd_holder\` with 4 listeners plus established connections to reach ~100 or ~16k fds
  (those connections are in the namespace too). sock_diag / proc_net =
  \`DiscoverSockets(..., {.method, .inspect_copies = false})\`, as TakeOver calls it.

## Takeover latency against N listeners

![takeover latency](bench/takeover.png)

### Old instance idle
$(takeover_table idle)

### Old instance busy (loop blocked ${BUSY_MS:-10} ms at a time)
$(takeover_table busy)

### Old instance SIGSTOPped
$(takeover_table stopped)

SCM_RIGHTS against the stopped instance (timeout 200 ms):
$(stopped_scm)

### Where the list-first path spends its time
The list-first path again, timed step by step (\`Process::Open\`, \`ListSockets\`, \`TakeSockets\`):
$(steps_table)

## Takeover latency from a loaded demo_proxy

\`handover_bench --mode=loaded\`: the old instance is a real \`demo_proxy\` with N
listeners on 127.0.0.1 and \`--control_socket\` (its SCM_RIGHTS server, answered from
its epoll loop between relaying events), relaying to \`demo_backend\` while
\`demo_loadgen\` (concurrency 16: \`--load_concurrency\`; as fast as it can) loads its first listener:
**new_conn** (a connection per request: accept, backend connect, relay, close) or
**keepalive** (16 persistent connections). Every repetition runs while the load
runs: a repetition is kept only if the load ran before and after it. Same methods and pairing as above: pidfd path
(\`TakeOver({.pid})\`, N + 1 sockets: the control socket is a unix listener too),
SCM_RIGHTS (\`FetchListeners\` on the control socket, N fds), bare pidfd_getfd loop.
The bench itself shares the 2 vCPUs with the loaded proxy, backend and load
generator, so every method also waits for a CPU.

![takeover latency from a loaded demo_proxy](bench/loaded.png)

### new_conn load
$(loaded_table loaded)

### keep-alive load
$(loaded_table loaded_keepalive)

The load each point ran under:
$(loaded_load_table)

## Discovery cost against what the host holds

![discovery cost](bench/discover.png)

$(discover_table)

## Restarting demo_proxy under load

\`scripts/bench/macro.sh\`: demo_loadgen (concurrency 16, as fast as it can: the
2 vCPUs are saturated) → demo_proxy → demo_backend, all on 127.0.0.1, in a network
namespace of their own (\`unshare --net\`, when permitted; this run: $(val macro_netns || true)):
other work on the machine's loopback stays out, and \`net.ipv4.tcp_migrate_req\`
can be set for this run only. One run per row. The restarts follow each other from
the first successful request on, and the load ends 1 s after the last one (the runs
without restarts last a fixed time).
**pidfd** = \`handover exec --ready=notify -- demo_proxy\` (pidfd_getfd takeover, the
new proxy inherits the sockets, then the old one is sent SIGTERM and awaited);
**pidfd_proxy** = a new \`demo_proxy --takeover_pid=OLD\` (it takes the sockets with
pidfd_getfd itself, serves them, then sends SIGTERM through the pidfd);
**scm** = a new \`demo_proxy --takeover_scm=CTL\` (SCM_RIGHTS from the old instance's
control socket, served from its event loop; then SIGTERM through the pidfd);
**stop_start** = SIGTERM, wait for exit, start a new proxy on the same port;
**reuseport_migrate0/1** = SO_REUSEPORT overlap: the old proxy was started with
\`--reuseport\`, a new \`demo_proxy --reuseport\` binds its own socket on the same
address and gets ready, then the old one is sent SIGTERM and closes its socket, with
\`tcp_migrate_req\` 0 (connections queued on the closed socket are reset) or 1 (the
kernel moves them to the new socket). A draining demo_proxy closes the connections
still open after 1 s (it relays bytes and cannot tell an idle keep-alive connection
from a busy one).
The peers (\`scripts/bench/peers.sh\`, Debian's HAProxy 2.6 and nginx 1.22, TCP
relays to the same backend): **haproxy_reload** = \`haproxy -W\` with a stats socket
with \`expose-fd listeners\`, reload = SIGUSR2 to the master (the new worker gets the
listeners from the old one over SCM_RIGHTS; the next reload waits until the master
can take it: after each load it re-executes itself, and a SIGUSR2 meanwhile is lost);
**nginx_reload** = SIGHUP to the master (the master keeps its listeners and starts
new workers; old workers drain); **nginx_upgrade** = binary upgrade: SIGUSR2 to the
master (it starts a new master that inherits the listeners through \`NGINX=\`), then
SIGWINCH and SIGQUIT to the old master once the new one has a worker (nginx
daemonized: it ignores both signals otherwise). **haproxy_none** / **nginx_none**
are the same servers without restarts, each peer's own steady state.

$(macro_table)

### In restart windows and outside them

![latency per restart strategy, in restart windows and outside](bench/macro.png)


demo_loadgen records every attempt (\`--samples_out\`); a restart window runs from the
start of a restart until the driver saw it complete (old instance gone, new one
serving: the wall column below). An attempt is "in" when it overlaps a window.
"Outside" is the gaps between the back-to-back restarts plus the last second of the
run; the steady-state runs are the reference for the ratio.

$(macro_windows)

### Per restart

Median (IQR): "holds the listeners" is the takeover step for pidfd (from handover's
report), pidfd_proxy and scm (\`takeover_us\` from the new demo_proxy: after the new
process started), the time until the new proxy printed "ready" for stop_start and
reuseport (it binds its own socket just before), and the time until the new worker
process exists for the peers (it may take a little longer to accept). "Ready" is from
the start of the restart until the new proxy serves (pidfd: handover's takeover +
spawn + readiness; HAProxy: the master's "Loading success."). "Old gone" is from the
start of the restart until the old process (old worker for the peers, old master for
nginx_upgrade) exited (handover's total for pidfd).

$(macro_restarts)

## Targets (issue #5): where we stand

| target | measured (this run) | status |
|---|---|---|
| 0 failed attempts over ≥ 200 handovers at saturating new-connection load (pidfd, SCM_RIGHTS) | pidfd (\`handover exec\`): $(fail_cell pidfd); SCM_RIGHTS (demo_proxy \`--takeover_scm\`): $(fail_cell scm); pidfd inside demo_proxy (\`--takeover_pid\`): $(fail_cell pidfd_proxy) | pidfd: $(fail_verdict pidfd); SCM_RIGHTS: $(fail_verdict scm) |
| pidfd ≤ SCM_RIGHTS for N ≤ 64, from a loaded demo_proxy | $(loaded_target_figures). (Secondary, idle scm_server: N = 1: $(ratio_of idle 1 scm); N = 16: $(ratio_of idle 16 scm); N = 64: $(ratio_of idle 64 scm).) | new_conn load: $(verdict "$(loaded_worst loaded 64)" 1); keep-alive load: $(verdict "$(loaded_worst loaded_keepalive 64)" 1) (idle scm_server: $(verdict "$(worst_ratio idle scm 64)" 1)) |
| old event loop busy: pidfd ≤ 0.1 × SCM_RIGHTS | N = 1: $(ratio_of busy 1 scm); N = 16: $(ratio_of busy 16 scm); N = 64: $(ratio_of busy 64 scm); N = $max_n: $(ratio_of busy "$max_n" scm) | N ≤ 16: $(verdict "$(worst_ratio busy scm 16)" 0.1); N ≤ 64: $(verdict "$(worst_ratio busy scm 64)" 0.1); N = $max_n: $(verdict "$(ratio_med busy "$max_n" scm)" 0.1) |
| N = 4096: full pidfd path ≤ 1.5 × bare pidfd_getfd loop | N = $max_n, idle: $(ratio_of idle "$max_n" getfd) | $(verdict "$(ratio_med idle "$max_n" getfd)" 1.5) |
| discovery with 100k established connections ≤ 2 × idle host | sock_diag, 100-fd target, $max_conns connections vs 0: $(div "$d_busy" "$d_idle")× (medians $(awk -v a="$d_busy" -v b="$d_idle" 'BEGIN {printf "%.0f vs %.0f µs", a, b}')); full TakeOver: $(div "$t_busy" "$t_idle")×; /proc/PID/net instead: $(div "$p_busy" "$p_idle")× | sock_diag: $(verdict "$(div "$d_busy" "$d_idle")" 2) |
| p99 with handovers ≤ 1.2 × without (whole run with restarts vs the run without; in restart windows vs that too) | new_conn: pidfd $(p99_cell pidfd new_conn), SCM_RIGHTS $(p99_cell scm new_conn); keepalive: pidfd $(p99_cell pidfd keepalive), SCM_RIGHTS $(p99_cell scm keepalive) | new_conn: pidfd $(verdict "$(p99_ratio pidfd new_conn)" 1.2), SCM_RIGHTS $(verdict "$(p99_ratio scm new_conn)" 1.2); keepalive: pidfd $(verdict "$(p99_ratio pidfd keepalive)" 1.2), SCM_RIGHTS $(verdict "$(p99_ratio scm keepalive)" 1.2) |
| new instance holds the listeners ≤ 20 ms (median) after the restart starts | pidfd, new_conn: $(awk -F, '$1 == 5 && $2 == "pidfd" && $3 == "new_conn" {printf "%.1f ms (takeover step; the new proxy process is spawned %s)", $5, "after it"}' "$dir/macro_handovers_summary.csv"); SCM_RIGHTS, new_conn: the new demo_proxy is ready $(awk -v v="$scm_ready_ms" 'BEGIN {if (v == "") print "(not measured)"; else printf "%.1f ms", v}') after the restart starts (it starts as a process first; its fetch itself takes $(awk -F, '$1 == 5 && $2 == "scm" && $3 == "new_conn" {printf "%.1f ms", $5}' "$dir/macro_handovers_summary.csv")) | pidfd: $(verdict "$hold_ms" 20); SCM_RIGHTS: $(verdict "$scm_ready_ms" 20) |

EOF
cat "$(dirname "$0")/analysis.md"
