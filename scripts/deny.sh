#!/usr/bin/env bash
# Supply-chain checks: licenses, bans, sources and RustSec advisories (cargo-deny).
# CI cannot reach github.com, so advisories come from a vendored snapshot of the RustSec
# database (deny/advisory-db.bundle); scripts/update-advisory-db.sh refreshes it where online.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-deny >/dev/null 2>&1; then
    echo "==> installing cargo-deny"
    cargo install cargo-deny --version 0.20.2 --locked
fi

# cargo-deny looks for the database at <db-path>/advisory-db-<hash of its URL>.
db="target/advisory-dbs/advisory-db-3157b0e258782691"
bundle_id=$(git hash-object deny/advisory-db.bundle)
if [ "$(cat "$db/.bundle-id" 2>/dev/null)" != "$bundle_id" ]; then
    rm -rf "$db"
    mkdir -p "$(dirname "$db")"
    git -c advice.detachedHead=false -c init.defaultBranch=main clone --quiet deny/advisory-db.bundle "$db"
    echo "$bundle_id" > "$db/.bundle-id"
fi
# `--offline` (no github.com) also keeps cargo from downloading: the lockfile's crates for
# every platform (Windows-only ones too, which a Linux build never fetched) must be here.
cargo fetch --locked --quiet
echo "==> advisory database snapshot of $(git -C "$db" show -s --format=%cs HEAD)"
cargo deny --offline check licenses bans sources advisories
