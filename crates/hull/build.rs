//! Build facts `hull --version` prints: the git commit (or `HULL_COMMIT`, e.g. set by a
//! packager; the crate version when neither is known) and the rustc version.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// Rebuild when HEAD moves: HEAD itself, the branch it points to, and packed refs.
fn watch_git_head() {
    let (Some(git_dir), Some(common)) = (
        git(&["rev-parse", "--absolute-git-dir"]),
        git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]),
    ) else {
        return;
    };
    println!("cargo:rerun-if-changed={git_dir}/HEAD");
    println!("cargo:rerun-if-changed={common}/packed-refs");
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        let file = Path::new(&common).join(branch);
        println!("cargo:rerun-if-changed={}", file.display());
    }
}

fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.split_whitespace().nth(1).map(String::from))
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    println!("cargo:rerun-if-env-changed=HULL_COMMIT");
    let commit = match std::env::var("HULL_COMMIT") {
        Ok(c) if !c.is_empty() => c,
        _ => {
            watch_git_head();
            git(&["rev-parse", "HEAD"]).unwrap_or_else(|| env!("CARGO_PKG_VERSION").into())
        }
    };
    println!("cargo:rustc-env=HULL_COMMIT={commit}");
    println!("cargo:rustc-env=HULL_RUSTC={}", rustc_version());
}
