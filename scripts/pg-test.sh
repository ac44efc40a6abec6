#!/usr/bin/env bash
# pg-test.sh — a throwaway PostgreSQL 15 cluster for the tests.
#
#   scripts/pg-test.sh start     initdb + start a cluster in a new temporary
#                                directory; print its postgres:// URL
#   scripts/pg-test.sh url       print the URL of the running cluster
#   scripts/pg-test.sh crash     pg_ctl stop -m immediate (no shutdown
#                                checkpoint: what a power cut or kill -9 does)
#   scripts/pg-test.sh resume    start the stopped cluster again (recovery)
#   scripts/pg-test.sh stop      stop the cluster and remove its directory
#
# The cluster listens on a Unix socket in its own directory only
# (listen_addresses=''), so several can run at once and nothing is reachable
# from the network.  fsync stays on: the tests are about durability.  Which
# cluster a command means is kept in a state file, $JIFEN_PG_STATE (default
# build/pg-test.state), holding the directory; a second cluster needs only
# another state file.
#
# initdb refuses to run as root: as root the cluster runs as the `postgres`
# user (the postgresql-15 package creates it), else as the caller.  The
# binaries are at /usr/lib/postgresql/15/bin; the Debian package is installed
# if they are missing.
set -euo pipefail

PGBIN=${JIFEN_PGBIN:-/usr/lib/postgresql/15/bin}
STATE=${JIFEN_PG_STATE:-build/pg-test.state}
DBNAME=jifen
SUPERUSER=postgres

die() { echo "pg-test: $*" >&2; exit 1; }

ensure_binaries() {
  [[ -x "$PGBIN/initdb" && -x "$PGBIN/pg_ctl" ]] && return
  echo "pg-test: installing postgresql-15" >&2
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
  [[ -x "$PGBIN/initdb" ]] || die "no initdb at $PGBIN after installing postgresql-15"
}

# Run a command as the cluster's owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

cluster_dir() {
  [[ -f "$STATE" ]] || die "no cluster (no $STATE); run: $0 start"
  cat "$STATE"
}

# libpq URL: the socket directory goes in host= (a path means a Unix socket).
url_of() {
  echo "postgresql://$SUPERUSER@/$DBNAME?host=$1/sock"
}

pg_start() {
  local dir=$1
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 -o \
    "-c listen_addresses='' -c unix_socket_directories='$dir/sock' -c fsync=on -c max_connections=200" \
    start >/dev/null || { cat "$dir/log" >&2 || true; die "pg_ctl start failed"; }
}

cmd_start() {
  ensure_binaries
  if [[ -f "$STATE" ]] && [[ -d "$(cat "$STATE")" ]]; then
    die "a cluster is already running at $(cat "$STATE") (stop it first)"
  fi
  mkdir -p "$(dirname "$STATE")"
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/jifen-pg-XXXXXX")
  chmod 755 "$dir"
  mkdir -p "$dir/sock"
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "no postgres user (is postgresql-15 installed?)"
    chown -R postgres: "$dir"
  fi
  echo "$dir" >"$STATE"
  as_owner "$PGBIN/initdb" -D "$dir/data" -U "$SUPERUSER" --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  pg_start "$dir"
  as_owner "$PGBIN/psql" -h "$dir/sock" -U "$SUPERUSER" -d postgres -qAt -v ON_ERROR_STOP=1 \
    -c "CREATE DATABASE $DBNAME" >/dev/null
  url_of "$dir"
}

cmd_url() { url_of "$(cluster_dir)"; }

cmd_crash() {
  local dir
  dir=$(cluster_dir)
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
}

cmd_resume() { pg_start "$(cluster_dir)"; }

cmd_stop() {
  [[ -f "$STATE" ]] || return 0
  local dir
  dir=$(cat "$STATE")
  if [[ -d "$dir/data" ]]; then
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  case "$dir" in
    */jifen-pg-*) rm -rf "$dir" ;;
  esac
  rm -f "$STATE"
}

case "${1:-}" in
  start) cmd_start ;;
  url) cmd_url ;;
  crash) cmd_crash ;;
  resume) cmd_resume ;;
  stop) cmd_stop ;;
  *) die "usage: $0 start|url|crash|resume|stop" ;;
esac
