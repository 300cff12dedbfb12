#!/usr/bin/env bash
# Builds Accord and the benchmark in release and runs it (README, "Benchmark"): Accord on a
# fresh database against a bare axum ceiling on loopback, then storage at 1 M / 10 M records.
# Results: bench/results/latest.json and latest.md. Extra arguments go to `accord-bench run`
# (e.g. --quick for a smoke run of about two minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
    echo "bench: needs Rust (rustup); scripts/bootstrap.sh explains the rest" >&2
    exit 1
fi
cargo build --release -p accord -p accord-bench
if [ ! -f target/site/embed/consent.js ]; then
    echo "bench: target/site not built (cargo leptos build); serving the embed script from public/" >&2
fi
exec ./target/release/accord-bench run "$@"
