//! v1 `freezer` controller: `freezer.state` FROZEN / THAWED.

use std::path::Path;
use std::time::Duration;

use crate::error::{CgroupError, Result};
use crate::fs;

const STATE: &str = "freezer.state";
/// How long a state change may take before giving up.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Requests FROZEN and waits until the kernel reports it (re-requesting while FREEZING).
/// On timeout the cgroup is thawed again and an error returned.
pub(crate) fn freeze(dir: &Path) -> Result<()> {
    if change(dir, "FROZEN")? {
        return Ok(());
    }
    let _ = change(dir, "THAWED");
    Err(timeout(dir, "FROZEN"))
}

/// Requests THAWED and waits until the kernel reports it.
pub(crate) fn thaw(dir: &Path) -> Result<()> {
    if change(dir, "THAWED")? {
        return Ok(());
    }
    Err(timeout(dir, "THAWED"))
}

/// True only when the state is FROZEN (FREEZING is not frozen yet).
pub(crate) fn is_frozen(dir: &Path) -> Result<bool> {
    Ok(fs::read(dir, STATE)? == "FROZEN")
}

fn change(dir: &Path, want: &str) -> Result<bool> {
    fs::write(dir, STATE, want)?;
    fs::wait_until(
        TIMEOUT,
        || Ok(fs::read(dir, STATE)? == want),
        || fs::write(dir, STATE, want),
    )
}

fn timeout(dir: &Path, want: &str) -> CgroupError {
    CgroupError::Timeout {
        path: dir.join(STATE),
        want: want.into(),
    }
}
