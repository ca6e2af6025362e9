//! Small file helpers for cgroupfs: each maps failures to [`CgroupError`] with context.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{CgroupError, Result};

/// Writes `value` to the existing cgroup file `dir/file` in one write, opened with
/// `O_TRUNC` as runc does (never creates it).
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| CgroupError::io(format!("write {value:?} to"), path, e))
}

/// Reads `dir/file`, trimmed of surrounding whitespace.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| CgroupError::io("read", path, e))
}

/// True if the cgroup file `dir/file` exists (i.e. the kernel offers it).
pub(crate) fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// Creates `dir` and any missing parents; an existing directory is fine.
pub(crate) fn mkdir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| CgroupError::io("create cgroup", dir, e))
}

/// Moves `pid` into the cgroup `dir` by writing it to `cgroup.procs`.
pub(crate) fn join(dir: &Path, pid: i32) -> Result<()> {
    write(dir, "cgroup.procs", &pid.to_string())
}

/// Every pid listed in `dir/cgroup.procs`; none when the cgroup does not exist (a container
/// whose create or delete was killed half-way may have only some of its cgroups).
pub(crate) fn procs(dir: &Path) -> Result<Vec<i32>> {
    let path = dir.join("cgroup.procs");
    let text = match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == ErrorKind::NotFound && !dir.exists() => return Ok(Vec::new()),
        other => other.map_err(|e| CgroupError::io("read", &path, e))?,
    };
    parse_pids(&text).map_err(|detail| CgroupError::Parse {
        what: "pid",
        path,
        detail,
    })
}

/// Parses one pid per line; blank lines are skipped.
pub(crate) fn parse_pids(text: &str) -> std::result::Result<Vec<i32>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.parse::<i32>().map_err(|_| l.to_string()))
        .collect()
}

/// How long [`remove_tree`] keeps retrying a busy cgroup.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(1);

/// Removes the cgroup `dir` and every cgroup below it, deepest first. A missing `dir` is
/// success. While the kernel reports EBUSY (processes still draining) it retries, sleeping
/// 1 ms, then 2, 4 and at most 10 ms between tries, for up to about one second.
pub(crate) fn remove_tree(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + REMOVE_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    loop {
        match remove_once(dir) {
            Err(CgroupError::Io { source, .. })
                if source.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// One pass of [`remove_tree`]: `dir` at once when it has no child cgroup (the common case:
/// one `rmdir`), else its children first, then `dir`.
fn remove_once(dir: &Path) -> Result<()> {
    let busy = match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        // cgroupfs says EBUSY for child cgroups and for processes; other filesystems ENOTEMPTY
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => e,
        Err(e) => return Err(CgroupError::io("remove cgroup", dir, e)),
    };
    let children = subdirs(dir)?;
    if children.is_empty() {
        return Err(CgroupError::io("remove cgroup", dir, busy));
    }
    for child in children {
        remove_once(&child)?;
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(CgroupError::io("remove cgroup", dir, e)),
        _ => Ok(()),
    }
}

/// The subdirectories (child cgroups) of `dir`; none if `dir` is gone.
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CgroupError::io("list cgroup", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CgroupError::io("list cgroup", dir, e))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Polls `check` every millisecond until it returns true or `timeout` passes; `nudge` runs
/// every 50 polls (e.g. to re-request the state). Returns whether `check` succeeded.
pub(crate) fn wait_until(
    timeout: Duration,
    mut check: impl FnMut() -> Result<bool>,
    mut nudge: impl FnMut() -> Result<()>,
) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut n: u32 = 0;
    loop {
        if check()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        n = n.wrapping_add(1);
        if n.is_multiple_of(50) {
            nudge()?;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh empty directory under the system temp dir, removed on drop.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> TempDir {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let name = format!("hull-cg-{tag}-{}-{nanos}", std::process::id());
            let dir = std::env::temp_dir().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        /// Creates empty files `names` in `self/sub` (making `sub`).
        pub(crate) fn files(&self, sub: &str, names: &[&str]) -> PathBuf {
            let d = self.0.join(sub);
            std::fs::create_dir_all(&d).unwrap();
            for n in names {
                std::fs::write(d.join(n), "").unwrap();
            }
            d
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn parses_pid_lists() {
        assert_eq!(parse_pids("1\n 22\n\n333\n").unwrap(), vec![1, 22, 333]);
        assert_eq!(parse_pids("").unwrap(), Vec::<i32>::new());
        assert_eq!(parse_pids("12\nx\n").unwrap_err(), "x");
    }

    #[test]
    fn write_never_creates_files() {
        let t = TempDir::new("write");
        let err = write(&t.0, "pids.max", "10").unwrap_err();
        assert!(err.to_string().contains("pids.max"), "{err}");
        assert!(!t.0.join("pids.max").exists());
        t.files("", &["pids.max"]);
        write(&t.0, "pids.max", "10").unwrap();
        assert_eq!(read(&t.0, "pids.max").unwrap(), "10");
    }

    #[test]
    fn remove_tree_removes_nested_empty_dirs_and_accepts_missing() {
        let t = TempDir::new("rm");
        std::fs::create_dir_all(t.0.join("a/b/c")).unwrap();
        remove_tree(&t.0.join("a")).unwrap();
        assert!(!t.0.join("a").exists());
        remove_tree(&t.0.join("a")).unwrap();
    }
}
