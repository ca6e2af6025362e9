//! One request to CRIU over its RPC protocol: `criu swrk <fd>` is started with one end of a
//! `SOCK_SEQPACKET` socketpair (the kernel keeps message boundaries: one protobuf message a
//! datagram) and serves one request on it:
//!
//! ```text
//!   hull                                   criu swrk
//!    | -- criu_req {DUMP|RESTORE|...} -->   |
//!    | <-- criu_resp {NOTIFY, script} ----  |  (only with notify_scripts; an fd may ride
//!    | --- criu_req {NOTIFY, success} --->  |   along with SCM_RIGHTS: the pty master)
//!    |          ... more notifications ...  |
//!    | <-- criu_resp {type, success} -----  |  then criu exits
//! ```

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use protobuf::Message;

use super::rpc;
use super::Criu;
use crate::error::{Context, Error, Result};

/// A running `criu swrk`, waiting for its request.
pub struct Swrk {
    child: Child,
    sock: OwnedFd,
}

/// What CRIU's stdio is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio3 {
    /// /dev/null (dump: CRIU logs to its log file).
    Null,
    /// hull's own (restore: a `--shell-job` terminal and inherited pipes are hull's fds 0-2).
    Inherit,
}

impl Swrk {
    /// Start `criu swrk`. `keep` are fds (besides 0-2) CRIU must inherit, such as the image
    /// and work directories, under the same numbers. A caller without a session (a bare
    /// PID 1 shell) gets CRIU its own: CRIU looks up its process group.
    pub fn start(criu: &Criu, stdio: Stdio3, keep: &[RawFd]) -> Result<Swrk> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .ctx(|| "socketpair for criu swrk")?;
        let their_fd = theirs.as_raw_fd();
        let mut inherit: Vec<RawFd> = keep.to_vec();
        inherit.push(their_fd);
        let no_session = nix::unistd::getsid(None).is_ok_and(|s| s.as_raw() == 0);
        let mut cmd = Command::new(&criu.path);
        cmd.arg("swrk").arg(their_fd.to_string());
        if stdio == Stdio3::Null {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        }
        // SAFETY: between fork and exec only async-signal-safe calls (fcntl, setsid) on fds
        // this process owns.
        unsafe {
            cmd.pre_exec(move || {
                for fd in &inherit {
                    if libc::fcntl(*fd, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if no_session {
                    libc::setsid();
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .ctx(|| format!("start {} swrk", criu.path.display()))?;
        drop(theirs);
        Ok(Swrk { child, sock: ours })
    }

    /// CRIU's pid (restore puts it in the container's cgroup before the request).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Stop CRIU without a request (the caller failed before it could send one).
    pub fn abandon(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send `req` and serve CRIU's notifications with `on_notify(script, pid, fd)` until its
    /// answer, which is returned as is (its `success` is for the caller to judge). A failed
    /// notification is answered as such (CRIU then gives up) and its error returned.
    pub fn call(
        mut self,
        req: &rpc::Criu_req,
        mut on_notify: impl FnMut(&str, i32, Option<OwnedFd>) -> Result<()>,
    ) -> Result<rpc::Criu_resp> {
        let result = self.exchange(req, &mut on_notify);
        if result.is_err() {
            let _ = self.child.kill();
        }
        drop(self.sock);
        let _ = self.child.wait();
        result
    }

    fn exchange(
        &mut self,
        req: &rpc::Criu_req,
        on_notify: &mut impl FnMut(&str, i32, Option<OwnedFd>) -> Result<()>,
    ) -> Result<rpc::Criu_resp> {
        self.send(req)?;
        loop {
            let (resp, fd) = self.recv()?;
            if resp.type_() != rpc::Criu_req_type::NOTIFY {
                return Ok(resp);
            }
            let notify = resp.notify.get_or_default();
            let outcome = on_notify(notify.script(), notify.pid(), fd);
            let mut ack = rpc::Criu_req::new();
            ack.set_type(rpc::Criu_req_type::NOTIFY);
            ack.set_notify_success(outcome.is_ok());
            self.send(&ack)?;
            outcome?;
        }
    }

    fn send(&self, req: &rpc::Criu_req) -> Result<()> {
        let bytes = req
            .write_to_bytes()
            .map_err(|e| Error::Msg(format!("encode the CRIU request: {e}")))?;
        sendmsg::<()>(
            self.sock.as_raw_fd(),
            &[IoSlice::new(&bytes)],
            &[],
            MsgFlags::empty(),
            None,
        )
        .ctx(|| "send the request to criu swrk")?;
        Ok(())
    }

    fn recv(&mut self) -> Result<(rpc::Criu_resp, Option<OwnedFd>)> {
        let mut buf = vec![0u8; 1 << 16];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                self.sock.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .ctx(|| "read the answer of criu swrk")?;
            let mut fd = None;
            for cmsg in msg.cmsgs().ctx(|| "read the answer of criu swrk")? {
                if let ControlMessageOwned::ScmRights(fds) = cmsg {
                    // SAFETY: the kernel just installed these fds for us; each is owned once.
                    let mut owned = fds.into_iter().map(|f| unsafe { OwnedFd::from_raw_fd(f) });
                    fd = owned.next();
                }
            }
            (msg.bytes, fd)
        };
        if len == 0 {
            let status = self.child.wait().ctx(|| "wait for criu swrk")?;
            return Err(Error::Msg(format!(
                "criu swrk ended ({status}) without answering"
            )));
        }
        let resp = rpc::Criu_resp::parse_from_bytes(&buf[..len])
            .map_err(|e| Error::Msg(format!("criu swrk sent a message hull cannot read: {e}")))?;
        Ok((resp, fd))
    }
}
