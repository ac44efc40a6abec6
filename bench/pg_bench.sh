#!/usr/bin/env bash
# pg_bench.sh — earn throughput of `jifen serve` on PostgreSQL, beside
# pgbench running the same transaction on the same cluster in the same run.
#
#   bench/pg_bench.sh [DURATION_S]     (default 10; JIFEN_BIN, WRK_THREADS,
#                                         WRK_CONNECTIONS, PGBENCH_CLIENTS override)
#
# A throwaway PostgreSQL 15 cluster (scripts/pg-test.sh, its own state file;
# Unix socket, fsync on, synchronous_commit on, default settings otherwise)
# holds the databases of every run, so both sides write through the same
# WAL and fsync:
#   (p) pgbench: bench/pg_earn.sql — upsert the account, insert the lot,
#       insert the entry — one transaction each, prepared statements, once
#       for each client count in PGBENCH_CLIENTS (default "8 16 64"), each on
#       a fresh database.  pgbench is at its best with few clients on a
#       small machine (64 backends on two cores fight over CPU and the
#       members' row locks: about half the throughput of 8), so the target
#       is measured against the BEST of them, and the figure at wrk's own
#       concurrency (64) is printed beside it;
#   (1) one jifen server: wrk's earn benchmark (bench/http_write.lua, unique
#       biz_no, 1000 members, WRK_CONNECTIONS connections);
#   (2) two jifen servers on one database, half the connections each (two
#       wrk processes, each with keys of its own, JIFEN_BENCH_TAG; their
#       req/s added).
# After each jifen run: verify, and the earns written (idempotency records)
# beside the requests answered — a replay would write nothing.
# Prints req/s (transactions/s for pgbench), the ratios of (1) and (2) to
# the best pgbench (target: jifen >= 2x pgbench, thanks to batching several
# requests into one commit) and to pgbench at 64 clients, and the
# committers' mean batch size.  Never asserts: the numbers depend on the
# machine, and here the servers, PostgreSQL and the load generators share
# its cores.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=${JIFEN_BIN:-build/jifen}
DUR=${1:-10}
THREADS=${WRK_THREADS:-2}
CONNS=${WRK_CONNECTIONS:-64}
CLIENTS=${PGBENCH_CLIENTS:-8 16 $CONNS}
MEMBERS=1000
PGBIN=${JIFEN_PGBIN:-/usr/lib/postgresql/15/bin}
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/deps.sh --bench)"; exit 1; }
PGBENCH=$PGBIN/pgbench
[[ -x $PGBENCH ]] || PGBENCH=$(command -v pgbench) || { echo "pgbench is not installed"; exit 1; }
PSQL=$PGBIN/psql
[[ -x $PSQL ]] || PSQL=psql

