#!/usr/bin/env bash
# deps.sh — install the Debian packages jifen needs that are missing, and the
# console's npm packages from the lockfile.  Safe to run again: it asks dpkg
# first and calls apt-get only for what is not installed.
#   scripts/deps.sh           build + test dependencies
#   scripts/deps.sh --bench   also the benchmark tools
set -euo pipefail

pkgs=(
  gcc make pkg-config
  libicu-dev libsqlite3-dev libjansson-dev libssl-dev libpq-dev libcurl4-openssl-dev
  libh2o-evloop-dev zlib1g-dev
  libcriterion-dev
  clang libclang-rt-14-dev
  sqlite3
  nodejs npm
  postgresql-15
)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(wrk postgresql-contrib)
fi

missing=()
for p in "${pkgs[@]}"; do
  # nodejs/npm may come from elsewhere (nvm, an image's own Node): a working
  # command is enough.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists once if they look empty or stale (> 1 day).
  if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]]; then
    $sudo apt-get update -qq
  fi
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The console's packages, from the lockfile only.
if [[ -f web/package-lock.json ]]; then
  if [[ ! -d web/node_modules ]] || [[ web/package-lock.json -nt web/node_modules ]]; then
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
