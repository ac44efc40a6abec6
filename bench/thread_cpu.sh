#!/usr/bin/env bash
# thread_cpu.sh — CPU time per request by kind of thread (jf-loop,
# jf-committer, jf-syncer, jf-checkpoint), beside req/s, p99 and the size of
# the log, for one binary under wrk.  For comparing builds back to back on a
# shared machine: CPU per request moves far less with other load than req/s.
#
#   bench/thread_cpu.sh [BIN] [earn|spend|event|get] [DURATION_S]
#
# Starts `BIN serve --demo` on a fresh database, warms up with 3 s of earns
# (1,000 members), then runs wrk -t2 -c64 while `perf stat --per-thread -e
# task-clock` counts.  Needs perf (linux-perf).  Never asserts.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=${1:-build/jifen}
OP=${2:-earn}
DUR=${3:-5}
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)"; exit 1; }
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
db="$dir/b.db"
start_demo "$BIN" "$db" "$dir"
export JIFEN_KEY=$key JIFEN_BENCH_MEMBERS=1000 JIFEN_BENCH_OP=$OP
JIFEN_BENCH_OP=earn wrk -t2 -c64 -d3s -s bench/http_write.lua "$base" >/dev/null
perf stat --per-thread -e task-clock -p "$pid" -o "$dir/stat" -- sleep "$DUR" &
ppid=$!
if [ "$OP" = get ]; then
  out=$(wrk -t2 -c64 -d"${DUR}s" --latency -s bench/http_get.lua "$base/v1/members/m1")
else
  out=$(wrk -t2 -c64 -d"${DUR}s" --latency -s bench/http_write.lua "$base")
fi
wait "$ppid"
n=$(awk '/requests in/ {print $1}' <<<"$out")
printf 'req/s %s   p99 %s   log %s bytes\n' "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
  "$(awk '$1=="99%" {print $2}' <<<"$out")" "$(stat -c %s "$db-wal")"
# perf names each thread "comm-tid": add up the task-clock (ms) per comm.
awk -v n="$n" '/task-clock/ {k=$1; sub(/-[0-9]+$/, "", k); gsub(",", "", $2); t[k] += $2}
  END {for (k in t) if (t[k] > 0) printf "  %-14s %7.1f us/req\n", k, t[k] * 1000 / n}' "$dir/stat" | sort
