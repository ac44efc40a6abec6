#!/usr/bin/env bash
# http_bench.sh — HTTP throughput and latency of `jifen serve` with wrk.
#
#   bench/http_bench.sh [DURATION_S]     (default 10; JIFEN_BIN, WRK_THREADS,
#                                         WRK_CONNECTIONS override)
# (a) GET /healthz  (b) GET /v1/members/{id}  (c) POST earn, unique biz_no
# (d) POST spend  (e) POST /v1/events, an order.paid with a unique event_id
# evaluated against the demo tenant's rules (the server runs with --demo: 5
# rules of order.paid and a weekly task)  (c') POST earn again  (f) earns and
# events interleaved, four rounds of 3 s each.  Prints req/s, p50, p99 per
# case, the ratios b/a and c/a, events/earn twice — e against the mean of c
# and c', which bracket it, so the database growing during the run weighs on
# both sides; and f's totals, which also cancel the machine's speed
# drifting between runs — and the committer's mean batch size from /metrics.
# Never asserts: the numbers depend on the machine; docs/architecture.md
# says how to read them.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=${JIFEN_BIN:-build/jifen}
DUR=${1:-10}
THREADS=${WRK_THREADS:-2}
CONNS=${WRK_CONNECTIONS:-64}
MEMBERS=1000
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/deps.sh --bench)"; exit 1; }

dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
db="$dir/bench.db"
# --demo: a fresh database gets the demo tenant with the seeds' earning
# programme (what `make run` starts with); its admin key is printed once.
start_demo "$BIN" "$db" "$dir"
port=${base##*:}
[[ -n $key ]] || { echo "no demo key in the server's output: $(cat "$dir/out" "$dir/err")"; exit 1; }
order_rules=$(curl -s "$base/v1/rules?limit=100" -H "Authorization: Bearer $key" |
  python3 -c 'import json,sys; print(sum(r["event_type"] == "order.paid" and r["enabled"] for r in json.load(sys.stdin)["rules"]))')
export JIFEN_KEY=$key JIFEN_BENCH_MEMBERS=$MEMBERS

# Seed: every member gets points so that spends succeed (32 parallel clients).
python3 - "$port" "$key" "$MEMBERS" <<'PY'
import http.client, json, sys
from concurrent.futures import ThreadPoolExecutor
port, key, members = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def seed(chunk):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for i in chunk:
        body = json.dumps({"points": 1000000, "biz_no": f"seed-{i}"})
        conn.request("POST", f"/v1/members/m{i}/earn", body,
                     {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        r = conn.getresponse(); r.read()
        assert r.status == 201, r.status
with ThreadPoolExecutor(32) as ex:
    list(ex.map(seed, [range(k, members, 32) for k in range(32)]))
PY

# run NAME URL [LUA] → "rps p50_ms p99_ms"
run() {
  local name=$1 url=$2 lua=${3:-}
  local out
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency ${lua:+-s "$lua"} "$url")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local non2xx
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%-28s %10s req/s   p50 %8s   p99 %8s%s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:+   non-2xx: $non2xx}" >&2
  echo "$rps"
}
metric() { curl -s "$base/metrics" | awk -v m="$1" '$1==m {print $2}'; }

echo "== HTTP (wrk -t$THREADS -c$CONNS, ${DUR}s each, $(nproc) cores)" >&2
a=$(run "(a) GET /healthz" "$base/healthz")
b=$(run "(b) GET /v1/members/{id}" "$base/v1/members/m1" bench/http_get.lua)
s0=$(metric jifen_committer_batch_size_sum); c0=$(metric jifen_committer_batch_size_count); f0=$(metric jifen_fsyncs_total)
c=$(run "(c) POST earn (unique biz_no)" "$base" bench/http_write.lua)
s1=$(metric jifen_committer_batch_size_sum); c1=$(metric jifen_committer_batch_size_count); f1=$(metric jifen_fsyncs_total)
d=$(JIFEN_BENCH_OP=spend run "(d) POST spend" "$base" bench/http_write.lua)
e=$(JIFEN_BENCH_OP=event run "(e) POST /v1/events order.paid" "$base" bench/http_write.lua)
c2=$(run "(c') POST earn again" "$base" bench/http_write.lua)
# (f) The same ratio measured interleaved: four rounds of 3 s of earns and
# 3 s of events, the order swapped every round, so that the machine's speed
# drifting (±10 % from minute to minute here) and the database growing
# weigh on both sides alike.  The ratio of the totals.
fe=0; fv=0
for round in 1 2 3 4; do
  if (( round % 2 )); then order="earn event"; else order="event earn"; fi
  for op in $order; do
    r=$(JIFEN_BENCH_OP=$op wrk -t"$THREADS" -c"$CONNS" -d3s -s bench/http_write.lua "$base" | awk '/Requests\/sec/ {print $2}')
    if [ "$op" = earn ]; then fe=$(python3 -c "print($fe + $r)"); else fv=$(python3 -c "print($fv + $r)"); fi
  done
done
printf '%-28s %10.0f req/s   events %10.0f req/s   (4 rounds of 3 s each, alternating)\n' "(f) interleaved: earn" \
  "$(python3 -c "print($fe / 4)")" "$(python3 -c "print($fv / 4)")" >&2
python3 - "$a" "$b" "$c" "$s0" "$c0" "$s1" "$c1" "$e" "$c2" "$order_rules" "$f0" "$f1" "$fe" "$fv" >&2 <<'PY'
import sys
a, b, c, s0, c0, s1, c1, e, c2, rules, f0, f1, fe, fv = (float(x) for x in sys.argv[1:])
print(f"ratio b/a (GET member / healthz): {b / a:.2f}   (target >= 0.70)")
print(f"ratio c/a (durable earn / healthz): {c / a:.2f}")
print(f"earns/s: {c:.0f}   (target >= 15000 with p99 < 15 ms)")
print(f"committer during (c): {(s1 - s0) / max(c1 - c0, 1):.1f} requests per commit, "
      f"{(c1 - c0) / max(f1 - f0, 1):.2f} commits per fsync")
print(f"events/earn ratio: {e / ((c + c2) / 2):.2f}   ({rules:.0f} rules evaluated per order.paid; "
      f"e against the mean of c and c'; target >= 0.80)")
print(f"events/earn interleaved: {fv / fe:.2f}   (f: the totals of four alternating rounds; target >= 0.80)")
PY
# The whole run's log restarts: how often the writer paused, how long.
curl -s "$base/metrics" | awk '
  $1 == "jifen_sqlite_log_restart_turn_seconds_count" {n = $2}
  $1 == "jifen_sqlite_log_restart_turn_seconds_sum" {t = $2}
  $1 == "jifen_sqlite_db_sync_seconds_total" {d = $2}
  $1 == "jifen_sqlite_wal_sync_seconds_total" {w = $2}
  END {printf "log restarts: %d, the writer paused %.1f ms each on average; fsyncs: log %.1f s, database %.1f s\n",
       n, n ? t * 1000 / n : 0, w, d}' >&2
kill -TERM "$pid"; wait "$pid" || true
"$BIN" verify --db "$db" >/dev/null && echo "verify after the bench: ok" >&2
