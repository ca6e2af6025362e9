//! Finding what a container can leave behind: state dirs, cgroups, mounts, processes.

use std::path::{Path, PathBuf};

/// The subdirectories of a `--root` dir: one per container hull still knows.
pub fn state_dirs_in(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Every container state dir under every root dir the suite made (`/run/hull-it/*/*/`).
pub fn all_state_dirs() -> Vec<PathBuf> {
    state_dirs_in(Path::new(crate::ROOT_PARENT))
        .iter()
        .flat_map(|root| state_dirs_in(root))
        .collect()
}

/// The lines of the host's (this process's) `/proc/self/mountinfo` that mention `needle`.
pub fn mounts_mentioning(needle: &Path) -> impl Iterator<Item = String> {
    let needle = needle.to_string_lossy().into_owned();
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter(|l| l.contains(&needle))
        .map(String::from)
        .collect::<Vec<_>>()
        .into_iter()
}

/// Directories under `/sys/fs/cgroup` (at most `max_depth` levels down, symlinks not
/// followed) whose name satisfies `pred`.
pub fn cgroup_dirs(max_depth: usize, pred: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), max_depth, pred, &mut found);
    found
}

fn walk(dir: &Path, depth: usize, pred: &dyn Fn(&str) -> bool, found: &mut Vec<PathBuf>) {
    if depth == 0 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        if pred(&e.file_name().to_string_lossy()) {
            found.push(e.path());
        }
        walk(&e.path(), depth - 1, pred, found);
    }
}

/// Processes rooted in `dir`: their `/proc/<pid>/root` reads as a path under `dir` (before
/// pivot_root, or chroot), or is the very directory `dir/rootfs` or `dir` (after pivot_root the
/// link reads `/`, so the directory's device and inode are compared). Returns `(pid, why)`.
pub fn procs_rooted_in(dir: &Path) -> Vec<(u32, String)> {
    use std::os::unix::fs::MetadataExt;
    let ids: Vec<(u64, u64)> = [dir.join("rootfs"), dir.to_path_buf()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| (m.dev(), m.ino()))
        .collect();
    let mut found = Vec::new();
    for pid in pids() {
        let root = Path::new("/proc").join(pid.to_string()).join("root");
        if let Ok(link) = std::fs::read_link(&root) {
            if link.starts_with(dir) {
                found.push((pid, format!("root is {}", link.display())));
                continue;
            }
        }
        if let Ok(m) = std::fs::metadata(&root) {
            if ids.contains(&(m.dev(), m.ino())) {
                found.push((pid, format!("root is the directory {}", dir.display())));
            }
        }
    }
    found
}

/// Processes whose cgroup path (any hierarchy) contains `needle`, as `(pid, cgroup line)`.
pub fn procs_in_cgroup_named(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for pid in pids() {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            found.push((pid, line.to_string()));
        }
    }
    found
}

/// The pids of live (non-zombie) processes, this one excluded.
pub fn pids() -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
                .filter(|&p| p != me && crate::pid_alive(p as i64))
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts that a container that failed (or was deleted) left nothing behind: no state dir,
/// no cgroup dir named after it (4 levels deep), no mount mentioning the bundle, no process
/// rooted in the bundle.
#[track_caller]
pub fn assert_nothing_left(hull: &crate::Hull, id: &str, bundle: &Path) {
    let state = hull.state_dir(id);
    assert!(
        !state.exists(),
        "state dir {} was left behind",
        state.display()
    );
    let cgroups = cgroup_dirs(4, &|name| name.contains(id));
    assert!(
        cgroups.is_empty(),
        "cgroup dirs left behind for {id}: {cgroups:?}"
    );
    let mounts: Vec<_> = mounts_mentioning(bundle).collect();
    assert!(
        mounts.is_empty(),
        "mounts left behind for {}:\n{}",
        bundle.display(),
        mounts.join("\n")
    );
    let mut procs = procs_rooted_in(bundle);
    procs.extend(procs_in_cgroup_named(id));
    assert!(
        procs.is_empty(),
        "processes left behind rooted in {}: {procs:?}",
        bundle.display()
    );
}
