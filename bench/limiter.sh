#!/usr/bin/env bash
# The login path before and after a change, against the Argon2id ceiling:
#   bash bench/limiter.sh BEFORE_BIN AFTER_BIN CEILINGS_BIN
#
# Each binary serves its own PostgreSQL database (migrated by itself) with
# AUTH_RATE_LIMIT set high enough never to refuse, so every login passes
# through the limiter without being stopped by it. RUNS rounds [5]; each
# measures the verify ceiling, then POST /login on both binaries (the order
# alternating from round to round), CONC [16] connections for DURATION [8]
# seconds. The figure compared is each login rate divided by the ceiling
# of its own round: the machine is shared, so only ratios measured side by
# side mean anything. Prints one JSON line per round and the medians.

set -euo pipefail

BEFORE=$1 AFTER=$2 CEILINGS=$3
RUNS=${RUNS:-5}
CONC=${CONC:-16}
DURATION=${DURATION:-8}
CEILING_SECS=${CEILING_SECS:-4}
PG_SERVER=${PG_SERVER:-postgres://postgres@127.0.0.1:5432}
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT="$BENCH/out/limiter"
export BENCH_LUA="$BENCH/lua" BENCH_PASSWORD="bench-pass-phrase-2024"
JWT_SECRET=$(head -c 48 /dev/urandom | base64 -w0)
DATA_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64 -w0)
mkdir -p "$OUT"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; true' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# serve NAME BIN: starts BIN on database um_limiter_NAME; sets PORT and PID.
serve() {
    PORT=$(free_port)
    (cd "$OUT" && exec env DATABASE_URL="$PG_SERVER/um_limiter_$1" JWT_SECRET="$JWT_SECRET" DATA_ENCRYPTION_KEY="$DATA_ENCRYPTION_KEY" \
        HOST=127.0.0.1 PORT="$PORT" PUBLIC_BASE_URL="http://127.0.0.1:$PORT" DATA_DIR="$OUT/data-$1" \
        STORAGE_URL="file://$OUT/data-$1/objects" AUTH_RATE_LIMIT=100000000 RUST_LOG=warn \
        "$2" serve > "$OUT/$1.log" 2>&1) &
    PID=$!
    for _ in $(seq 1 150); do
        curl -sf "http://127.0.0.1:$PORT/health" > /dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "the $1 service did not start: $(tail -3 "$OUT/$1.log")" >&2
    exit 1
}

stop() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

# prepare NAME BIN: a fresh database, migrated by BIN, with 14 verified users.
prepare() {
    psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS um_limiter_$1 WITH (FORCE)" \
        -c "CREATE DATABASE um_limiter_$1"
    DATABASE_URL="$PG_SERVER/um_limiter_$1" JWT_SECRET="$JWT_SECRET" DATA_ENCRYPTION_KEY="$DATA_ENCRYPTION_KEY" "$2" migrate up > /dev/null
    serve "$1" "$2"
    for n in $(seq 1 16); do
        curl -sf -X POST "http://127.0.0.1:$PORT/register" -H 'Content-Type: application/json' \
            -d "{\"email\":\"user$n@bench.example\",\"password\":\"$BENCH_PASSWORD\"}" > /dev/null
    done
    psql -q "$PG_SERVER/um_limiter_$1" -c "UPDATE users SET email_verified = true"
    stop
}

# login NAME BIN: the login rate of BIN.
login() {
    serve "$1" "$2"
    LOGIN_USERS=16 wrk -t2 -c"$CONC" -d"${DURATION}s" --timeout 10s --latency \
        -s "$BENCH/lua/login.lua" "http://127.0.0.1:$PORT" > "$OUT/wrk-$1.txt" 2>&1
    stop
    sed -n 's/^WRK_JSON //p' "$OUT/wrk-$1.txt" | python3 -c '
import json, sys; w = json.load(sys.stdin); e = sum(w["errors"].values())
assert e == 0, f"{e} errors: {w}"; print(w["rps"])'
}

prepare before "$BEFORE"
prepare after "$AFTER"
for round in $(seq 1 "$RUNS"); do
    ceiling=$(CEILING_ONLY=verify CEILING_SECS=$CEILING_SECS CEILINGS_OUT="$OUT/ceiling.json" \
        "$CEILINGS" > /dev/null 2>> "$OUT/ceilings.log" && python3 -c '
import json; print(json.load(open("'"$OUT/ceiling.json"'"))["argon2_verify_per_sec"])')
    if [ $(( round % 2 )) -eq 1 ]; then
        before=$(login before "$BEFORE"); after=$(login after "$AFTER")
    else
        after=$(login after "$AFTER"); before=$(login before "$BEFORE")
    fi
    echo "{\"round\":$round,\"ceiling\":$ceiling,\"before\":$before,\"after\":$after}" | tee -a "$OUT/rounds.jsonl"
done | python3 -c '
import json, statistics, sys
rounds = [json.loads(line) for line in sys.stdin]
for r in rounds: print(json.dumps(r))
b = statistics.median(r["before"] / r["ceiling"] for r in rounds)
a = statistics.median(r["after"] / r["ceiling"] for r in rounds)
print(json.dumps({"median_before_ratio": round(b, 3), "median_after_ratio": round(a, 3),
                  "change_pct": round(100 * (a - b) / b, 1)}))'
