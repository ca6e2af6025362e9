//! `process.noNewPrivileges`.

use crate::error::{Context, Result};

/// Set PR_SET_NO_NEW_PRIVS: execve can no longer grant privileges (setuid bits, file caps).
pub fn set_no_new_privs() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    nix::errno::Errno::result(r)
        .ctx(|| "prctl(PR_SET_NO_NEW_PRIVS)")
        .map(drop)
}
