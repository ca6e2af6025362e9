//! Waiting in the foreground for a container process (`run`, `exec`): signals hull receives
//! are passed on, the process is reaped, and with a terminal its pty is proxied to hull's
//! stdio (stdin in raw mode, window size changes passed through). Single-threaded: one poll
//! loop over a signalfd, stdin and the pty master.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Context, Result};

/// Signals hull passes on to the container instead of acting on them.
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

/// Block the forwarded signals and SIGCHLD; they are read from a signalfd instead.
pub fn block_signals() -> Result<SigSet> {
    let mut set = SigSet::empty();
    FORWARDED.iter().for_each(|s| set.add(*s));
    set.add(Signal::SIGCHLD);
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .ctx(|| "block signals")?;
    Ok(set)
}

/// Wait for `pid` to exit, forwarding signals (and proxying `pty` if given); returns its exit
/// code, 128+N when killed by signal N.
pub fn wait(pid: Pid, set: &SigSet, pty: Option<OwnedFd>) -> Result<i32> {
    let sfd = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .ctx(|| "signalfd")?;
    let _raw = pty.as_ref().and_then(|_| RawMode::enter());
    if let Some(master) = &pty {
        copy_window_size(master);
    }
    let mut stdin_open = pty.is_some();
    let mut master_open = pty.is_some();
    loop {
        if let Some(code) = reap(pid)? {
            if let Some(master) = pty.as_ref().filter(|_| master_open) {
                drain(master);
            }
            return Ok(code);
        }
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(master) = pty.as_ref() {
            fds.push(PollFd::new(
                master.as_fd(),
                if master_open {
                    PollFlags::POLLIN
                } else {
                    PollFlags::empty()
                },
            ));
            fds.push(PollFd::new(
                stdin.as_fd(),
                if stdin_open {
                    PollFlags::POLLIN
                } else {
                    PollFlags::empty()
                },
            ));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => other.ctx(|| "poll")?,
        };
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        drop(fds);
        if ready[0] {
            on_signal(&sfd, pid, pty.as_ref())?;
        }
        if let Some(master) = &pty {
            if ready[1] && !copy(master.as_fd(), std::io::stdout().as_fd()) {
                master_open = false;
            }
            if ready[2] && !copy(stdin.as_fd(), master.as_fd()) {
                stdin_open = false;
            }
        }
    }
}

fn on_signal(sfd: &SignalFd, pid: Pid, pty: Option<&OwnedFd>) -> Result<()> {
    while let Some(info) = sfd.read_signal().ctx(|| "read signalfd")? {
        let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
            continue;
        };
        match (sig, pty) {
            (Signal::SIGCHLD, _) => {}
            (Signal::SIGWINCH, Some(master)) => copy_window_size(master),
            _ => {
                let _ = nix::sys::signal::kill(pid, sig);
            }
        }
    }
    Ok(())
}

/// Copy what is available from `from` to `to`; false on EOF or error (the side is done).
fn copy(from: BorrowedFd, to: BorrowedFd) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => write_all(to, &buf[..n]),
    }
}

fn write_all(to: BorrowedFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match nix::unistd::write(to, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
    true
}

/// After the process exits, print what is still buffered in the pty.
fn drain(master: &OwnedFd) {
    loop {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0) {
            return;
        }
        if !copy(master.as_fd(), std::io::stdout().as_fd()) {
            return;
        }
    }
}

fn copy_window_size(master: &OwnedFd) {
    if let Some(mut ws) = our_window_size() {
        // SAFETY: TIOCSWINSZ reads a valid winsize.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &mut ws) };
    }
}

/// The size of hull's own terminal (its stdin), when it is one and reports a size (a 0x0
/// one would only undo process.consoleSize).
fn our_window_size() -> Option<libc::winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into a valid pointer; it fails harmlessly on a non-tty.
    let got = unsafe { libc::ioctl(std::io::stdin().as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (got == 0 && ws.ws_row > 0 && ws.ws_col > 0).then_some(ws)
}

/// For a terminal hull proxies: give the container's pty the size of hull's terminal from
/// the start (`process.consoleSize`), so the program never sees it before hull copies it.
pub fn size_like_ours(process: &mut oci_spec::runtime::Process) {
    if let Some(ws) = our_window_size() {
        let size = oci_spec::runtime::BoxBuilder::default()
            .height(ws.ws_row)
            .width(ws.ws_col)
            .build();
        process.set_console_size(size.ok());
    }
}

/// Reap exited children; `Some(exit code)` once `pid` is among them.
fn reap(pid: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => return Ok(Some(128 + sig as i32)),
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(None),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).ctx(|| "waitpid"),
        }
    }
}

/// hull's stdin in raw mode while proxying a terminal; restored on drop.
struct RawMode(Termios);

impl RawMode {
    fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.0);
    }
}
