//! Until `create` has finished, the processes it spawns die with it: PR_SET_PDEATHSIG sends
//! them SIGKILL when hull dies, and a check right after arming it catches a hull that died
//! before (its end of the bootstrap channel is then closed: only hull holds it).

use std::os::fd::AsFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::prctl;
use nix::sys::signal::Signal;

use super::channel::Channel;
use crate::error::{Context, Error, Result};

/// Arm PR_SET_PDEATHSIG(SIGKILL) for this process, then fail if the parent (the peer of
/// `chan`) is already gone. Call again after any change of credentials: the kernel clears the
/// setting then.
pub fn die_with_parent(chan: &Channel) -> Result<()> {
    prctl::set_pdeathsig(Signal::SIGKILL).ctx(|| "set the parent-death signal")?;
    if peer_gone(chan) {
        return Err(Error::Msg("hull exited during set-up".into()));
    }
    Ok(())
}

/// Disarm the parent-death signal: from now on this process outlives hull.
pub fn outlive_parent() -> Result<()> {
    prctl::set_pdeathsig(None).ctx(|| "clear the parent-death signal")
}

/// Whether the other end of `chan` has been closed by every process that held it.
fn peer_gone(chan: &Channel) -> bool {
    // POLLHUP is reported whatever is asked for.
    let mut fds = [PollFd::new(chan.as_fd(), PollFlags::empty())];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
        && fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLHUP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_peer_is_seen_even_with_messages_queued() {
        let (a, b) = super::super::channel::pair().unwrap();
        a.send(&super::super::channel::Msg::Ready).unwrap();
        assert!(!peer_gone(&b));
        drop(a);
        assert!(peer_gone(&b));
    }
}
