//! What changes when hull runs rootless: who counts as rootless (`--rootless`), how an
//! unprivileged caller maps ids, and the cgroup, used only when the caller may write to it (a
//! delegated subtree) and otherwise skipped as runc does, with an error when the config asks
//! for limits that could then not be applied.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hull_cgroups::{CgroupError, Manager, OomWatcher, Stats};
use oci_spec::runtime::{LinuxIdMapping, Spec};

use super::state_root::may_create;
use crate::error::{Error, Result};

/// True when hull runs without root privileges (euid ≠ 0): ids beyond its own are mapped
/// through `newuidmap`/`newgidmap`.
pub fn is_rootless() -> bool {
    !nix::unistd::geteuid().is_root()
}

/// True when this process is in the initial user namespace (its uid map is the identity of
/// all 2^32-1 ids), as runc's `RunningInUserNS` tells; true too when the map cannot be read.
pub fn in_initial_user_namespace() -> bool {
    let Ok(map) = crate::kernel_text::read("/proc/self/uid_map") else {
        return true;
    };
    let lines: Vec<Vec<&str>> = map
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    matches!(lines.as_slice(), [l] if l.as_slice() == ["0", "0", "4294967295"])
}

/// `--rootless`, with runc's meaning: whether a cgroup that cannot be made is skipped
/// (true) or fatal (false); `auto` decides from who runs hull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RootlessMode {
    /// Rootless when euid ≠ 0, or euid 0 in a user namespace that is not the initial one
    /// (whose root may not own the host's cgroups).
    #[default]
    Auto,
    /// Always rootless.
    True,
    /// Never rootless: a cgroup that cannot be made fails the container.
    False,
}

impl RootlessMode {
    /// Parses `auto` or a boolean as runc does (`true`/`false`, `1`/`0`, `t`/`f`, any case
    /// of `true`/`false`); the error names the flag and the value.
    pub fn parse(value: &str) -> std::result::Result<RootlessMode, String> {
        match value {
            "auto" => Ok(RootlessMode::Auto),
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(RootlessMode::True),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(RootlessMode::False),
            _ => Err(format!(
                "--rootless: {value:?} is not one of auto, true, false"
            )),
        }
    }

    /// Whether the container's cgroup is optional (runc's rootless cgroup manager).
    pub fn cgroups_optional(self) -> bool {
        match self {
            RootlessMode::True => true,
            RootlessMode::False => false,
            RootlessMode::Auto => is_rootless() || !in_initial_user_namespace(),
        }
    }
}

/// Write the id maps of `pid`'s new user namespace as an unprivileged user. A map of the
/// caller's own uid and gid alone is written directly (with setgroups denied, as the kernel
/// requires); anything wider goes through the setuid helpers `newuidmap`/`newgidmap`, which
/// check the ranges against `/etc/subuid` and `/etc/subgid`.
pub fn write_maps(pid: i32, uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<()> {
    let own = |maps: &[LinuxIdMapping], id: u32| matches!(maps, [m] if m.host_id() == id && m.size() == 1);
    let (euid, egid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    if own(uid, euid.as_raw()) && own(gid, egid.as_raw()) {
        return crate::bootstrap::idmap::write_maps(pid, uid, gid, true);
    }
    run_helper("newgidmap", "linux.gidMappings", pid, gid)?;
    run_helper("newuidmap", "linux.uidMappings", pid, uid)
}

/// `new{u,g}idmap <pid> <containerID> <hostID> <size>...`, its error as one line.
fn run_helper(helper: &str, field: &str, pid: i32, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut cmd = std::process::Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd.output().map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::NotFound {
            "not found (install the uidmap package, or map only your own id)".to_string()
        } else {
            e.to_string()
        };
        Error::Msg(format!(
            "{field}: rootless mapping of more than uid/gid {}/{} needs {helper}: {why}",
            nix::unistd::geteuid(),
            nix::unistd::getegid()
        ))
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::Msg(format!(
            "{field}: {helper} failed ({}): {why} (is the range in /etc/sub{}id?)",
            out.status,
            if helper == "newuidmap" { "u" } else { "g" }
        )));
    }
    Ok(())
}

