#!/usr/bin/env bash
# Refreshes the vendored RustSec advisory database snapshot (needs github.com).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone --quiet --depth 1 https://github.com/rustsec/advisory-db "$tmp/src"
date=$(git -C "$tmp/src" show -s --format=%cI HEAD)
rev=$(git -C "$tmp/src" rev-parse HEAD)
mkdir "$tmp/snap" && cp -r "$tmp/src/crates" "$tmp/src/rust" "$tmp/snap/"
git -C "$tmp/snap" init --quiet
git -C "$tmp/snap" add -A
GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" git -C "$tmp/snap" -c user.name=accord \
    -c user.email=accord@localhost commit --quiet -m "rustsec/advisory-db snapshot $rev"
git -C "$tmp/snap" bundle create "$PWD/deny/advisory-db.bundle" HEAD
echo "deny/advisory-db.bundle now holds rustsec/advisory-db $rev ($date)"
