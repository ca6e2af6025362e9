//! `delete`: stop what is left, run poststop hooks, remove the cgroup and the state.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::create::hook_state;
use super::state::{Container, Status};
use crate::error::{Context, Error, Result};
use crate::hooks::{self, HookPoint};
use crate::pidfd::PidFd;

/// Delete container `id`. A created container is killed first; a running or paused one only
/// with `force`. With `force`, a container that does not exist is not an error (as runc).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let c = match Container::load(root, id) {
        Err(Error::NotExist(_)) if force => return Ok(()),
        other => other?,
    };
    delete_loaded(&c, force)
}

/// [`delete`] of a container already loaded (`run` deletes the one it made, without reading
/// its state back). With `force`, a container whose state is gone meanwhile is not an error.
pub fn delete_loaded(c: &Container, force: bool) -> Result<()> {
    let _lock = match c.lock() {
        Err(_) if force && !c.dir.exists() => return Ok(()),
        other => other?,
    };
    match c.status() {
        Status::Stopped => {}
        Status::Created => stop(c)?,
        s if force => {
            if s == Status::Paused {
                super::cgroup::of(&c.record)?.thaw()?;
            }
            stop(c)?
        }
        s => {
            return Err(c.bad_status(
                s,
                "cannot delete a container that is not stopped (use --force)",
            ))
        }
    }
    destroy(c)
}

/// SIGKILL every process of the container and wait for init to be gone.
fn stop(c: &Container) -> Result<()> {
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

/// Remove what the container left: poststop hooks run first (failures are logged), then the
/// cgroup, then the state directory.
pub fn destroy(c: &Container) -> Result<()> {
    let state = hook_state(&c.record, Status::Stopped);
    if let Err(e) = hooks::run_point(&c.record.spec, HookPoint::Poststop, &state) {
        tracing::warn!("{e}");
    }
    super::cgroup::of(&c.record)?.destroy()?;
    std::fs::remove_dir_all(&c.dir).ctx(|| format!("remove {}", c.dir.display()))
}