/// The cgroup of a rootless container: `wanted` when the caller can create (or already owns)
/// its directory in every hierarchy, else [`NoCgroup`], with a warning. Without a cgroup,
/// limits in `linux.resources` (device rules aside, which a rootless container cannot need)
/// are an error, as in runc ("cannot set … limit: container could not join or create
/// cgroup").
pub fn cgroup_or_none(wanted: Box<dyn Manager>, spec: &Spec) -> Result<Box<dyn Manager>> {
    let paths = wanted.paths();
    let writable = !paths.is_empty() && paths.values().all(|p| may_create(p));
    if writable {
        return Ok(wanted);
    }
    if let Some(field) = limit_field(spec) {
        return Err(Error::Msg(format!(
            "linux.resources.{field}: cannot set the limit: rootless and the cgroup {} is not \
             writable (delegate a cgroup to uid {}, or remove the limit)",
            paths
                .get(field.as_str())
                .or_else(|| paths.values().next())
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            nix::unistd::geteuid()
        )));
    }
    let denied = paths
        .values()
        .find(|p| !may_create(p))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(none found)".into());
    tracing::warn!(
        "rootless: cannot create the cgroup {denied} as uid {}: running without a cgroup \
         (no limits, pause or stats; delegate a cgroup subtree to use one)",
        nix::unistd::geteuid()
    );
    Ok(Box::new(NoCgroup))
}

/// The first resource field (other than `devices`) the spec sets, if any.
fn limit_field(spec: &Spec) -> Option<String> {
    let res = spec.linux().as_ref()?.resources().as_ref()?;
    let value = serde_json::to_value(res).ok()?;
    value.as_object()?.iter().find_map(|(k, v)| {
        let empty = v.is_null()
            || v.as_object().is_some_and(|o| o.is_empty())
            || v.as_array().is_some_and(|a| a.is_empty());
        (k != "devices" && !empty).then(|| k.clone())
    })
}

/// The cgroup of a container that has none (rootless, cgroup not writable): nothing to
/// create or remove, no pids known from it, and no pause or stats.
#[derive(Debug)]
pub struct NoCgroup;

fn unsupported(what: &str) -> CgroupError {
    CgroupError::Unsupported {
        field: what.into(),
        reason: "the container has no cgroup (rootless, and no writable cgroup was found)".into(),
    }
}

impl Manager for NoCgroup {
    fn create(&self) -> std::result::Result<(), CgroupError> {
        Ok(())
    }
    fn apply(&self, _pid: i32) -> std::result::Result<(), CgroupError> {
        Ok(())
    }
    fn set(
        &self,
        _resources: &oci_spec::runtime::LinuxResources,
    ) -> std::result::Result<(), CgroupError> {
        Ok(())
    }
    fn pids(&self) -> std::result::Result<Vec<i32>, CgroupError> {
        Ok(Vec::new())
    }
    fn freeze(&self) -> std::result::Result<(), CgroupError> {
        Err(unsupported("pause"))
    }
    fn thaw(&self) -> std::result::Result<(), CgroupError> {
        Err(unsupported("resume"))
    }
    fn is_frozen(&self) -> std::result::Result<bool, CgroupError> {
        Ok(false)
    }
    fn stats(&self) -> std::result::Result<Stats, CgroupError> {
        Err(unsupported("stats"))
    }
    fn oom_watcher(&self) -> std::result::Result<Box<dyn OomWatcher>, CgroupError> {
        Err(unsupported("oom events"))
    }
    fn destroy(&self) -> std::result::Result<(), CgroupError> {
        Ok(())
    }
    fn paths(&self) -> BTreeMap<String, PathBuf> {
        BTreeMap::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootless_flag_values_are_runcs() {
        assert_eq!(RootlessMode::parse("auto"), Ok(RootlessMode::Auto));
        for v in ["true", "1", "t", "TRUE", "True"] {
            assert_eq!(RootlessMode::parse(v), Ok(RootlessMode::True), "{v}");
        }
        for v in ["false", "0", "f", "FALSE", "False"] {
            assert_eq!(RootlessMode::parse(v), Ok(RootlessMode::False), "{v}");
        }
        let err = RootlessMode::parse("yes").unwrap_err();
        assert!(err.contains("--rootless") && err.contains("yes"), "{err}");
        assert!(RootlessMode::True.cgroups_optional());
        assert!(!RootlessMode::False.cgroups_optional());
    }

    #[test]
    fn limits_other_than_devices_are_found() {
        let spec = |res: serde_json::Value| -> Spec {
            serde_json::from_value(serde_json::json!({
                "ociVersion": "1.0.2", "linux": {"resources": res}
            }))
            .unwrap()
        };
        assert_eq!(
            limit_field(&spec(
                serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]})
            )),
            None
        );
        assert_eq!(
            limit_field(&spec(serde_json::json!({"memory": {"limit": 1048576}}))),
            Some("memory".into())
        );
    }
}
