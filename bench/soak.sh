#!/usr/bin/env bash
# Soak run: bounded mixed traffic (default 10 minutes) against the release
# binary on PostgreSQL, sampling RSS every 10 s. Pass: zero errors (non-2xx
# answers or socket errors) and RSS flat within 10% after the warm-up.
# Usage: bash bench/soak.sh [seconds] [sqlite]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
backend="${2:-postgres}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --locked
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ "$backend" = postgres ]; then
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS um_soak" -c "CREATE DATABASE um_soak"
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/um_soak
  export JWT_SECRET=soak-secret-soak-secret-soak-secret-0123
  export DATA_ENCRYPTION_KEY=c29hay1rZXktc29hay1rZXktc29hay1rZXktMDEyMzQ=
  target/release/user-management migrate up
fi
export PORT="$port" HOST=127.0.0.1 AUTH_RATE_LIMIT=0 RUST_LOG=warn LOG_FORMAT=json DATA_DIR="$dir/data"
[ "$backend" = postgres ] || export DATABASE_URL="sqlite://$dir/data/users.db"
export ADMIN_EMAIL=soak-admin@example.com ADMIN_PASSWORD=soak-admin-passphrase
target/release/user-management serve >"$dir/service.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -fs "$base/health" >/dev/null 2>&1 && break; sleep 0.1; done
token=$(curl -fs -X POST "$base/login" -d "username=$ADMIN_EMAIL&password=$ADMIN_PASSWORD" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
samples="$dir/rss.txt"
( while kill -0 "$pid" 2>/dev/null; do echo "$(date +%s) $(rss)" >>"$samples"; sleep 10; done ) &
sampler=$!
TOKEN="$token" LOGIN_EMAIL="$ADMIN_EMAIL" LOGIN_PASSWORD="$ADMIN_PASSWORD" \
  wrk -t2 -c16 -d"${seconds}s" --timeout 10s -s bench/soak.lua "$base" | tee "$dir/wrk.txt"
kill "$sampler" 2>/dev/null || true
echo "$(date +%s) $(rss)" >>"$samples"

python3 - "$dir/wrk.txt" "$samples" <<'PY'
import re, sys
wrk = open(sys.argv[1]).read()
non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", wrk) or [0, 0])[1])
socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", wrk)
socket_errors = sum(map(int, socket.groups())) if socket else 0
requests = int(re.search(r"(\d+) requests in", wrk)[1])
rss = [int(line.split()[1]) for line in open(sys.argv[2]) if len(line.split()) == 2]
warm = rss[len(rss) // 5:] or rss
low, high = min(warm), max(warm)
drift = (high - low) / low if low else 0
print(f"requests {requests}, non-2xx {non2xx}, socket errors {socket_errors}")
print(f"RSS after warm-up: {low/1024:.1f}-{high/1024:.1f} MiB (spread {drift:.1%}), samples {len(rss)}")
ok = non2xx == 0 and socket_errors == 0 and drift <= 0.10
print("SOAK PASSED" if ok else "SOAK FAILED")
sys.exit(0 if ok else 1)
PY
