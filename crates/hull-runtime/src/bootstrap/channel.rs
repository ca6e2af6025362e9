//! Typed messages between `hull` (the parent) and the container's init, over a
//! `SOCK_SEQPACKET` socketpair: the socket keeps message boundaries, so no length prefix is
//! needed, and file descriptors travel with SCM_RIGHTS.
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
//!   ◀──────────────────────────── RunRuntimeHooks    only when prestart/createRuntime exist
//!   run prestart + createRuntime hooks
//!   HooksDone ────────────────────────────▶ createContainer hooks, pivot_root, hostname,
//!                                          paths, rlimits, user, cwd
//!   ◀─────────────────────────────────────── Ready
//!   write state.json, exit                  open exec.fifo for writing (blocks until start)
//!
//!   at any step: ◀── Failed{step, error}    the parent prints it, kills init, cleans up
//! ```

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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
    /// From the parent: init is in its cgroup; go on. Carries the state JSON for hooks.
    Proceed { state: String },
    /// From init: mounts are done; run prestart and createRuntime hooks now.
    RunRuntimeHooks,
    /// From the parent: those hooks succeeded.
    HooksDone,
    /// From init: fully set up, about to block on exec.fifo.
    Ready,
    /// From init or the intermediate: a step failed.
    Failed { step: String, error: String },
}

/// One end of the socketpair.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

const MAX_MSG: usize = 64 * 1024;

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

impl Channel {
    /// Send a message, with optional file descriptors attached.
    pub fn send_with_fds(&self, msg: &Msg, fds: &[RawFd]) -> Result<()> {
        let data =
            serde_json::to_vec(msg).map_err(|e| Error::Msg(format!("encode {msg:?}: {e}")))?;
        let iov = [IoSlice::new(&data)];
        let cmsg = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &iov,
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
        let mut buf = vec![0u8; MAX_MSG];
        let mut cmsg_space = nix::cmsg_space!([RawFd; 4]);
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
        let len = got.bytes;
        if len == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..len])
            .map_err(|e| Error::Msg(format!("bad bootstrap message: {e}")))?;
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
}
