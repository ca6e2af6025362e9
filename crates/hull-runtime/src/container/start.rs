//! `start`: release init from `exec.fifo`, then run the poststart hooks (a failing one
//! deletes the container).

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::create::due_hooks;
use super::state::{Container, Status, EXEC_FIFO};
use crate::error::{Context, Error, Result};
use crate::fault;
use crate::hooks::{Due, HookPoint};
use crate::pidfd::PidFd;

/// Start the created container `id`.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    let _lock = c.lock()?;
    match c.status() {
        Status::Created => {}
        Status::Stopped => {
            return Err(c.bad_status(Status::Stopped, "cannot start a container that has stopped"))
        }
        Status::Creating => {
            return Err(c.bad_status(
                Status::Creating,
                "cannot start a container that is still being created",
            ))
        }
        // runc's words for each
        Status::Paused => {
            return Err(c.bad_status(
                Status::Paused,
                "cannot start a container in the paused state",
            ))
        }
        s => return Err(c.bad_status(s, "cannot start an already running container")),
    }
    fault::point("start::locked");
    let hooks = due_hooks(&c.record, HookPoint::Poststart, Status::Running)?;
    release(&c)?;
    fault::point("start::released");
    drop(_lock);
    poststart(&c, hooks.as_ref())
}

/// Open `exec.fifo` for reading, which unblocks init, and read its "go" byte. Fails (instead
/// of hanging) if init dies first. The fifo is removed, which marks the container running.
pub fn release(c: &Container) -> Result<()> {
    let path = c.dir.join(EXEC_FIFO);
    let pidfd = PidFd::open(c.record.pid, c.record.pid_start)?
        .ok_or_else(|| Error::Msg(format!("container {} init has exited", c.record.id)))?;
    let mut fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(&path)
        .ctx(|| format!("open {}", path.display()))?;
    wait_readable(&fifo, &pidfd)?;
    let mut byte = [0u8; 1];
    let n = fifo
        .read(&mut byte)
        .ctx(|| format!("read {}", path.display()))?;
    if n != 1 {
        return Err(Error::Msg(format!(
            "container {} init exited before it could start",
            c.record.id
        )));
    }
    fault::point("start::read-fifo");
    std::fs::remove_file(&path).ctx(|| format!("remove {}", path.display()))?;
    fault::point("start::removed-fifo");
    wait_exec(&fifo, &pidfd)
}

/// Wait until init closes its end of the fifo, which happens when it execs the program (the
/// fd is close-on-exec) or dies: poststart hooks must run after the program started.
fn wait_exec(fifo: &File, pidfd: &PidFd) -> Result<()> {
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::empty()),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => other.ctx(|| "poll exec.fifo")?,
        };
        if fds.iter().any(|f| f.any().unwrap_or(false)) {
            return Ok(());
        }
    }
}

fn wait_readable(fifo: &File, pidfd: &PidFd) -> Result<()> {
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).ctx(|| "poll exec.fifo"),
            Ok(_) => {}
        }
        let ready = |i: usize| {
            fds[i]
                .revents()
                .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP))
        };
        if ready(0) {
            return Ok(());
        }
        if ready(1) {
            return Err(Error::Msg(
                "container init exited before it could start".into(),
            ));
        }
    }
}

/// Run the poststart `hooks` (see [`due_hooks`]). As runc, a failing one fails the start:
/// the container is killed and deleted (poststop hooks run), and the hook's error is
/// returned. The caller must not hold the container's lock.
pub fn poststart(c: &Container, hooks: Option<&Due>) -> Result<()> {
    let Some(Err(e)) = hooks.map(Due::run) else {
        return Ok(());
    };
    if let Err(why) = super::delete::delete_loaded(c, true) {
        tracing::warn!("delete after the failed poststart hook: {why}");
    }
    Err(e)
}
