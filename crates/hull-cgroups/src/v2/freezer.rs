//! cgroup v2 freezer: `cgroup.freeze` to request, `cgroup.events` ("frozen 0/1") to confirm.

use std::path::Path;
use std::time::Duration;

use crate::error::{CgroupError, Result};
use crate::fs;

const FREEZE: &str = "cgroup.freeze";
const EVENTS: &str = "cgroup.events";
/// How long a state change may take before giving up.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Sets the frozen state of `dir` to `frozen` and waits until `cgroup.events` reports it.
/// On a failed freeze the cgroup is thawed again before the timeout error is returned.
pub(crate) fn set_frozen(dir: &Path, frozen: bool) -> Result<()> {
    if !fs::exists(dir, FREEZE) {
        return Err(CgroupError::unsupported(
            "freezer (pause/resume)",
            format!("no {FREEZE} in {} (kernel older than 5.2)", dir.display()),
        ));
    }
    let want = if frozen { "1" } else { "0" };
    fs::write(dir, FREEZE, want)?;
    let done = fs::wait_until(TIMEOUT, || Ok(is_frozen(dir)? == frozen), || Ok(()))?;
    if done {
        return Ok(());
    }
    if frozen {
        let _ = fs::write(dir, FREEZE, "0");
    }
    Err(CgroupError::Timeout {
        path: dir.join(EVENTS),
        want: format!("frozen {want}"),
    })
}

/// Whether `cgroup.events` says the cgroup is frozen.
pub(crate) fn is_frozen(dir: &Path) -> Result<bool> {
    let text = fs::read(dir, EVENTS)?;
    events_frozen(&text).ok_or_else(|| CgroupError::Parse {
        what: "frozen state",
        path: dir.join(EVENTS),
        detail: text,
    })
}

/// The `frozen` key of `cgroup.events` text, if present.
pub(crate) fn events_frozen(text: &str) -> Option<bool> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == "frozen")
        .map(|(_, v)| v.trim() == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events() {
        assert_eq!(events_frozen("populated 1\nfrozen 1\n"), Some(true));
        assert_eq!(events_frozen("populated 0\nfrozen 0\n"), Some(false));
        assert_eq!(events_frozen("populated 0\n"), None);
    }
}
