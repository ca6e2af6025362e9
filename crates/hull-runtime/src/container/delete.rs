//! `delete`: stop what is left, run poststop hooks, remove the cgroup and the state.
//!
//! Also what a killed `create` or `delete` left: a half-made container (its record says
//! `creating` and nobody holds its lock), a damaged record (with `--force`: whatever can still
//! be read of it), or a directory without a record.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::create::due_hooks;
use super::state::{self, Container, Record, Status};
use super::stored_spec::Network;
use crate::error::{Error, Result};
use crate::fault;
use crate::hooks::{Due, HookPoint};
use crate::pidfd::PidFd;

/// Delete container `id`. A created container is killed first; a running or paused one only
/// with `force`. With `force`, a container that does not exist is not an error (as runc).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let dir = state::container_dir(root, id)?;
    let gone = || match force {
        true => Ok(()),
        false => Err(Error::NotExist(id.into())),
    };
    let _lock = match state::lock_dir(&dir) {
        Err(_) if !dir.exists() => return gone(),
        other => other?,
    };
    let loaded = Container::load(root, id).and_then(|c| Ok((Teardown::of(&c.record)?, c)));
    let (teardown, c) = match loaded {
        Ok(loaded) => loaded,
        Err(Error::NotExist(_)) => {
            // A create killed before its first record, or a delete killed after removing it.
            state::remove_dir(&dir)?;
            return gone();
        }
        Err(Error::Corrupt { id, why }) if force => {
            tracing::warn!("state of container {id:?} is corrupt ({why}): removing what it names");
            (Teardown::default(), Container::salvage(root, &id)?)
        }
        Err(e) => return Err(e),
    };
    fault::point("delete::locked");
    delete_locked(&c, &teardown, force)
}

/// What delete reads of the container's spec, all before it acts: a damaged spec stops it
/// first (with `--force`, only what the record's leading fields name is removed).
#[derive(Debug, Default)]
pub struct Teardown {
    /// The poststop hooks, with their state document.
    poststop: Option<Due>,
    /// The network devices to move back to the host.
    network: Network,
}

impl Teardown {
    /// What `record`'s spec asks of delete.
    pub fn of(record: &Record) -> Result<Teardown> {
        Ok(Teardown {
            poststop: due_hooks(record, HookPoint::Poststop, Status::Stopped)?,
            network: record.spec.network(&record.id)?,
        })
    }
}

/// [`delete`] of a container already loaded (`run` deletes the one it made, without reading
/// its state back). With `force`, a container whose state is gone meanwhile is not an error.
pub fn delete_loaded(c: &Container, force: bool) -> Result<()> {
    let _lock = match c.lock() {
        Err(_) if force && !c.dir.exists() => return Ok(()),
        other => other?,
    };
    delete_locked(c, &Teardown::of(&c.record)?, force)
}

/// Delete `c`, whose lock the caller holds.
fn delete_locked(c: &Container, t: &Teardown, force: bool) -> Result<()> {
    if c.record.creating {
        // Its create is gone (we hold the lock); what it made may still be alive.
        stop(c, t)?;
        fault::point("delete::stopped");
        return destroy(c, t);
    }
    match c.status() {
        // processes of it may outlive init when it has no PID namespace of its own
        Status::Stopped => super::kill::signal_all(c, Signal::SIGKILL)?,
        Status::Created => stop(c, t)?,
        s if force => {
            if s == Status::Paused {
                super::cgroup::of(&c.record)?.thaw()?;
            }
            stop(c, t)?
        }
        s => {
            return Err(c.bad_status(
                s,
                "cannot delete a container that is not stopped (use --force)",
            ))
        }
    }
    fault::point("delete::stopped");
    destroy(c, t)
}

/// SIGKILL every process of the container and wait for init to be gone; its network devices
/// go back to the host first, while its network namespace is still there.
fn stop(c: &Container, t: &Teardown) -> Result<()> {
    super::net_devices::move_out(&c.record, &t.network);
    let pidfd = PidFd::open(c.record.pid, c.record.pid_start)?;
    super::kill::signal_all(c, Signal::SIGKILL)?;
    if let Some(pidfd) = pidfd {
        if !pidfd.wait_exit(Duration::from_secs(10))? {
            return Err(Error::Msg(format!(
                "container {} init did not exit after SIGKILL",
                c.record.id
            )));
        }
    }
    Ok(())
}

/// Remove what the container left: poststop hooks run first (each failure a warning, the
/// others still run), then the
/// cgroup (unless processes of others still use it), then the state directory.
pub fn destroy(c: &Container, t: &Teardown) -> Result<()> {
    if let Some(hooks) = &t.poststop {
        hooks.run_warning();
    }
    fault::point("delete::poststop");
    let cgroup = super::cgroup::of(&c.record)?;
    let others = super::members::strangers(c, || Ok(cgroup.pids()?))?;
    if others.is_empty() {
        cgroup.destroy()?;
    } else {
        tracing::warn!(
            "container's cgroup is not empty: {} process(es) of others found, left in place",
            others.len()
        );
        super::cgroup::remove_unused(&c.record);
    }
    fault::point("delete::cgroup-removed");
    state::remove_dir(&c.dir)
}
