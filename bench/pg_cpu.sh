#!/usr/bin/env bash
# pg_cpu.sh — CPU per earn, in PostgreSQL and in jifen, for one or more
# binaries side by side (less noisy than throughput on a shared machine).
#
#   bench/pg_cpu.sh [-s SERVERS] [-d SECONDS] [-r ROUNDS] BIN [BIN…]
#
# One throwaway PostgreSQL 15 cluster (scripts/pg-test.sh, its own state
# file).  For each round and each binary (interleaved, so that the
# machine's load falls on all of them alike): a fresh database, SERVERS
# (default 2) `jifen serve` on it, wrk's earn benchmark (bench/http_write.lua,
# 1000 members, 64 connections split over the servers) for 2 s of warm-up,
# then SECONDS (default 8) measured.  Prints per binary and round: req/s,
# CPU µs per request in the cluster's processes (every child of the
# postmaster: backends, WAL writer, checkpointer …) and in the servers,
# from /proc (utime + stime), and the mean batch size.  Never asserts.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SERVERS=2 DUR=8 ROUNDS=1
while getopts s:d:r: o; do
  case $o in
    s) SERVERS=$OPTARG ;; d) DUR=$OPTARG ;; r) ROUNDS=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
(($# > 0)) || { echo "usage: $0 [-s SERVERS] [-d SECONDS] [-r ROUNDS] BIN [BIN…]" >&2; exit 2; }
CONNS=${WRK_CONNECTIONS:-64}
PGBIN=${JIFEN_PGBIN:-/usr/lib/postgresql/15/bin}
PSQL=$PGBIN/psql
[[ -x $PSQL ]] || PSQL=psql

export JIFEN_PG_STATE=$PWD/build/pg-cpu.$$.state
pids=()
dir=$(mktemp -d)
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  scripts/pg-test.sh stop
  rm -rf "$dir"
}
trap cleanup EXIT
url=$(scripts/pg-test.sh start)
cluster=$(cat "$JIFEN_PG_STATE")
postmaster=$(head -1 "$cluster/data/postmaster.pid")
db_url() { sed -E "s#^(postgres(ql)?://[^/?]*)/[^?]*#\1/$1#" <<<"$url"; }
hz=$(getconf CLK_TCK)
# ticks PID… → utime + stime summed
ticks() { local t=0 p; for p in "$@"; do [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
pg_pids() { echo "$postmaster" $(pgrep -P "$postmaster" || true); }

export JIFEN_BENCH_MEMBERS=1000
n=0
for ((round = 1; round <= ROUNDS; round++)); do
  for bin in "$@"; do
    n=$((n + 1))
    "$PSQL" "$url" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE cpu$n" >/dev/null
    db=$(db_url "cpu$n")
    key=$("$bin" init --db "$db" --tenant bench | sed -n 's/.*"admin_key":"\([^"]*\)".*/\1/p')
    export JIFEN_KEY=$key
    bases=() spids=()
    for ((i = 0; i < SERVERS; i++)); do
      port=$(free_port)
      "$bin" serve --db "$db" --listen "127.0.0.1:$port" --no-access-log >>"$dir/out" 2>>"${ERRLOG:-$dir/err}" &
      pids+=($!) spids+=($!)
      for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
      bases+=("http://127.0.0.1:$port")
    done
    wrk_all() { # SECONDS TAG
      local w=() i
      for ((i = 0; i < SERVERS; i++)); do
        JIFEN_BENCH_TAG="w$n.$2.$i-" wrk -t1 -c$((CONNS / SERVERS)) -d"$1s" -s bench/http_write.lua "${bases[$i]}" >"$dir/wrk.$2.$i" 2>&1 &
        w+=($!)
      done
      wait "${w[@]}"
    }
    wrk_all 2 warm
    # sums over the servers of the metrics: batch jobs, batches, batch seconds, reruns
    sums() {
      local b
      for b in "${bases[@]}"; do
        curl -s "$b/metrics" | awk '$1=="jifen_committer_batch_size_sum" {j=$2} $1=="jifen_committer_batch_size_count" {c=$2}
          $1=="jifen_commit_seconds_total" {t=$2} $1=="jifen_committer_batch_reruns_total" {r=$2} END {print j, c, t, r}'
      done | awk '{j+=$1; c+=$2; t+=$3; r+=$4} END {print j, c, t, r}'
    }
    read -r s0 c0 t0 r0 < <(sums)
    p0=$(ticks $(pg_pids)) j0=$(ticks "${spids[@]}") load=$(cut -d' ' -f1 /proc/loadavg)
    wrk_all "$DUR" run
    p1=$(ticks $(pg_pids)) j1=$(ticks "${spids[@]}")
    read -r s1 c1 t1 r1 < <(sums)
    reqs=0
    for ((i = 0; i < SERVERS; i++)); do
      r=$(awk '/requests in/ {print $1}' "$dir/wrk.run.$i"); reqs=$((reqs + r))
    done
    python3 - "$bin" "$round" "$reqs" "$DUR" "$((p1 - p0))" "$((j1 - j0))" "$hz" "$s0 $c0 $t0 $r0" "$s1 $c1 $t1 $r1" \
      "$load" <<'PY'
import sys
bin_, rnd, reqs, dur, pt, jt, hz, m0, m1, load = sys.argv[1:]
reqs, dur, pt, jt, hz = int(reqs), float(dur), int(pt), int(jt), int(hz)
bs, bc, bt, br = (float(b) - float(a) for a, b in zip(m0.split(), m1.split()))
us = lambda t: t / hz * 1e6 / max(reqs, 1)
print(f"{bin_:40s} round {rnd}: {reqs / dur:8.0f} req/s   PostgreSQL {us(pt):6.0f} µs/req   jifen {us(jt):5.0f} µs/req"
      f"   batch {bs / max(bc, 1):5.1f} in {bt / max(bc, 1) * 1000:5.1f} ms   reruns {br:.0f}   load {load}")
PY
    for p in "${spids[@]}"; do kill -TERM "$p"; wait "$p" || true; done
    pids=()
    "$bin" verify --db "$db" >/dev/null 2>"$dir/verify.err" || echo "    verify FAILED: $(cat "$dir/verify.err")"
  done
done
