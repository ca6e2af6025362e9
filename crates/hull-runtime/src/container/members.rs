//! Which processes of a container's cgroup are the container's own. A cgroup may be shared
//! (two containers given one `cgroupsPath`, or a cgroup that had processes before): `kill
//! --all` and `delete --force` must never reach another container's processes, and `delete`
//! must not remove a cgroup that others still use.
//!
//! A process is the container's when it is in the container's namespace: its PID namespace
//! when it made one of its own (every process of the container is in it, whatever it unshares
//! later), else its mount namespace (every container has one of its own). The namespace is
//! recorded at create. A namespace's inode number may be given to a new namespace once the old
//! one is gone: while init lives it holds the namespace, and once it is gone its PID namespace
//! has no process left (the kernel kills them all), so only a recorded mount namespace is used
//! after init. Processes of the container that linger keep it alive; if none does, a process
//! of a later namespace with the same inode number would be taken for the container's (a rare
//! case: a shared cgroup, no PID namespace of its own, init gone).

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use crate::signal::SigNum;
use serde::{Deserialize, Serialize};

use super::state::Container;
use crate::error::{Context, Error, Result};
use crate::pidfd::PidFd;

/// The kind of namespace that marks a container's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The container's own PID namespace.
    Pid,
    /// The container's mount namespace (it shares or has no PID namespace of its own).
    Mnt,
}

/// One namespace, as `stat` of `/proc/<pid>/ns/<kind>` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    /// Which kind it is.
    pub kind: Kind,
    /// The nsfs device.
    pub dev: u64,
    /// The namespace's inode number.
    pub ino: u64,
}

impl Namespace {
    /// The namespace that marks the processes of the container whose init is `pid`: its PID
    /// namespace when `own_pid_ns` (it made one), else its mount namespace.
    pub fn of_init(pid: i32, own_pid_ns: bool) -> Result<Namespace> {
        let kind = if own_pid_ns { Kind::Pid } else { Kind::Mnt };
        Namespace::of(pid, kind).ctx(|| format!("read the namespaces of container init {pid}"))
    }

    fn of(pid: i32, kind: Kind) -> std::io::Result<Namespace> {
        let name = match kind {
            Kind::Pid => "pid",
            Kind::Mnt => "mnt",
        };
        let meta = std::fs::metadata(format!("/proc/{pid}/ns/{name}"))?;
        Ok(Namespace {
            kind,
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// Whether process `pid` is in this namespace; None when that cannot be read (the process
    /// is exiting or gone).
    fn holds(&self, pid: i32) -> Option<bool> {
        Namespace::of(pid, self.kind).ok().map(|ns| ns == *self)
    }
}

/// What is known of `c`'s processes in its cgroup.
enum Members {
    /// They are the processes in this namespace.
    In(Namespace),
    /// None is left: init is gone, and the kernel killed every process of its PID namespace.
    Gone,
    /// They cannot be told apart: a half-made container whose init is not known (it dies
    /// with the `create` that made it), or a damaged record.
    Unknown,
}

/// What is known of `c`'s processes (see the module comment for when the record is trusted).
fn members(c: &Container) -> Result<Members> {
    let init = PidFd::open(c.record.pid, c.record.pid_start)?;
    Ok(match (init, c.record.member_ns) {
        // init holds the namespace alive: the record names it
        (Some(_), Some(ns)) => Members::In(ns),
        // the record was not written yet: init's own
        (Some(_), None) => match Namespace::of(c.record.pid, Kind::Mnt) {
            Ok(ns) => Members::In(ns),
            Err(_) => Members::Unknown,
        },
        (None, Some(ns)) if ns.kind == Kind::Pid => Members::Gone,
        (None, Some(ns)) => Members::In(ns),
        (None, None) => Members::Unknown,
    })
}

/// Send `signal` (signal 0: a check) to every process of `c` among `pids` (its cgroup's), each through a pidfd
/// opened before it is checked, so that a recycled pid is never signalled.
pub fn signal_members(c: &Container, pids: &[i32], signal: SigNum) -> Result<()> {
    let Members::In(ns) = members(c)? else {
        return Ok(());
    };
    for &pid in pids {
        let Some(pidfd) = PidFd::open_current(pid)? else {
            continue;
        };
        if ns.holds(pid) != Some(true) {
            continue;
        }
        match pidfd.signal(signal) {
            Err(Error::Sys {
                source: nix::errno::Errno::ESRCH,
                ..
            })
            | Ok(()) => {}
            Err(e) => return Err(Error::Msg(format!("process {pid} of the cgroup: {e}"))),
        }
    }
    Ok(())
}

/// The processes of `c` told by its namespace alone, for a container without a cgroup
/// (rootless, none delegated): every process of the host in its recorded namespace (none
/// once they are gone, or when they cannot be told apart).
pub fn by_namespace(c: &Container) -> Result<Vec<i32>> {
    let Members::In(ns) = members(c)? else {
        return Ok(Vec::new());
    };
    let procs = std::fs::read_dir("/proc").ctx(|| "read /proc")?;
    let mut pids: Vec<i32> = procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| ns.holds(pid) == Some(true))
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// How long processes that cannot be told apart get to go (a half-made container's init
/// dying with its `create`) before they count as others'.
const UNKNOWN_GRACE: Duration = Duration::from_secs(1);

/// The processes in `c`'s cgroup that are surely not `c`'s: alive, and in another namespace.
/// `pids` lists the cgroup's processes.
pub fn strangers(c: &Container, pids: impl Fn() -> Result<Vec<i32>>) -> Result<Vec<i32>> {
    let alive = |pid: &i32| Namespace::of(*pid, Kind::Mnt).is_ok();
    match members(c)? {
        Members::In(ns) => Ok(pids()?
            .into_iter()
            .filter(|&pid| ns.holds(pid) == Some(false))
            .collect()),
        Members::Gone => Ok(pids()?.into_iter().filter(alive).collect()),
        Members::Unknown => {
            let deadline = Instant::now() + UNKNOWN_GRACE;
            loop {
                let left: Vec<i32> = pids()?.into_iter().filter(alive).collect();
                if left.is_empty() || Instant::now() >= deadline {
                    return Ok(left);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}
