//! Out-of-memory notifications: v1 through an eventfd registered on `memory.oom_control`,
//! v2 by watching the `oom` counter of `memory.events`.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{CgroupError, Result};
use crate::fs;
use crate::stats::read_kv;

/// Reports OOM events of one cgroup as they happen.
pub trait OomWatcher: Send + std::fmt::Debug {
    /// Waits up to `timeout` and returns how many OOM events happened meanwhile (0 when the
    /// time ran out). Returns early as soon as there is one.
    fn wait(&mut self, timeout: Duration) -> Result<u64>;
}

/// v1: `cgroup.event_control` is told to signal an eventfd on every OOM in the cgroup.
#[derive(Debug)]
pub(crate) struct V1Oom {
    event: File,
    dir: PathBuf,
    _control: File,
}

impl V1Oom {
    /// Registers a new eventfd for OOMs of the memory cgroup `dir`.
    pub(crate) fn new(dir: &Path) -> Result<Self> {
        let control_path = dir.join("memory.oom_control");
        let control =
            File::open(&control_path).map_err(|e| CgroupError::io("open", &control_path, e))?;
        // SAFETY: eventfd takes no pointers; the result is checked before use.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if raw < 0 {
            let e = std::io::Error::last_os_error();
            return Err(CgroupError::io("create eventfd for", dir, e));
        }
        // SAFETY: `raw` is a new, valid fd that nothing else owns.
        let event = File::from(unsafe { OwnedFd::from_raw_fd(raw) });
        let line = format!("{} {}", event.as_raw_fd(), control.as_raw_fd());
        fs::write(dir, "cgroup.event_control", &line)?;
        Ok(V1Oom {
            event,
            dir: dir.to_path_buf(),
            _control: control,
        })
    }
}

/// Waits until `fd` is readable or `timeout` passes; true if readable.
fn readable(fd: &File, timeout: Duration) -> Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `p` is one valid pollfd that lives across the call.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    match n {
        n if n > 0 => Ok(true),
        0 => Ok(false),
        _ => {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(false);
            }
            Err(CgroupError::io("poll", "eventfd", e))
        }
    }
}

impl OomWatcher for V1Oom {
    fn wait(&mut self, timeout: Duration) -> Result<u64> {
        if !readable(&self.event, timeout)? {
            return Ok(0);
        }
        let mut buf = [0u8; 8];
        self.event
            .read_exact(&mut buf)
            .map_err(|e| CgroupError::io("read", "eventfd", e))?;
        // The eventfd also fires when the cgroup is removed: that is no OOM.
        if !self.dir.exists() {
            return Ok(0);
        }
        Ok(u64::from_ne_bytes(buf))
    }
}

/// v2: the `oom` count in `memory.events`, polled.
#[derive(Debug)]
pub(crate) struct V2Oom {
    dir: PathBuf,
    seen: u64,
}

/// How often `memory.events` is read.
const POLL: Duration = Duration::from_millis(100);

impl V2Oom {
    /// Starts watching the cgroup `dir` from its current count.
    pub(crate) fn new(dir: &Path) -> Result<Self> {
        if !fs::exists(dir, "memory.events") {
            return Err(CgroupError::unsupported(
                "oom events",
                format!(
                    "no memory.events in {} (memory controller off)",
                    dir.display()
                ),
            ));
        }
        let seen = oom_count(dir)?;
        Ok(V2Oom {
            dir: dir.to_path_buf(),
            seen,
        })
    }
}

fn oom_count(dir: &Path) -> Result<u64> {
    Ok(read_kv(dir, "memory.events")?
        .get("oom")
        .copied()
        .unwrap_or(0))
}

impl OomWatcher for V2Oom {
    fn wait(&mut self, timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.dir.exists() {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                return Ok(0);
            }
            let now = oom_count(&self.dir)?;
            if now > self.seen {
                let new = now - self.seen;
                self.seen = now;
                return Ok(new);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(0);
            }
            std::thread::sleep(left.min(POLL));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tests::TempDir;

    #[test]
    fn v2_counts_new_ooms_only() {
        let t = TempDir::new("oom2");
        let d = t.files("c", &[]);
        std::fs::write(d.join("memory.events"), "low 0\noom 2\noom_kill 1\n").unwrap();
        let mut w = V2Oom::new(&d).unwrap();
        assert_eq!(w.wait(Duration::from_millis(10)).unwrap(), 0);
        std::fs::write(d.join("memory.events"), "low 0\noom 5\noom_kill 1\n").unwrap();
        assert_eq!(w.wait(Duration::from_millis(10)).unwrap(), 3);
        assert_eq!(w.wait(Duration::from_millis(10)).unwrap(), 0);
    }

    #[test]
    fn v2_without_memory_controller_is_unsupported() {
        let t = TempDir::new("oom2none");
        let d = t.files("c", &[]);
        assert!(V2Oom::new(&d).is_err());
    }
}
