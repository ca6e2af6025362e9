//! What hull needs of Rust's runtime set-up, which it skips (`#![no_main]`, see main.rs).

use std::os::fd::RawFd;

/// Guarantees, before anything else runs: fds 0, 1 and 2 are open (each one found closed is
/// `/dev/null`, so no file hull opens later can take its number and receive output meant
/// for stdout or stderr), and SIGPIPE is ignored (a write to a closed pipe or socket fails
/// with EPIPE instead of killing hull half-way; init and exec'd processes give the signal
/// its default action back before their program starts).
pub fn prepare() {
    for fd in 0..=2 {
        open_if_closed(fd);
    }
    // SAFETY: SIG_IGN installs no handler; no code of ours runs on the signal.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Opens `/dev/null` as `fd` when `fd` is not open (the lowest free number is the one taken).
fn open_if_closed(fd: RawFd) {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
        return;
    }
    // SAFETY: a static NUL-terminated path; the new descriptor is deliberately left open
    // (it is the missing standard fd).
    unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
}
