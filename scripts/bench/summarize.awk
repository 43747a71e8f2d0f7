# Groups CSV rows by the key columns and prints: key..., count, median, q1, q3,
# min, max, failures (rows whose outcome is not "ok", by kind).
# Usage: awk -F, -v keys=1,2,3 -v value=5 -v outcome=6 -f summarize.awk file.csv
function sort(a, n,   i, j, t) {
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
}
function pct(a, n, p,   r, lo) {
  r = 1 + (n - 1) * p; lo = int(r)
  if (lo >= n) return a[n]
  return a[lo] + (r - lo) * (a[lo + 1] - a[lo])
}
BEGIN { nk = split(keys, k, ",") }
NR == 1 { for (i = 1; i <= nk; i++) hdr = hdr $k[i] ","; next }
{
  key = ""
  for (i = 1; i <= nk; i++) key = key $k[i] ","
  if (!(key in seen)) { seen[key] = 1; order[++nkeys] = key }
  if ($outcome == "ok") { vals[key, ++cnt[key]] = $value }
  else { fails[key] = fails[key] (fails[key] == "" ? "" : " ") $outcome "@" $value }
}
END {
  print hdr "count,median,q1,q3,min,max,failures"
  for (x = 1; x <= nkeys; x++) {
    key = order[x]; n = cnt[key]
    if (n == 0) { print key "0,,,,,," fails[key]; continue }
    delete a
    for (i = 1; i <= n; i++) a[i] = vals[key, i] + 0
    sort(a, n)
    printf "%s%d,%.1f,%.1f,%.1f,%.1f,%.1f,%s\n", key, n, pct(a, n, .5), pct(a, n, .25), pct(a, n, .75), a[1], a[n], fails[key]
  }
}
