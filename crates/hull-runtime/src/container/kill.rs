//! `kill`: signal init through a pidfd, or with `--all` every process of the container.

use std::path::Path;

use super::state::{Container, Status};
use crate::error::{Error, Result};
use crate::pidfd::PidFd;
use crate::signal::SigNum;

/// Send `signal` to container `id`'s init (or, with `all`, to every process of it);
/// [`SigNum::CHECK`] (signal 0) only checks the processes are there.
pub fn kill(root: &Path, id: &str, signal: SigNum, all: bool) -> Result<()> {
    let c = Container::load(root, id)?;
    let status = c.status();
    if status == Status::Stopped && !all {
        // Without a PID namespace of its own, the container's other processes outlive its
        // init: SIGKILL still reaches them (runc 1.2), else nothing would.
        let shared_pid_ns = c
            .record
            .member_ns
            .is_some_and(|n| n.kind == super::members::Kind::Mnt);
        if shared_pid_ns && signal == SigNum::from(nix::sys::signal::Signal::SIGKILL) {
            return signal_all(&c, signal);
        }
        return Err(c.bad_status(status, "container not running"));
    }
    if all {
        return signal_all(&c, signal);
    }
    signal_init(&c, signal)
}

/// Signal init; a process that has just gone is not an error.
pub fn signal_init(c: &Container, signal: impl Into<SigNum>) -> Result<()> {
    // It may exit between the open and the signal (`delete --force` has just killed the rest
    // of the cgroup): the pidfd then says ESRCH.
    match PidFd::open(c.record.pid, c.record.pid_start)?.map(|pidfd| pidfd.signal(signal)) {
        Some(Err(Error::Sys {
            source: nix::errno::Errno::ESRCH,
            ..
        }))
        | None => Ok(()),
        Some(result) => result,
    }
}

/// Signal every process of the container in its cgroup (never another container's that
/// shares the cgroup, see [`members`](super::members)) or, without a cgroup, in its
/// namespace, and init, in case it is elsewhere.
pub fn signal_all(c: &Container, signal: impl Into<SigNum>) -> Result<()> {
    let signal = signal.into();
    super::members::signal_members(c, &super::cgroup::pids(c)?, signal)?;
    signal_init(c, signal)
}
