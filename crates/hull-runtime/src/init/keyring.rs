//! A fresh session keyring for the container, so it does not share the host's keys.

use std::ffi::CString;

use crate::error::{Context, Error, Result};

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;

/// Join a new session keyring named `name`. A kernel without keyrings (ENOSYS) is not an error.
pub fn join_session(name: &str) -> Result<()> {
    let cname = CString::new(name).map_err(|_| Error::Msg(format!("keyring name {name:?}")))?;
    // SAFETY: keyctl(JOIN_SESSION_KEYRING) reads a NUL-terminated name.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            cname.as_ptr(),
        )
    };
    match nix::errno::Errno::result(r) {
        Err(nix::errno::Errno::ENOSYS) | Ok(_) => Ok(()),
        Err(e) => Err(e).ctx(|| format!("join session keyring {name}")),
    }
}
