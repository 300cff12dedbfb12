#!/usr/bin/env bash
# Installs everything building and testing Accord needs. Idempotent: each tool is checked
# first and installed only when missing or at the wrong version.
#   scripts/bootstrap.sh          build tools (wasm target, cargo-leptos, wasm-bindgen, wasm-opt)
#   scripts/bootstrap.sh --test   the same plus Chromium and chromedriver for browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.0
with_browser=false
[[ "${1:-}" == "--test" ]] && with_browser=true

say() { printf '\033[1mbootstrap:\033[0m %s\n' "$*"; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "bootstrap: need root (or sudo) to run: $*" >&2; exit 1; fi
}

apt_packages=()
need_apt() { apt_packages+=("$1"); }

command -v cargo >/dev/null || { echo "bootstrap: Rust (cargo) is required: https://rustup.rs" >&2; exit 1; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 10 minutes on 2 cores)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads
fi

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
wbg=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -q " $wbg\$"; then
  say "installing wasm-bindgen-cli $wbg"
  cargo install wasm-bindgen-cli --version "$wbg" --force
fi

# A C compiler for the bundled SQLite, and make too for jemalloc (the server's allocator).
command -v cc >/dev/null || need_apt gcc
command -v make >/dev/null || need_apt make
command -v wasm-opt >/dev/null || need_apt binaryen
if $with_browser; then
  [[ -x /usr/bin/chromium ]] || need_apt chromium
  [[ -x /usr/bin/chromedriver ]] || need_apt chromium-driver
fi
if ((${#apt_packages[@]})); then
  say "installing Debian packages: ${apt_packages[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi
say "tools ready"
