#!/usr/bin/env bash
# Runs every check and test: formatting, clippy (server/ssr and hydrate/wasm builds), the
# cargo-leptos build the browser tests serve, then all unit, integration and browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n\033[1m== %s\033[0m (%ss)\n' "$*" "$(($(date +%s) - start))"; }

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
