//! `kill`: signal init through a pidfd, or with `--all` every process of the cgroup.

use std::path::Path;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::state::{Container, Status};
use crate::error::{Context, Result};
use crate::pidfd::PidFd;

/// Send `signal` to container `id`'s init (or, with `all`, to every process in its cgroup);
/// None is signal 0, which only checks the processes are there.
pub fn kill(root: &Path, id: &str, signal: Option<Signal>, all: bool) -> Result<()> {
    let c = Container::load(root, id)?;
    let status = c.status();
    if status == Status::Stopped && !all {
        return Err(c.bad_status(status, "container not running"));
    }
    if all {
        return signal_all(&c, signal);
    }
    signal_init(&c, signal)
}

/// Signal init; a process that has just gone is not an error.
pub fn signal_init(c: &Container, signal: impl Into<Option<Signal>>) -> Result<()> {
    match PidFd::open(c.record.pid, c.record.pid_start)? {
        Some(pidfd) => pidfd.signal(signal),
        None => Ok(()),
    }
}

/// Signal every process in the container's cgroup (and init, in case it is elsewhere).
pub fn signal_all(c: &Container, signal: impl Into<Option<Signal>>) -> Result<()> {
    let signal = signal.into();
    let cgroup = super::cgroup::of(&c.record)?;
    for pid in cgroup.pids()? {
        match nix::sys::signal::kill(Pid::from_raw(pid), signal) {
            Err(nix::errno::Errno::ESRCH) | Ok(()) => {}
            Err(e) => {
                let number = signal.map_or(0, |s| s as i32);
                return Err(e).ctx(|| format!("send signal {number} to {pid}"));
            }
        }
    }
    signal_init(c, signal)
}