export JIFEN_PG_STATE=$PWD/build/pg-bench.$$.state
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  scripts/pg-test.sh stop
  rm -rf "$dir"
}
dir=$(mktemp -d)
trap cleanup EXIT
url=$(scripts/pg-test.sh start)
# The database named $1 on the cluster: replace the URL's path.
db_url() { sed -E "s#^(postgres(ql)?://[^/?]*)/[^?]*#\1/$1#" <<<"$url"; }
mkdb() { "$PSQL" "$url" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE $1" >/dev/null; db_url "$1"; }

# serve DB → starts a server; its base URL in $served (no subshell: the
# pid is kept for the cleanup)
serve() {
  local db=$1 port
  port=$(free_port)
  "$BIN" serve --db "$db" --listen "127.0.0.1:$port" --no-access-log >>"$dir/out" 2>>"$dir/err" &
  pids+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
  served="http://127.0.0.1:$port"
}
# wrk_earn BASE THREADS CONNS → req/s (and its line on stderr via report)
wrk_earn() {
  JIFEN_BENCH_TAG="w$4-" wrk -t"$2" -c"$3" -d"${DUR}s" --latency -s bench/http_write.lua "$1" >"$dir/wrk.$4" 2>&1
}
field() { awk -v k="$2" '$1==k {print $2}' "$1"; }
rps_of() { awk '/Requests\/sec/ {print $2}' "$1"; }
non2xx_of() { awk '/Non-2xx/ {print $NF}' "$1"; }
batch_sum() { # sum of a metric over servers
  local m=$1; shift
  local total=0 v
  for b in "$@"; do v=$(curl -s "$b/metrics" | awk -v m="$m" '$1==m {print $2}'); total=$(python3 -c "print($total+${v:-0})"); done
  echo "$total"
}

echo "== PostgreSQL 15: jifen earn vs pgbench (${DUR}s each, $(nproc) cores, fsync on, Unix socket)" >&2

# (p) pgbench, once per client count, each on a database of its own
p=0; p_at=""; p_conns=0
for c in $CLIENTS; do
  pgb=$(mkdb "pgb$c")
  "$PSQL" "$pgb" -qAt -v ON_ERROR_STOP=1 -f bench/pg_schema.sql >/dev/null
  "$PGBENCH" -n -M prepared -c "$c" -j "$(( THREADS < c ? THREADS : c ))" -T "$DUR" -D members=$MEMBERS \
    -f bench/pg_earn.sql "$pgb" >"$dir/pgbench.$c" 2>"$dir/pgbench.err" || { cat "$dir/pgbench.err" >&2; exit 1; }
  tps=$(awk '/^tps/ {printf "%.1f", $3; exit}' "$dir/pgbench.$c")
  lat=$(awk '/latency average/ {print $4}' "$dir/pgbench.$c")
  printf '%-44s %10s tx/s    mean latency %s ms\n' "(p) pgbench earn tx, $c clients" "$tps" "$lat" >&2
  if python3 -c "import sys; sys.exit(0 if $tps > $p else 1)"; then p=$tps; p_at=$c; fi
  [[ $c == "$CONNS" ]] && p_conns=$tps
done

export JIFEN_BENCH_MEMBERS=$MEMBERS
# run_jifen N → req/s over N servers on one fresh database, in $ran
run_jifen() {
  local n=$1 db key bases=() i
  db=$(mkdb "jifen$n")
  key=$("$BIN" init --db "$db" --tenant bench | sed -n 's/.*"admin_key":"\([^"]*\)".*/\1/p')
  export JIFEN_KEY=$key
  for ((i = 0; i < n; i++)); do serve "$db"; bases+=("$served"); done
  local s0 c0
  s0=$(batch_sum jifen_committer_batch_size_sum "${bases[@]}")
  c0=$(batch_sum jifen_committer_batch_size_count "${bases[@]}")
  local wpids=()
  for ((i = 0; i < n; i++)); do
    wrk_earn "${bases[$i]}" "$(( THREADS / n > 0 ? THREADS / n : 1 ))" "$(( CONNS / n ))" "$n.$i" &
    wpids+=($!)
  done
  wait "${wpids[@]}"
  local total=0 r bad="" sent=0
  for ((i = 0; i < n; i++)); do
    r=$(rps_of "$dir/wrk.$n.$i"); total=$(python3 -c "print(round($total+$r, 2))")
    bad+=$(non2xx_of "$dir/wrk.$n.$i")
    sent=$((sent + $(awk '/requests in/ {print $1}' "$dir/wrk.$n.$i")))
  done
  local s1 c1
  s1=$(batch_sum jifen_committer_batch_size_sum "${bases[@]}")
  c1=$(batch_sum jifen_committer_batch_size_count "${bases[@]}")
  local batch p50 p99
  batch=$(python3 -c "print(f'{($s1-$s0)/max($c1-$c0,1):.1f}')")
  p50=$(awk '$1=="50%" {print $2}' "$dir/wrk.$n.0")
  p99=$(awk '$1=="99%" {print $2}' "$dir/wrk.$n.0")
  printf '%-44s %10s req/s   p50 %8s   p99 %8s   batch %s%s\n' "($n) jifen earn, $n server(s), $CONNS conns" "$total" \
    "$p50" "$p99" "$batch" "${bad:+   non-2xx: $bad}" >&2
  for ((i = 0; i < n; i++)); do kill -TERM "${pids[-1]}"; wait "${pids[-1]}" || true; unset 'pids[-1]'; done
  if "$BIN" verify --db "$db" >/dev/null 2>"$dir/verify.err"; then echo "    verify after the run: ok" >&2
  else echo "    verify after the run FAILED: $(cat "$dir/verify.err")" >&2; fi
  # Every request is a new earn (a replay would be cheaper): the records
  # written must match the answers counted (those in flight when wrk
  # stopped were written too).
  local written
  written=$("$PSQL" "$db" -qAt -c "SELECT count(*) FROM idempotency")
  echo "    earns written: $written for $sent answered requests" >&2
  ran=$total
}
run_jifen 1; j1=$ran
run_jifen 2; j2=$ran
python3 - "$p" "$p_at" "$p_conns" "$CONNS" "$j1" "$j2" >&2 <<'PY'
import sys
p, p_at, pc, conns, j1, j2 = sys.argv[1:]
p, pc, j1, j2 = float(p), float(pc), float(j1), float(j2)
print(f"ratio (1)/(p), one server / best pgbench ({p_at} clients):  {j1 / p:.2f}   (target >= 2.0)")
print(f"ratio (2)/(p), two servers / best pgbench ({p_at} clients): {j2 / p:.2f}   (target >= 2.0)")
if pc > 0:
    print(f"  against pgbench at wrk's {conns} connections: one server {j1 / pc:.2f}, two servers {j2 / pc:.2f}")
PY
