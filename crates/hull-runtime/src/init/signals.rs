//! Signal dispositions the container's program must not inherit from hull: it starts with
//! every signal at its default action and none blocked, as runc's (and crun's) do.
//!
//! An ignored signal stays ignored across `execve` (and a shell cannot even trap it then):
//! hull ignores SIGPIPE (Rust's runtime does it for every program, and hull relies on EPIPE
//! from its channel and pipes), a caller started in the background of a non-interactive
//! shell ignores SIGINT and SIGQUIT, and glibc's posix_spawn leaves its own signals (32, 33)
//! ignored in the child.

use nix::errno::Errno;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};

use crate::error::{Context, Result};

/// Sets every ignored signal's action to `SIG_DFL` (a handler is reset by execve itself) and
/// unblocks all signals; every signal when the ignored ones cannot be read. Called before the
/// seccomp filter is loaded, so the profile need not allow `rt_sigaction`; what hull does
/// after it writes only where EPIPE cannot come, or with MSG_NOSIGNAL (the channel), or
/// fails anyway (exec.fifo without its reader).
pub fn restore_defaults() -> Result<()> {
    // The kernel's struct sigaction, all zero: SIG_DFL, no flags, an empty mask. Through the
    // system call, not the C library's wrapper, which refuses the signals it keeps for
    // itself (32 and up), though they can be inherited ignored too.
    let dfl = [0u64; 4];
    let ignored = ignored_now().unwrap_or(u64::MAX);
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP || ignored & (1 << (sig - 1)) == 0 {
            continue;
        }
        // SAFETY: rt_sigaction reads the zeroed struct (sized for the kernel's, with the
        // kernel's 8-byte sigset) and installs no handler; no old action is written back.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                dfl.as_ptr(),
                std::ptr::null_mut::<u64>(),
                std::mem::size_of::<u64>(),
            )
        };
        Errno::result(rc).ctx(|| format!("reset the action of signal {sig}"))?;
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None).ctx(|| "unblock all signals")
}

/// The signals this thread ignores (bit N-1 for signal N), as `SigIgn` of its status in a
/// procfs checked as `procfs::open_root` checks it (one read instead of a query a signal);
/// None when there is no such procfs to ask.
fn ignored_now() -> Option<u64> {
    let proc = super::procfs::open_root().ok()?;
    let status = super::procfs::read(&proc, "thread-self/status").ok()?;
    let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
    u64::from_str_radix(mask.trim(), 16).ok()
}
