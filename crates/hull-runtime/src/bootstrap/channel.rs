//! Typed messages between `hull` (the parent) and the container's init, over a
//! `SOCK_SEQPACKET` socketpair: the socket keeps message boundaries, so no length prefix is
//! needed, and file descriptors travel with SCM_RIGHTS.
//!
//! A datagram is one tag byte and the message's JSON. A message too big for one datagram
//! (the state with 256 KiB of annotations, an error quoting a huge config string) travels in
//! a sealed memfd instead, passed as the last descriptor of a datagram that carries only the
//! tag: no message is limited by the socket's buffer size.
//!
//! The exchange during `create`:
//!
//! ```text
//!   parent (hull create)                    init (in the new namespaces)
//!   clone3 ───────────────────────────────▶ (waits)
//!   ◀─────────────────────────────── InitPid{pid}    only when an intermediate process
//!                                                    clones init (namespaces to join,
//!                                                    or time offsets), from it
//!   write uid_map/gid_map (new user namespace)
//!   put init in the cgroup, set limits
//!   Proceed{state} ───────────────────────▶ loopback up, mounts, devices
//!   ◀────────────────────── OpenMountSource{index}   only for a source init cannot take
//!   join init's mount namespace, open it             (user namespace, id-mapped mount)
//!   MountSource{index} + fd / NoMountSource ──▶ mount from the fd, go on
//!   ◀──────────────────────────── RunRuntimeHooks    only when prestart/createRuntime exist
//!   run prestart + createRuntime hooks
//!   HooksDone ────────────────────────────▶ createContainer hooks, pivot_root, hostname,
//!                                          paths, rlimits, user, cwd
//!   ◀─────────────────────────────────────── Ready   (from here init outlives hull)
//!   write state.json
//!   Created ──────────────────────────────▶ open exec.fifo for writing (blocks until start)
//!   exit                                    (EOF instead of Created: hull died; init exits)
//!
//!   at any step: ◀── Failed{step, error}    the parent prints it, kills init, cleans up
//! ```
//!
//! Each process keeps only its own end: a child closes the parent's end first thing after
//! the clone, so it sees EOF (and, until `Ready`, PR_SET_PDEATHSIG's SIGKILL) if hull dies.

