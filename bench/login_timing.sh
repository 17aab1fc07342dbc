#!/usr/bin/env bash
# Login timing: bash bench/login_timing.sh
#
# The median time of a failed password grant for three kinds of address,
# one request at a time on loopback: an unknown email, a wrong password on
# an account imported with a bcrypt hash (cost 12, as the original project
# stored them; `users import` wraps it in Argon2id), and a wrong password
# on a native Argon2id account. Equal medians are the point: the answer's
# timing must not tell the three apart.
#
# Knobs: N [41] logins per kind, BIN [the release binary, built unless
# SKIP_BUILD=1] the binary to run. Uses the embedded SQLite default in a
# temporary directory; needs curl, perl and python3. Writes
# bench/out/login_timing.txt.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/bench/out"
N=${N:-41}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if [ -z "${BIN:-}" ]; then
    [ "${SKIP_BUILD:-0}" = 1 ] || (cd "$ROOT" && cargo build --release --locked)
    BIN="$TARGET/release/user-management"
fi
mkdir -p "$OUT"
WORK=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export DATA_DIR="$WORK" DATABASE_URL="sqlite://$WORK/users.db" STORAGE_URL="file://$WORK/objects"
export PORT AUTH_RATE_LIMIT=0 MAX_LOGIN_ATTEMPTS=1000000 LOG_FORMAT=json RUST_LOG=warn
BASE="http://127.0.0.1:$PORT"
PASSWORD=bench-pass-phrase-2024

# The imported account: a cost-12 bcrypt hash, as passlib writes it.
SALT=$(python3 -c 'import random,string; a="./"+string.ascii_letters+string.digits; print("".join(random.choice(a) for _ in range(21))+"e")')
HASH=$(perl -e 'print crypt($ARGV[0], "\$2b\$12\$" . $ARGV[1])' "$PASSWORD" "$SALT")
case "$HASH" in '$2b$12$'*) ;; *) echo "perl crypt() gave no bcrypt hash: $HASH" >&2; exit 1 ;; esac
cat > "$WORK/import.csv" <<CSV
email,nickname,first_name,last_name,bio,profile_picture_url,linkedin_profile_url,github_profile_url,role,is_professional,email_verified,hashed_password
imported@example.com,,,,,,,,AUTHENTICATED,false,true,$HASH
CSV
"$BIN" migrate up >/dev/null
"$BIN" users import "$WORK/import.csv" >/dev/null

"$BIN" serve >"$WORK/service.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done
curl -sf -X POST "$BASE/register" -H 'Content-Type: application/json' \
    -d "{\"email\": \"native@example.com\", \"password\": \"$PASSWORD\"}" >/dev/null

# One failed login's time in seconds (asserting it failed with 401).
login() {
    local out
    out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -X POST "$BASE/login" \
        --data-urlencode "username=$1" --data-urlencode "password=not-the-password")
    [ "${out%% *}" = 401 ] || { echo "login $1: ${out%% *}, not 401" >&2; exit 1; }
    echo "${out#* }"
}

: >"$WORK/times"
for _ in $(seq "$N"); do
    # Interleaved, so the three kinds see the same machine.
    echo "unknown $(login "nobody-$RANDOM@example.com")" >>"$WORK/times"
    echo "imported $(login imported@example.com)" >>"$WORK/times"
    echo "native $(login native@example.com)" >>"$WORK/times"
done

python3 - "$WORK/times" "$N" <<'PY' | tee "$OUT/login_timing.txt"
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    kind, seconds = line.split()
    times.setdefault(kind, []).append(float(seconds) * 1000)
print(f"failed logins, {sys.argv[2]} each, one at a time (ms)")
print(f"{'kind':<10} {'median':>8} {'p10':>8} {'p90':>8}")
for kind in ("unknown", "imported", "native"):
    t = sorted(times[kind])
    q = statistics.quantiles(t, n=10)
    print(f"{kind:<10} {statistics.median(t):8.1f} {q[0]:8.1f} {q[-1]:8.1f}")
PY
