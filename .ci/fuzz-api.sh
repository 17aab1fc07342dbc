#!/usr/bin/env bash
# Contract fuzzing: schemathesis (PyPI) against a running instance of the
# service, authenticated as an administrator, over every operation. Checks:
# no server errors, responses match their schemas, status codes and content
# types are documented, and schema-valid requests are accepted (with the
# state-dependent exceptions listed in schemathesis.toml).
# Usage: bash .ci/fuzz-api.sh [max-examples] [max-seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-15}"
seconds="${2:-180}"
binary=target/debug/user-management
[ -x "$binary" ] || cargo build --locked
command -v st >/dev/null 2>&1 || python3 -m pip install -q "schemathesis==4.32.5"

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(
  cd "$dir"
  # exec: the service replaces this subshell, so the trap's kill reaches it.
  exec env -i PATH="$PATH" PORT="$port" HOST=127.0.0.1 RUST_LOG=warn \
    ADMIN_EMAIL=fuzz-admin@example.com ADMIN_PASSWORD=fuzz-admin-passphrase \
    AUTH_RATE_LIMIT=0 MAX_LOGIN_ATTEMPTS=1000000 PICTURE_UPLOAD_LIMIT=0 \
    "$OLDPWD/$binary" serve >"$dir/service.log" 2>&1
) &
service=$!
trap 'kill $service 2>/dev/null || true; rm -rf "$dir"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 50); do
  curl -fs "$base/health" >/dev/null 2>&1 && break
  sleep 0.2
done
token=$(curl -fs -X POST "$base/login" \
  -d 'username=fuzz-admin@example.com&password=fuzz-admin-passphrase' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# Logout and session deletion would end the run's own session; they are
# covered by the black-box tests.
st run "$base/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,positive_data_acceptance \
  --workers 2 \
  --max-examples "$examples" \
  --max-time "$seconds" \
  --exclude-path /logout \
  --exclude-path '/me/sessions/{id}' \
  --seed 20261125