use std::fs::File;
use std::io::{IoSlice, IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

/// One message of the bootstrap exchange (see the module comment for the order).
#[derive(Debug, Serialize, Deserialize)]
pub enum Msg {
    /// From the intermediate process: init's pid in the parent's pid namespace.
    InitPid { pid: i32 },
    /// From init, during mounts: take the source of `mounts[index]` for me, in my mount
    /// namespace as it is now (see `bootstrap::mount_sources`).
    OpenMountSource { index: usize },
    /// From the parent, with one fd: the source of `mounts[index]` (an `O_PATH` fd, or a
    /// detached id-mapped copy).
    MountSource { index: usize },
    /// From the parent: it could not take that source; init reports its own error.
    NoMountSource,
    /// From the parent: init is in its cgroup; go on. Carries the state JSON for hooks.
    Proceed { state: String },
    /// From init: mounts are done; run prestart and createRuntime hooks now.
    RunRuntimeHooks,
    /// From the parent: those hooks succeeded.
    HooksDone,
    /// From init: fully set up; it no longer dies with the parent.
    Ready,
    /// From the parent: `state.json` is written; block on exec.fifo now.
    Created,
    /// From init or the intermediate: a step failed.
    Failed { step: String, error: String },
}

/// One end of the socketpair.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// The largest message JSON sent inline; a bigger one goes in a memfd.
const INLINE_MAX: usize = 16 * 1024;
/// Tag of a datagram whose JSON follows the tag.
const INLINE: u8 = b'i';
/// Tag of a datagram whose JSON is in the memfd passed as its last descriptor.
const IN_MEMFD: u8 = b'm';
/// The most descriptors one message carries (with its memfd).
const MAX_FDS: usize = 8;

/// A connected pair: `(parent end, child end)`. Both ends are close-on-exec.
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "socketpair for the bootstrap channel")?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Channel {
    /// Send a message, with optional file descriptors attached.
    pub fn send_with_fds(&self, msg: &Msg, fds: &[RawFd]) -> Result<()> {
        let data =
            serde_json::to_vec(msg).map_err(|e| Error::Msg(format!("encode {msg:?}: {e}")))?;
        if data.len() <= INLINE_MAX {
            let tag = [INLINE];
            return self.send_datagram(&[IoSlice::new(&tag), IoSlice::new(&data)], fds);
        }
        let memfd = sealed_memfd(&data)?;
        let mut all = fds.to_vec();
        all.push(memfd.as_raw_fd());
        self.send_datagram(&[IoSlice::new(&[IN_MEMFD])], &all)
    }

    fn send_datagram(&self, iov: &[IoSlice], fds: &[RawFd]) -> Result<()> {
        let cmsg = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            iov,
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .ctx(|| "send on the bootstrap channel")?;
        Ok(())
    }

    /// Send a message without file descriptors.
    pub fn send(&self, msg: &Msg) -> Result<()> {
        self.send_with_fds(msg, &[])
    }

    /// Receive one message and any file descriptors sent with it.
    /// `Ok(None)` means the other side closed the channel (it exited).
    pub fn recv_with_fds(&self) -> Result<Option<(Msg, Vec<OwnedFd>)>> {
        let mut buf = vec![0u8; 1 + INLINE_MAX];
        let mut cmsg_space = nix::cmsg_space!([RawFd; MAX_FDS]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let got = recvmsg::<()>(
            self.fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .ctx(|| "receive on the bootstrap channel")?;
        let mut fds = Vec::new();
        for cmsg in got.cmsgs().ctx(|| "read control messages")? {
            if let ControlMessageOwned::ScmRights(raw) = cmsg {
                // SAFETY: the kernel just installed these descriptors for us; we own them.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        if got
            .flags
            .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC)
        {
            return Err(Error::Msg(
                "bad bootstrap message: truncated datagram".into(),
            ));
        }
        let len = got.bytes;
        let msg = match buf[..len].split_first() {
            None => return Ok(None),
            Some((&INLINE, json)) => decode(json)?,
            Some((&IN_MEMFD, [])) => {
                let memfd = fds.pop().ok_or_else(|| {
                    Error::Msg("bad bootstrap message: its memfd is missing".into())
                })?;
                decode(&read_memfd(memfd)?)?
            }
            Some((tag, _)) => {
                return Err(Error::Msg(format!(
                    "bad bootstrap message: unknown tag {tag:#x}"
                )))
            }
        };
        Ok(Some((msg, fds)))
    }

    /// Receive one message; `None` when the peer has gone.
    pub fn recv(&self) -> Result<Option<Msg>> {
        Ok(self.recv_with_fds()?.map(|(m, _)| m))
    }

    /// Report a failed step to the parent (best effort: the parent may be gone).
    pub fn fail(&self, step: &str, error: &dyn std::fmt::Display) {
        let _ = self.send(&Msg::Failed {
            step: step.into(),
            error: error.to_string(),
        });
    }
}

fn decode(json: &[u8]) -> Result<Msg> {
    serde_json::from_slice(json).map_err(|e| Error::Msg(format!("bad bootstrap message: {e}")))
}

/// A memfd holding `data`, sealed so that nobody can change it any more.
fn sealed_memfd(data: &[u8]) -> Result<OwnedFd> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create reads a NUL-terminated name and returns a new fd or -1.
    let fd = unsafe { libc::memfd_create(c"hull-bootstrap".as_ptr(), flags) };
    let fd = nix::errno::Errno::result(fd).ctx(|| "memfd for a bootstrap message")?;
    // SAFETY: memfd_create returned a new fd that nobody else owns.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.write_all(data)
        .ctx(|| "write a bootstrap message to its memfd")?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS only changes the seals of the memfd we own.
    nix::errno::Errno::result(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) })
        .ctx(|| "seal a bootstrap message's memfd")?;
    Ok(file.into())
}

/// The whole content of a memfd received with a message.
fn read_memfd(memfd: OwnedFd) -> Result<Vec<u8>> {
    let file = File::from(memfd);
    let len = file
        .metadata()
        .ctx(|| "stat a bootstrap message's memfd")?
        .len();
    let mut data = vec![0u8; len as usize];
    file.read_exact_at(&mut data, 0)
        .ctx(|| "read a bootstrap message's memfd")?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_boundaries() {
        let (a, b) = pair().unwrap();
        a.send(&Msg::InitPid { pid: 7 }).unwrap();
        a.send(&Msg::Failed {
            step: "mounts".into(),
            error: "boom".into(),
        })
        .unwrap();
        assert!(matches!(b.recv().unwrap(), Some(Msg::InitPid { pid: 7 })));
        assert!(matches!(b.recv().unwrap(), Some(Msg::Failed { step, .. }) if step == "mounts"));
        drop(a);
        assert!(b.recv().unwrap().is_none());
    }

    #[test]
    fn messages_bigger_than_a_datagram_travel_in_a_memfd_with_the_other_fds() {
        let (a, b) = pair().unwrap();
        let state = "x".repeat(4 << 20);
        let (keep, _) = pair().unwrap();
        a.send_with_fds(
            &Msg::Proceed {
                state: state.clone(),
            },
            &[keep.fd.as_raw_fd()],
        )
        .unwrap();
        a.send(&Msg::Ready).unwrap();
        let (msg, fds) = b.recv_with_fds().unwrap().unwrap();
        assert!(matches!(msg, Msg::Proceed { state: s } if s == state));
        assert_eq!(fds.len(), 1, "only the fd the sender attached");
        assert!(matches!(b.recv().unwrap(), Some(Msg::Ready)));
    }
}
