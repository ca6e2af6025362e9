//! The leak check: after the whole suite, nothing of any test's containers is left.
//!
//! Run it AFTER the other tests, on its own (every other test creates things it checks for):
//!
//! ```sh
//! cargo nextest run --workspace -E 'not test(leak_check)' && \
//!     cargo nextest run --workspace -E 'test(leak_check)'
//! ```

use hull_integration::{leaks, poll, BUNDLE_PARENT, ID_PREFIX};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Other processes running a test binary of the workspace (they sit beside ours in
/// `target/*/deps/`): while any runs, its containers are not leaks.
fn sibling_tests() -> Vec<u32> {
    let me = std::env::current_exe().unwrap();
    let dir = me.parent().unwrap().to_path_buf();
    leaks::pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .map(|exe| exe.parent() == Some(dir.as_path()) && exe != me)
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn leak_check() {
    poll(
        Duration::from_secs(120),
        "the other test binaries to finish (run leak_check on its own)",
        || sibling_tests().is_empty().then_some(()),
    );
    let mut problems = Vec::new();

    for dir in leaks::all_state_dirs() {
        problems.push(format!("container state dir left: {}", dir.display()));
    }

    for line in leaks::mounts_mentioning(Path::new(BUNDLE_PARENT)) {
        problems.push(format!("mount left: {line}"));
    }
    for line in std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains("hull-escape-"))
    {
        problems.push(format!("escaped mount: {line}"));
    }
    if let Ok(rd) = std::fs::read_dir("/") {
        for e in rd
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("hull-escape-"))
        {
            problems.push(format!("escaped dir on the host: {}", e.path().display()));
        }
    }

    for dir in leaks::cgroup_dirs(6, &|name| name.starts_with(ID_PREFIX)) {
        problems.push(format!("cgroup left: {}", dir.display()));
    }

    for (pid, line) in leaks::procs_in_cgroup_named(&format!("/{ID_PREFIX}")) {
        problems.push(format!("process {pid} left in cgroup {line}"));
    }
    let bundles: Vec<PathBuf> = std::fs::read_dir(BUNDLE_PARENT)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    for b in &bundles {
        for (pid, why) in leaks::procs_rooted_in(b) {
            problems.push(format!("process {pid} left: {why}"));
        }
    }
    // processes whose root reads as a path under /tmp/hull-it (chroot, or a deleted bundle)
    for (pid, why) in leaks::procs_rooted_in(Path::new(BUNDLE_PARENT)) {
        problems.push(format!("process {pid} left: {why}"));
    }
    problems.dedup();

    let leftover_bundles: Vec<_> = bundles
        .iter()
        .filter(|b| b.join("rootfs").exists())
        .collect();
    if !leftover_bundles.is_empty() {
        eprintln!("note: bundle dirs not removed (a test was killed, or something was mounted in them): {leftover_bundles:?}");
    }
    assert!(
        problems.is_empty(),
        "leaks after the suite:\n{}",
        problems.join("\n")
    );
}
