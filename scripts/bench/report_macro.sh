# shellcheck shell=bash disable=SC2154  # $dir and $fmt_awk come from report.sh
# The macro benchmark's part of scripts/bench/report.sh (sourced by it after $dir
# and $fmt_awk are set): the tables of macro.csv, macro_windows.csv and
# macro_handovers_summary.csv, and the figures the targets table quotes.

# Shared by the macro tables: the order strategies are listed in, and each one's
# steady-state run (the same server without restarts).
order_awk='
BEGIN {
  n_order = split("none pidfd pidfd_proxy scm stop_start reuseport_migrate0 reuseport_migrate1 haproxy_none haproxy_reload nginx_none nginx_reload nginx_upgrade", order_list, " ")
  for (r = 1; r <= n_order; r++) rank[order_list[r]] = r
}
function steady(s) { return s ~ /^haproxy_/ ? "haproxy_none" : s ~ /^nginx_/ ? "nginx_none" : "none" }
function label(s) { return s ~ /none$/ ? s " (steady state)" : s }
# Sorts keys[1..n] ("MODE,STRATEGY") by the order modes first appear, then by rank.
function sort_keys(keys, n, mode_rank,   i, j, x) {
  for (i = 2; i <= n; i++) {
    x = keys[i]
    for (j = i - 1; j >= 1 && key_before(x, keys[j], mode_rank); j--) keys[j + 1] = keys[j]
    keys[j + 1] = x
  }
}
function key_before(a, b, mode_rank,   pa, pb, ra, rb) {
  split(a, pa, ","); split(b, pb, ",")
  if (mode_rank[pa[1]] != mode_rank[pb[1]]) return mode_rank[pa[1]] < mode_rank[pb[1]]
  ra = pa[2] in rank ? rank[pa[2]] : 99; rb = pb[2] in rank ? rank[pb[2]] : 99
  return ra < rb
}'

macro_table() {
  echo "| load | strategy | restarts | ok | refused | reset | timeout | bad response | other | p50 | p99 | p999 | max | p99 / its steady p99 |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F, "$fmt_awk$order_awk"'
    NR == 1 { next }
    { if (!($2 in mode_rank)) mode_rank[$2] = ++modes
      key = $2 "," $1; keys[++n] = key; row[key] = $0; p99[$1, $2] = $11 }
    END {
      sort_keys(keys, n, mode_rank)
      for (i = 1; i <= n; i++) {
        split(row[keys[i]], f, ",")
        b = p99[steady(f[1]), f[2]]
        printf "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %s | %s | %s | %s | %s |\n", f[2], label(f[1]), f[3], f[4], f[5], f[6], f[7], f[8], f[9], t(f[10]), t(f[11]), t(f[12]), t(f[13]), (b > 0 ? sprintf("%.2f×", f[11] / b) : "—")
      }
    }' "$dir/macro.csv"
}

# Attempts inside restart windows and outside them, per run (macro_windows.csv).
macro_windows() {
  if [ ! -s "$dir/macro_windows.csv" ]; then
    echo "not measured (no macro_windows.csv)"
    return
  fi
  echo "| load | strategy | restarts | time in windows / outside | attempts in windows (failed) | in windows: p50 / p99 / p999 / max | attempts outside (failed) | outside windows: p50 / p99 / p999 / max | p99 in windows / its steady p99 |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  awk -F, "$fmt_awk$order_awk"'
    function pcts(k) { return cnt[k, "ok"] > 0 ? t(p[k, 1]) " / " t(p[k, 2]) " / " t(p[k, 3]) " / " t(p[k, 4]) : "—" }
    function att(k) { return (k in all) ? sprintf("%d (%d)", all[k], all[k] - cnt[k, "ok"]) : "—" }
    FNR == 1 { f++; next }
    f == 1 { restarts[$2 "," $1] = $3; next }
    { if (!($2 in mode_rank)) mode_rank[$2] = ++modes
      key = $2 "," $1; if (!(key in seen)) { seen[key] = 1; keys[++n] = key }
      k = key "," $3; all[k] = $5; cnt[k, "ok"] = $6; secs[k] = $4
      p[k, 1] = $12; p[k, 2] = $13; p[k, 3] = $14; p[k, 4] = $15
      if ($3 == "out" && $1 ~ /none$/) steady_p99[$1, $2] = $13 }
    END {
      sort_keys(keys, n, mode_rank)
      for (i = 1; i <= n; i++) {
        split(keys[i], kk, ","); ki = keys[i] ",in"; ko = keys[i] ",out"
        b = steady_p99[steady(kk[2]), kk[1]]
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", kk[1], label(kk[2]), restarts[keys[i]], \
          sprintf("%.1f s / %.1f s", secs[ki], secs[ko]), att(ki), pcts(ki), att(ko), pcts(ko), \
          (b > 0 && cnt[ki, "ok"] > 0 ? sprintf("%.2f×", p[ki, 2] / b) : "—")
      }
    }' "$dir/macro.csv" "$dir/macro_windows.csv"
}

