//! The container's terminal: a pty allocated from the container's own devpts (checked to be
//! devpts), its slave made the controlling terminal and stdio, and its master sent over the
//! console socket with SCM_RIGHTS, as runc does.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{open, OFlag};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;
use nix::sys::statfs::fstatfs;
use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout, Uid};

use crate::error::{Context, Error, Result};

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// Allocate the pty, send its master to `socket`, and make the slave this process's
/// controlling terminal and stdin/stdout/stderr. `size` is `(rows, cols)`. The process must
/// already lead its own session (see `session.rs`).
pub fn attach(socket: RawFd, size: Option<(u16, u16)>) -> Result<()> {
    let master = open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open /dev/ptmx")?;
    let fs = fstatfs(&master).ctx(|| "statfs /dev/ptmx")?;
    if fs.filesystem_type().0 as i64 != DEVPTS_SUPER_MAGIC {
        return Err(Error::Msg(
            "/dev/ptmx is not on a devpts file system".into(),
        ));
    }
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from a valid pointer.
    nix::errno::Errno::result(unsafe {
        libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock)
    })
    .ctx(|| "unlock the pty")?;
    // SAFETY: TIOCGPTPEER returns a new fd for the slave, without a path lookup.
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY,
        )
    };
    let slave = nix::errno::Errno::result(slave).ctx(|| "open the pty slave")?;
    // SAFETY: the ioctl returned a new fd nobody else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if let Some((rows, cols)) = size {
        set_size(&slave, rows, cols)?;
    }
    send_master(socket, &master)?;
    drop(master);
    become_controlled_by(slave)
}

/// Set a terminal's window size.
pub fn set_size(fd: &OwnedFd, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct from a valid pointer.
    nix::errno::Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) })
        .ctx(|| "set the terminal size")
        .map(drop)
}

/// Send the master with its name as payload (what runc's recvtty and containerd expect).
pub(crate) fn send_master(socket: RawFd, master: &OwnedFd) -> Result<()> {
    let name = b"/dev/ptmx";
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        socket,
        &[IoSlice::new(name)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .ctx(|| "send the pty master to the console socket")?;
    Ok(())
}

fn become_controlled_by(slave: OwnedFd) -> Result<()> {
    // SAFETY: TIOCSCTTY with arg 0 on a terminal fd; no memory involved.
    nix::errno::Errno::result(unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) })
        .ctx(|| "make the pty the controlling terminal")?;
    dup2_stdin(&slave).ctx(|| "dup the pty to stdin")?;
    dup2_stdout(&slave).ctx(|| "dup the pty to stdout")?;
    dup2_stderr(&slave).ctx(|| "dup the pty to stderr")?;
    Ok(())
}

/// As runc: stdin, stdout and stderr that are terminals or pipes (never /dev/null, nor a
/// caller's regular file) are given to the process's uid, so it can use and reopen them
/// (`/dev/stdout`, its pty); the group stays (devpts' `gid=5`, tty). An owner the user
/// namespace does not map (EINVAL, EPERM) leaves that fd as it is.
pub fn give_stdio_to(uid: u32) -> Result<()> {
    use std::os::fd::AsFd;
    let null = nix::sys::stat::stat("/dev/null").ok().map(|s| s.st_rdev);
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let stdio = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
    for (n, fd) in stdio.into_iter().enumerate() {
        let Ok(st) = nix::sys::stat::fstat(fd) else {
            continue;
        };
        let kind = st.st_mode & libc::S_IFMT;
        let is_char = kind == libc::S_IFCHR;
        if (is_char && Some(st.st_rdev) == null) || !(is_char || kind == libc::S_IFIFO) {
            continue;
        }
        match nix::unistd::fchown(fd, Some(Uid::from_raw(uid)), None) {
            Ok(()) | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::EPERM) => {}
            Err(e) => return Err(e).ctx(|| format!("give fd {n} to uid {uid}")),
        }
    }
    Ok(())
}
