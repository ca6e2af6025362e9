//! Process handles that cannot be fooled by pid reuse: a pidfd opened only after checking the
//! process's start time against the one recorded at create.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::container::state::proc_stat;
use crate::error::{Context, Error, Result};
use crate::signal::SigNum;

/// A pidfd for a process known to be the one recorded.
#[derive(Debug)]
pub struct PidFd(OwnedFd);

impl PidFd {
    /// Open a pidfd for `pid` and verify it is still the process that started at `start`.
    /// `Ok(None)` when the process is gone (or the pid now belongs to another process).
    pub fn open(pid: i32, start: u64) -> Result<Option<PidFd>> {
        if pid <= 0 {
            // not known yet (a half-made container)
            return Ok(None);
        }
        let Some(pidfd) = PidFd::open_current(pid)? else {
            return Ok(None);
        };
        // Checked after opening: from now on the pidfd pins this exact process.
        let same =
            proc_stat(pid).is_some_and(|(state, s)| s == start && state != 'Z' && state != 'X');
        Ok(same.then_some(pidfd))
    }

    /// Open a pidfd for whichever process has `pid` now: what is checked about it through
    /// `/proc/<pid>` afterwards is about the process the pidfd signals, or that process has
    /// gone (and a signal fails with ESRCH). `Ok(None)` when there is no such process.
    pub fn open_current(pid: i32) -> Result<Option<PidFd>> {
        // SAFETY: pidfd_open takes a pid and flags; it returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            // EINVAL (flags are 0): the pid is allocated but its process is gone, being
            // reaped (or it is a thread's id, not a process's): no such process either.
            return match nix::errno::Errno::last() {
                nix::errno::Errno::ESRCH | nix::errno::Errno::EINVAL => Ok(None),
                e => Err(e).ctx(|| format!("pidfd_open {pid}")),
            };
        }
        // SAFETY: the syscall returned a new fd that nothing else owns.
        Ok(Some(PidFd(unsafe { OwnedFd::from_raw_fd(fd as i32) })))
    }

    /// Send `signal` through the pidfd.
    pub fn signal(&self, signal: impl Into<SigNum>) -> Result<()> {
        let number = signal.into().raw();
        // SAFETY: pidfd_send_signal with a valid pidfd, a signal number, no siginfo, no flags.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                number,
                std::ptr::null::<u8>(),
                0,
            )
        };
        nix::errno::Errno::result(r)
            .ctx(|| format!("send signal {number}"))
            .map(drop)
    }

    /// Wait until the process exits, up to `timeout`. Returns whether it exited.
    pub fn wait_exit(&self, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = PollTimeout::try_from(left.as_millis().min(10_000) as i32)
                .unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Ok(n) if n > 0 => return Ok(true),
                Ok(_) if left.is_zero() => return Ok(false),
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    return Err(Error::Sys {
                        what: "poll pidfd".into(),
                        source: e,
                    })
                }
            }
        }
    }

    /// The fd, for polling alongside others.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.0.as_fd()
    }
}