macro_restarts() {
  echo "| load | strategy | restarts | new instance holds the listeners | new instance ready | old instance gone | whole restart (wall, from the driver) |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  awk -F, "$order_awk"'
    function ms(x) { return sprintf("%.1f ms", x) }
    NR == 1 { next }
    { if (!($3 in mode_rank)) mode_rank[$3] = ++modes
      key = $3 "," $2; if (!(key in seen)) { seen[key] = 1; keys[++n] = key }
      c[key, $1] = ms($5) " (" ms($6) "–" ms($7) ")"; if ($1 == 5) cnt[key] = $4 }
    END {
      sort_keys(keys, n, mode_rank)
      for (i = 1; i <= n; i++) {
        split(keys[i], p, ",")
        printf "| %s | %s | %d | %s | %s | %s | %s |\n", p[1], p[2], cnt[keys[i]], c[keys[i], 5], ((keys[i], 8) in c) ? c[keys[i], 8] : "—", c[keys[i], 6], c[keys[i], 7]
      }
    }' "$dir/macro_handovers_summary.csv"
}

# Median of column COL (5 hold, 6 old gone, 7 wall, 8 ready) for STRATEGY, MODE.
restart_median() {
  awk -F, -v c="$1" -v s="$2" -v m="$3" '$1 == c && $2 == s && $3 == m {print $5}' "$dir/macro_handovers_summary.csv"
}
# p99 of STRATEGY's run over its steady run's p99 (whole runs; "in" = in windows).
p99_ratio() {  # p99_ratio STRATEGY MODE [in]
  if [ "${3:-}" = in ]; then
    [ -s "$dir/macro_windows.csv" ] || return 0
    awk -F, -v s="$1" -v m="$2" '$1 == "none" && $2 == m && $3 == "out" {b = $13} $1 == s && $2 == m && $3 == "in" {p = $13} END {if (b > 0 && p != "") print p / b}' "$dir/macro_windows.csv"
  else
    awk -F, -v s="$1" -v m="$2" '$1 == "none" && $2 == m {b = $11} $1 == s && $2 == m {p = $11} END {if (b > 0 && p != "") print p / b}' "$dir/macro.csv"
  fi
}
p99_cell() {  # p99_cell STRATEGY MODE: "2.33× (13.9 vs 6.0 ms; in windows 2.80×)"
  awk -F, -v s="$1" -v m="$2" -v w="$(p99_ratio "$1" "$2" in)" '$1 == "none" && $2 == m {b = $11} $1 == s && $2 == m {p = $11}
    END {if (b > 0 && p != "") printf "%.2f× (%.1f vs %.1f ms%s)", p / b, p / 1000, b / 1000, w == "" ? "" : sprintf("; in restart windows %.2f×", w); else print "not measured"}' "$dir/macro.csv"
}
# "N restarts, F failed requests of T" and the verdict for the zero-failure target.
fail_cell() {
  awk -F, -v s="$1" '$1 == s && $2 == "new_conn" {printf "%d restarts, %d failed requests of %d", $3, $5 + $6 + $7 + $8 + $9, $4 + $5 + $6 + $7 + $8 + $9; found = 1} END {if (!found) print "not measured"}' "$dir/macro.csv"
}
fail_verdict() {
  awk -F, -v s="$1" '$1 == s && $2 == "new_conn" {f = $5 + $6 + $7 + $8 + $9; found = 1
      if ($3 >= 200 && f == 0) print "**met**"; else if (f == 0) printf "0 failures but only %d restarts (< 200)\n", $3; else printf "**missed** (%d failed)\n", f}
    END {if (!found) print "not measured"}' "$dir/macro.csv"
}
