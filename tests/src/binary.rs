//! The real `accord` binary, for tests that need a separate process (CLI, signals, crashes).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Builds `accord` once per test process (same profile as the tests) and returns its path.
pub fn accord_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = crate::workspace_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "accord", "--bin", "accord"])
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the accord binary failed");
        let target =
            std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
        target.join("debug/accord")
    })
    .clone()
}
