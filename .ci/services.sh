# Services the test suite talks to, started from the project's own files.
# Sourced by .ci/run; safe to run again when everything is already up.

# PostgreSQL: use the server at 127.0.0.1:5432 if it answers; else start the
# distribution's cluster; else install it from the distribution's packages.
ensure_postgres() {
  if [ -n "${TEST_DATABASE_URL:-}" ]; then
    echo "PostgreSQL: using TEST_DATABASE_URL"
    return
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
      echo "PostgreSQL: installing from the distribution's packages"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    fi
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do
      pg_isready -q -h 127.0.0.1 -p 5432 && break
      sleep 1
    done
  fi
  if psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
  else
    # A fresh install asks for a password over TCP: give the test user one.
    runuser -u postgres -- psql -q -c "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
    export TEST_DATABASE_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"
  fi
  echo "PostgreSQL: ready at 127.0.0.1:5432"
}

# The S3-compatible test server: s3s-fs from crates.io, built once and kept
# in ~/.cargo/bin (about 4 minutes on 2 cores the first time).
ensure_s3s_fs() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if s3s-fs --version >/dev/null 2>&1; then
    echo "S3 test server: $(s3s-fs --version)"
    return
  fi
  echo "S3 test server: installing s3s-fs 0.14.1"
  cargo install s3s-fs@0.14.1 --features binary --locked
}

# Headless Chromium and its WebDriver for the browser suite (tests/api/browser),
# from the distribution's packages (Debian: chromium, chromium-driver). A
# machine that already has chromedriver and a Chrome keeps them.
ensure_chromium() {
  local browser
  browser=$(command -v chromium || command -v google-chrome || true)
  if [ -n "$browser" ] && command -v chromedriver >/dev/null 2>&1; then
    echo "Browser: $("$browser" --version 2>/dev/null), $(chromedriver --version | cut -d' ' -f1-2)"
    return
  fi
  echo "Browser: installing chromium and chromium-driver from the distribution's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  echo "Browser: $(chromium --version 2>/dev/null), $(chromedriver --version | cut -d' ' -f1-2)"
}
