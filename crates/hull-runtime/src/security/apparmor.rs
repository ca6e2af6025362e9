//! `process.apparmorProfile`: applied on the next execve by writing `exec <profile>` to the
//! process's AppArmor attribute. Like runc, nothing is done (and nothing refused) when
//! AppArmor is not enabled on the host.

use crate::error::Result;

const ENABLED: &str = "/sys/module/apparmor/parameters/enabled";

/// Whether the host runs AppArmor (`Y` in the module's `enabled` parameter).
pub fn is_enabled() -> bool {
    std::fs::read_to_string(ENABLED).is_ok_and(|s| s.trim() == "Y")
}

/// Ask for `profile` at the next execve (the LSM-stacking path first, then the old one).
pub fn apply(profile: Option<&str>) -> Result<()> {
    let Some(profile) = profile.filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    if !is_enabled() {
        tracing::debug!("apparmor is not enabled; process.apparmorProfile {profile} ignored");
        return Ok(());
    }
    let value = format!("exec {profile}");
    let stacked = "thread-self/attr/apparmor/exec";
    let rel = if std::path::Path::new("/proc").join(stacked).exists() {
        stacked
    } else {
        "thread-self/attr/exec"
    };
    // Through the checked procfs: a file bound over the attribute must not take the write.
    let proc = crate::init::procfs::open_root()?;
    crate::init::procfs::write(&proc, rel, &value)
        .map_err(|e| crate::Error::Msg(format!("process.apparmorProfile: set {profile}: {e}")))
}
