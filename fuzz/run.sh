#!/usr/bin/env bash
# Runs each fuzz target for a bounded time (default 60 s each).
# Usage: bash fuzz/run.sh [seconds-per-target]
# cargo fuzz needs nightly-only sanitizer flags; with the stable toolchain
# RUSTC_BOOTSTRAP=1 unlocks them (this machine has no other toolchain).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in image_pipeline json_bodies query_and_tokens; do
  echo "== $target (${seconds}s)"
  cargo fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048
done
echo "fuzzing finished: no crash in any target"
