#!/usr/bin/env bash
# Runs every check and test: formatting, clippy (server/ssr and hydrate/wasm builds), the
# cargo-leptos build the browser tests serve, then all unit, integration and browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n\033[1m== %s\033[0m (%ss)\n' "$*" "$(($(date +%s) - start))"; }

# A one-shot CI build gains nothing from incremental caches, which take gigabytes of disk.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
# A clean build fills about 10 GB of target/; say so up front rather than failing mid-compile.
avail_kb=$(df -Pk . | awk 'NR==2 {print $4}')
if [ "${avail_kb:-0}" -lt $((10 * 1024 * 1024)) ]; then
    echo "test: warning: $((${avail_kb:-0} / 1024 / 1024)) GB free here; a clean build needs about 10 GB (target/)" >&2
fi

step "tools"
scripts/bootstrap.sh --test

step "format"
cargo fmt --all -- --check

step "supply chain (cargo deny: licenses, bans, sources, advisories)"
scripts/deny.sh

step "clippy (ssr)"
cargo clippy --workspace --all-targets -- -D warnings

step "clippy (hydrate, wasm32)"
cargo clippy -p app --features hydrate --target wasm32-unknown-unknown -- -D warnings

step "build site (cargo leptos build)"
cargo leptos build

step "tests"
cargo test --workspace

step "done in $(($(date +%s) - start))s"
