//! Helpers shared by the integration tests: the repository root, where `../shared` is, and a
//! way to report counts that the test harness does not swallow.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the repository, or `$QUANTSCOPE_SHARED` when set (a checkout elsewhere,
/// e.g. a git worktree whose parent folder has no `shared`).
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("QUANTSCOPE_SHARED") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => repo().join("../shared"),
    }
}

/// Whether a manifest or test path points into `../shared`.
pub fn is_shared(rel: &str) -> bool {
    rel.starts_with("../shared/")
}

/// A repository-relative path; `../shared/...` resolves through [`shared_dir`].
pub fn resolve(rel: &str) -> PathBuf {
    match rel.strip_prefix("../shared/") {
        Some(rest) => shared_dir().join(rest),
        None => repo().join(rel),
    }
}

/// Tests that need `../shared` are `#[ignore = "needs ../shared"]`, so a fresh clone lists them
/// as ignored; `.ci/run` runs them with `--ignored`, and then a missing folder is a failure,
/// never a silent skip.
pub fn require_shared() -> PathBuf {
    let d = shared_dir();
    assert!(
        d.join("models").is_dir(),
        "this test needs ../shared (looked in {}); it is ignored by a plain `cargo test`",
        d.display()
    );
    d
}

/// A `../shared` path that must exist (see [`require_shared`]).
pub fn shared_file(rel: &str) -> PathBuf {
    require_shared();
    let p = resolve(rel);
    assert!(p.exists(), "{} is missing from ../shared", p.display());
    p
}

/// One line on the real stderr: libtest captures `println!`/`eprintln!` of passing tests, but
/// not writes to the stream itself, so counts and skips show in a plain `cargo test`.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
