//! `run`: create and start in one process. In the foreground, hull stays init's parent:
//! it forwards signals to the container, reaps it, and returns its exit status.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::create::{create, CreateOptions};
use super::state::Container;
use super::{delete, start};
use crate::error::{Context, Result};

/// Signals a foreground `run` passes on to the container instead of acting on them.
const FORWARDED: [Signal; 13] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGPIPE,
    Signal::SIGALRM,
    Signal::SIGCONT,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
];

/// How `run` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Start and return at once.
    Detach,
    /// Wait for the container; delete it afterwards unless `keep`.
    Foreground { keep: bool },
}

/// Run a container; returns the exit code hull should exit with.
pub fn run(opts: &CreateOptions, mode: RunMode) -> Result<i32> {
    let c = create(opts)?;
    let RunMode::Foreground { keep } = mode else {
        return start_or_remove(&c).map(|_| 0);
    };
    let set = block_forwarded_signals()?;
    start_or_remove(&c)?;
    let code = forward_until_exit(Pid::from_raw(c.record.pid), &set)?;
    if !keep {
        delete::delete(&opts.root, &opts.id, true)?;
    }
    Ok(code)
}

fn start_or_remove(c: &Container) -> Result<()> {
    if let Err(e) = start::release(c) {
        let _ = delete::delete(c.dir.parent().unwrap_or(&c.dir), &c.record.id, true);
        return Err(e);
    }
    start::poststart(c);
    Ok(())
}

/// Block the signals hull forwards (and SIGCHLD), to receive them with `sigwait`.
pub(crate) fn block_forwarded_signals() -> Result<SigSet> {
    let mut set = SigSet::empty();
    FORWARDED.iter().for_each(|s| set.add(*s));
    set.add(Signal::SIGCHLD);
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .ctx(|| "block signals")?;
    Ok(set)
}

/// Wait for signals: pass each on to `init`, and on SIGCHLD reap; stop when `init` is reaped.
pub(crate) fn forward_until_exit(init: Pid, set: &SigSet) -> Result<i32> {
    loop {
        if let Some(code) = reap(init)? {
            return Ok(code);
        }
        let sig = set.wait().ctx(|| "wait for signals")?;
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(init, sig);
        }
    }
}

/// Reap every exited child; `Some(exit code)` once init is among them (128+N for signal N).
fn reap(init: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == init => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == init => {
                return Ok(Some(128 + sig as i32))
            }
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(None),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).ctx(|| "waitpid"),
        }
    }
}
