# Splits demo_loadgen's per-attempt samples (--samples_out) into those that overlap
# a restart window and the rest, and gives each part's counts and latency percentiles.
# A restart window is [t0_us, t0_us + wall_ms] of a macro_handovers.csv row: from the
# start of the restart until the driver saw it complete (old instance gone, new one
# serving). An attempt is "in" when [start, start + latency] overlaps any window.
#
# Two passes (sort in between, so awk never sorts):
#   awk -F, -v pass=classify -v s=STRATEGY -v m=MODE -f windows.awk macro_handovers.csv samples.csv |
#     sort -k1,1 -k2,2n |
#     awk -v pass=summarize -v s=STRATEGY -v m=MODE -f windows.awk >>macro_windows.csv
# classify prints "CLASS LATENCY_US OUTCOME" per attempt, and per class one line
# "CLASS -1 time_us=N" (time covered: windows clipped to the load's span, or the rest);
# summarize prints per class:
#   strategy,mode,window,time_s,attempts,ok,refused,reset,timeout,bad_response,other,
#   p50_us,p99_us,p999_us,max_us
# with percentiles over ok attempts, picked as demo_loadgen does (index floor(q * n)).
pass == "classify" && FNR == 1 { file++ }
pass == "classify" && file == 1 && FNR > 1 && $1 == s && $2 == m && $7 != "" && $9 != "" {
  nw++; ws[nw] = $9 + 0; we[nw] = $9 + $7 * 1000
}
pass == "classify" && file == 2 && FNR > 1 {
  st = $1 + 0; en = st + $2
  if (!seen++ || st < first) first = st
  if (en > last) last = en
  # The last window starting at or before the attempt's end; windows come one after
  # the other, so if that one ended before the attempt started, every earlier one did.
  lo = 1; hi = nw; k = 0
  while (lo <= hi) { mid = int((lo + hi) / 2); if (ws[mid] <= en) { k = mid; lo = mid + 1 } else hi = mid - 1 }
  print ((k > 0 && we[k] >= st) ? "in" : "out"), $2, $3
}
pass == "classify" { next }
END {
  if (pass == "summarize") { flush(); exit }
  in_us = 0
  for (i = 1; i <= nw; i++) {
    a = ws[i] > first ? ws[i] : first; b = we[i] < last ? we[i] : last
    if (b > a) in_us += b - a
  }
  span = seen ? last - first : 0
  if (nw > 0) print "in", -1, "time_us=" in_us
  print "out", -1, "time_us=" (span - in_us)
}

function flush(   j, line, n, q) {
  if (cls == "") return
  n = cnt["ok"]
  line = s "," m "," cls "," sprintf("%.3f", time_us / 1e6) "," total
  split("ok refused reset timeout bad_response other", kinds, " ")
  for (j = 1; j <= 6; j++) line = line "," (cnt[kinds[j]] + 0)
  split("0.5 0.99 0.999", q, " ")
  for (j = 1; j <= 3; j++) line = line "," (n ? lat[(int(q[j] * n) < n ? int(q[j] * n) : n - 1) + 1] : "")
  print line "," (n ? lat[n] : "")
  delete cnt; delete lat; total = 0; time_us = 0
}
pass == "summarize" {
  if ($1 != cls) { flush(); cls = $1 }
  if ($2 == -1) { sub(/^time_us=/, "", $3); time_us = $3; next }
  total++; cnt[$3]++
  if ($3 == "ok") lat[cnt["ok"]] = $2
}
