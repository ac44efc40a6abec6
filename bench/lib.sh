# lib.sh — pieces the benchmark scripts share (sourced, not run).

# A TCP port on 127.0.0.1 that is free now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_demo BIN DB OUTDIR → `BIN serve --demo` on a fresh database DB,
# its output in OUTDIR/out and OUTDIR/err; waits for /healthz.  Sets pid,
# base (its URL) and key (the demo tenant's admin key, printed once on the
# first start).  The caller's EXIT trap stops it ("$pid").
start_demo() {
  local bin=$1 db=$2 out=$3 port
  port=$(free_port)
  "$bin" serve --db "$db" --listen "127.0.0.1:$port" --no-access-log --demo >"$out/out" 2>"$out/err" &
  pid=$!
  base="http://127.0.0.1:$port"
  for _ in $(seq 300); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.05; done
  key=$(sed -n 's/.*export JIFEN_KEY=\([^ ]*\).*/\1/p' "$out/out")
}
