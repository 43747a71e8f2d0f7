# One CSV row from demo_loadgen's --json line: STRATEGY,MODE,RESTARTS, then ok,
# refused, reset, timeout, bad_response, other, p50_us, p99_us, p999_us, max_us.
# Usage: awk -v s=STRATEGY -v m=MODE -v n=RESTARTS -f loadgen_row.awk loadgen.json
{
  line = s "," m "," n
  split("ok refused reset timeout bad_response other p50_us p99_us p999_us max_us", f, " ")
  for (j = 1; j <= 10; j++) {
    v = $0
    if (sub(".*\"" f[j] "\":", "", v)) { sub(/[,}].*/, "", v) } else v = ""
    line = line "," v
  }
  print line
}
