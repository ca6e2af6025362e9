//! Signal dispositions the container's program must not inherit from hull.
//!
//! hull ignores SIGPIPE (Rust's runtime does it for every program, and hull relies on EPIPE
//! from its channel and pipes), and an ignored signal stays ignored across `execve`: without
//! this the container's program would start with SIGPIPE ignored (`SigIgn: 0000000000001000`),
//! where runc's starts with nothing ignored.

use crate::error::{Context, Result};
use nix::sys::signal::{signal, SigHandler, Signal};

/// Gives SIGPIPE back its default action (termination). Called before the seccomp filter is
/// loaded, so the profile need not allow `rt_sigaction`.
pub fn restore_defaults() -> Result<()> {
    // SAFETY: SIG_DFL installs no handler, so no code of ours can run on the signal.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }
        .map(drop)
        .ctx(|| "restore the default action of SIGPIPE")
}
