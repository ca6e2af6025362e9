//! `process.selinuxLabel` (and `linux.mountLabel`): like runc, applied only when SELinux is
//! enabled (selinuxfs mounted at /sys/fs/selinux); otherwise ignored.

use crate::error::Result;

/// Whether SELinux is enabled on the host (selinuxfs is mounted).
pub fn is_enabled() -> bool {
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split_whitespace().nth(2) == Some("selinuxfs"))
    })
}

/// Set the label the next execve gets (`/proc/thread-self/attr/exec`).
pub fn apply_exec_label(label: Option<&str>) -> Result<()> {
    let Some(label) = label.filter(|l| !l.is_empty()) else {
        return Ok(());
    };
    if !is_enabled() {
        tracing::debug!("selinux is not enabled; process.selinuxLabel {label} ignored");
        return Ok(());
    }
    // Through the checked procfs: a file bound over the attribute must not take the write.
    let proc = crate::init::procfs::open_root()?;
    crate::init::procfs::write(&proc, "thread-self/attr/exec", label)
        .map_err(|e| crate::Error::Msg(format!("process.selinuxLabel: set {label}: {e}")))
}
