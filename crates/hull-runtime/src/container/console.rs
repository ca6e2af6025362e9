//! The parent's side of a container's terminal: connecting to a `--console-socket`, or, for a
//! foreground `run -t`/`exec -t`, a private socketpair on which hull receives the pty master.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{
    recvmsg, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};

use crate::error::{Context, Error, Result};

/// Where the pty master goes.
#[derive(Debug)]
pub enum Console {
    /// `process.terminal` is false: the container inherits hull's stdio.
    None,
    /// Sent to this connected console socket (the caller's `--console-socket`).
    Socket(OwnedFd),
    /// Received by hull itself on `ours`, to proxy it to hull's stdio; `theirs` goes to init.
    Proxy { ours: OwnedFd, theirs: OwnedFd },
}

impl Console {
    /// Decide from `process.terminal` and `--console-socket`, as runc does: a terminal needs a
    /// console socket unless hull stays in the foreground, and a socket needs a terminal.
    pub fn choose(terminal: bool, socket: Option<&Path>, foreground: bool) -> Result<Console> {
        match (terminal, socket) {
            (false, None) => Ok(Console::None),
            (false, Some(_)) => Err(Error::Msg(
                "cannot use console socket: --console-socket is only valid with process.terminal true".into(),
            )),
            (true, Some(path)) => connect(path).map(Console::Socket),
            (true, None) if foreground => proxy_pair(),
            (true, None) => Err(Error::Msg(
                "cannot allocate tty: process.terminal is true but no --console-socket was given to receive the pty"
                    .into(),
            )),
        }
    }

    /// The fd init sends the master on, if any.
    pub fn init_end(&self) -> Option<i32> {
        match self {
            Console::None => None,
            Console::Socket(fd) | Console::Proxy { theirs: fd, .. } => Some(fd.as_raw_fd()),
        }
    }
}

fn connect(path: &Path) -> Result<OwnedFd> {
    let stream = UnixStream::connect(path)
        .ctx(|| format!("connect to console socket {}", path.display()))?;
    Ok(OwnedFd::from(stream))
}

fn proxy_pair() -> Result<Console> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "socketpair for the console")?;
    Ok(Console::Proxy { ours, theirs })
}

/// Receive the pty master that init sent on `socket`.
pub fn recv_master(socket: &OwnedFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([i32; 1]);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ctx(|| "receive the pty master")?;
    for cmsg in msg.cmsgs().ctx(|| "read the pty master message")? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this fd for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(Error::Msg(
        "the container did not send its pty master".into(),
    ))
}
