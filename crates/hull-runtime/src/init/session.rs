//! The container's processes never share a process group or session with whoever ran hull
//! (a shell, conmon, containerd-shim): a `kill 0` in the container, or the common
//! `trap 'kill 0' EXIT`, then reaches only the container.

use nix::unistd::setsid;

use crate::error::{Context, Result};

/// Make this process the leader of a new session and of a new process group, with no
/// controlling terminal. First thing init and an exec'd process do; a terminal, when asked
/// for, is attached to this session later.
pub fn lead_new_session() -> Result<()> {
    setsid().ctx(|| "setsid").map(drop)
}
