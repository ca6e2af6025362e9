//! Keeping hull's own processes inside the container out of the container's reach until they
//! execve the user's program (CVE-2016-9962): a non-dumpable process cannot be ptraced, and
//! its `/proc/<pid>/fd`, `environ`, `mem` and `exe` cannot be opened by the container's
//! processes, which lack CAP_SYS_PTRACE. The kernel makes the program dumpable again at
//! execve (unless it is setuid), so nothing of this reaches the user's process.

use crate::error::{Context, Result};

/// Mark this process non-dumpable (PR_SET_DUMPABLE 0).
pub fn forbid() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    nix::errno::Errno::result(r)
        .ctx(|| "prctl(PR_SET_DUMPABLE, 0)")
        .map(drop)
}
