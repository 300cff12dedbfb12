#!/usr/bin/env bash
# Builds Accord (release) and serves it on http://127.0.0.1:3000 with an embedded SQLite
# database in ./data, created, migrated and seeded on first start. Extra arguments go to
# `accord serve` (e.g. --bind 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
cargo leptos build --release
exec ./target/release/accord serve --site-root target/site "$@"
