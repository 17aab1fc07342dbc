#!/usr/bin/env bash
# Sign-in page vs API login: bash bench/sign_in_page.sh
#
# The rate of successful sign-ins through the sign-in page's form
# (POST /sign-in, with its form cookie and CSRF token, answered by a 303 and
# a session cookie) beside the API's password grant (POST /login, answered
# by tokens as JSON), in the same run, alternating A/B rounds so both see
# the same machine. Both hash the password with Argon2id, so the page's
# extra work (the CSRF check, the redirect, the cookies) must cost little:
# the goal is a ratio of at least 0.9.
#
# Knobs: ROUNDS [3] A/B rounds, DURATION [8] seconds per run, CONC [8]
# connections, BIN [the release binary, built unless SKIP_BUILD=1]. Uses
# the embedded SQLite default in a temporary directory; needs wrk (installed
# with apt-get if missing), curl and python3. Writes
# bench/out/sign_in_page.txt and exits non-zero below the goal.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/bench/out"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
CONC=${CONC:-8}
GOAL=0.9
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if [ -z "${BIN:-}" ]; then
    [ "${SKIP_BUILD:-0}" = 1 ] || (cd "$ROOT" && cargo build --release --locked)
    BIN="$TARGET/release/user-management"
fi
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
mkdir -p "$OUT"
WORK=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
export BENCH_EMAIL=admin@bench.example BENCH_PASSWORD=bench-pass-phrase-2024
export DATA_DIR="$WORK" DATABASE_URL="sqlite://$WORK/users.db" STORAGE_URL="file://$WORK/objects"
export PORT AUTH_RATE_LIMIT=0 LOG_FORMAT=json RUST_LOG=warn PUBLIC_BASE_URL="$BASE"
export ADMIN_EMAIL="$BENCH_EMAIL" ADMIN_PASSWORD="$BENCH_PASSWORD"
export BENCH_LUA="$ROOT/bench/lua"

"$BIN" serve >"$WORK/service.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done

# The form cookie and its token, as a browser gets them from the page.
curl -s -c "$WORK/jar" -H 'Accept: text/html' "$BASE/sign-in" >"$WORK/page.html"
FORM_COOKIE="um_form=$(awk '$6 == "um_form" { print $7 }' "$WORK/jar")"
CSRF=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$WORK/page.html" | head -1)
[ -n "$CSRF" ] && [ "$FORM_COOKIE" != "um_form=" ] || { echo "no form cookie or token on /sign-in" >&2; exit 1; }
export FORM_COOKIE CSRF

# Both must succeed once before they are measured.
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/login" \
    --data-urlencode "username=$BENCH_EMAIL" --data-urlencode "password=$BENCH_PASSWORD")
[ "$status" = 200 ] || { echo "POST /login answered $status" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/sign-in" -H 'Accept: text/html' \
    -H "Cookie: $FORM_COOKIE" --data-urlencode "csrf=$CSRF" \
    --data-urlencode "email=$BENCH_EMAIL" --data-urlencode "password=$BENCH_PASSWORD")
[ "$status" = 303 ] || { echo "POST /sign-in answered $status" >&2; exit 1; }

run() {
    wrk -t2 -c"$CONC" -d"${DURATION}s" --timeout 10s -s "$BENCH_LUA/$1" "$BASE" \
        | sed -n 's/^WRK_JSON //p' | tail -1
}

: >"$WORK/runs"
for round in $(seq "$ROUNDS"); do
    echo "api $(run login_one.lua)" >>"$WORK/runs"
    echo "page $(run sign_in_page.lua)" >>"$WORK/runs"
    echo "round $round of $ROUNDS done" >&2
done

python3 - "$WORK/runs" "$GOAL" "$CONC" "$DURATION" <<'PY' | tee "$OUT/sign_in_page.txt"
import json, sys
runs, goal = {}, float(sys.argv[2])
for line in open(sys.argv[1]):
    kind, data = line.split(" ", 1)
    runs.setdefault(kind, []).append(json.loads(data))
def total(kind):
    rs = runs[kind]
    errors = sum(sum(r["errors"].values()) for r in rs)
    return sum(r["requests"] for r in rs) / sum(r["duration_s"] for r in rs), errors, rs
print(f"successful sign-ins per second, {sys.argv[3]} connections, {len(runs['api'])} x {sys.argv[4]} s each, alternating")
print(f"{'path':<22} {'rate/s':>8} {'p50 ms':>8} {'errors':>7}")
for kind, path in (("api", "POST /login"), ("page", "POST /sign-in (page)")):
    rate, errors, rs = total(kind)
    p50 = sorted(r["p50_ms"] for r in rs)[len(rs) // 2]
    print(f"{path:<22} {rate:8.1f} {p50:8.1f} {errors:7d}")
ratio = total("page")[0] / total("api")[0]
print(f"ratio page/api: {ratio:.3f} (goal >= {goal})")
if total("api")[1] or total("page")[1] or ratio < goal:
    sys.exit(1)
PY
