//! The container's cgroup, seen from the lifecycle: which one a new container gets, and how a
//! later command finds it again from the state record.

use std::os::fd::OwnedFd;

use hull_cgroups::{CgroupConfig, Manager};
use nix::fcntl::{open, OFlag};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources, Spec};

use super::state::Record;
use crate::error::{Context, Result};

/// The manager for a new container: `linux.cgroupsPath` if given, else `<own cgroup>/<id>`.
/// With `systemd` (`--systemd-cgroup`), the cgroup is a transient systemd unit named by a
/// `slice:prefix:name` cgroupsPath (default `system.slice:hull:<id>`), of the system's
/// manager, or of the caller's own user manager when hull runs unprivileged.
pub fn for_new(id: &str, spec: &Spec, systemd: bool) -> Result<Box<dyn Manager>> {
    let path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref());
    let cfg = CgroupConfig {
        path: path.map(|p| p.to_string_lossy().into_owned()),
        name: id.to_string(),
    };
    if systemd {
        let user = super::rootless::is_rootless();
        return Ok(hull_cgroups::new_systemd_manager(&cfg, user)?);
    }
    Ok(hull_cgroups::new_manager(&cfg)?)
}

/// The manager of an existing container, from the cgroup paths (and systemd unit) saved at
/// create time ([`Record::cgroup_paths`], [`Record::cgroup_unit`]).
pub fn of(record: &Record) -> Result<Box<dyn Manager>> {
    let paths = &record.cgroup_paths;
    if let Some(unit) = &record.cgroup_unit {
        return Ok(hull_cgroups::load_systemd_manager(paths, unit)?);
    }
    if paths.is_empty() {
        // a rootless container that runs without a cgroup
        return Ok(Box::new(super::rootless::NoCgroup));
    }
    Ok(hull_cgroups::load_manager(paths)?)
}

/// The pids of container `c`: its cgroup's, or, when it has none (rootless without a
/// delegated cgroup), the processes in its namespace
/// ([`by_namespace`](super::members::by_namespace)).
pub fn pids(c: &super::state::Container) -> Result<Vec<i32>> {
    let record = &c.record;
    if record.cgroup_unit.is_none() && record.cgroup_paths.is_empty() {
        return super::members::by_namespace(c);
    }
    Ok(of(record)?.pids()?)
}

/// `rel` as a path under the container's cgroup, read as runc joins it to the container's
/// path: `/` and `.` are the container's cgroup itself, `a/../b` is `b`; None when it climbs
/// out of the container's cgroup.
fn inside(rel: &str) -> Option<std::path::PathBuf> {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in std::path::Path::new(rel).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if out.pop() => {}
            Component::ParentDir | Component::Prefix(_) => return None,
            Component::RootDir | Component::CurDir => {}
        }
    }
    Some(out)
}

/// The manager for an `exec --cgroup [CONTROLLERS:]PATH` process: the container's cgroup with
/// PATH (inside it, existing) under it, in the hierarchies of the named controllers (comma
/// separated), or in all of them without. On a v2-only host only one PATH, without
/// controllers, is accepted (runc's rules).
pub fn for_exec(record: &Record, subs: &[String]) -> Result<Box<dyn Manager>> {
    if subs.is_empty() {
        return of(record);
    }
    if record.cgroup_unit.is_some() || record.cgroup_paths.is_empty() {
        return Err(crate::Error::Msg(
            "--cgroup: only for a container with a cgroupfs cgroup".into(),
        ));
    }
    let mut paths = record.cgroup_paths.clone();
    let unified_only = paths.len() == 1 && paths.contains_key("");
    if unified_only && (subs.len() > 1 || subs[0].contains(':')) {
        return Err(crate::Error::Msg(format!(
            "--cgroup {subs:?}: on cgroup v2 give one path, without controllers"
        )));
    }
    for sub in subs {
        let (controllers, rel) = match sub.split_once(':') {
            Some((c, rel)) => (Some(c.split(',').collect::<Vec<_>>()), rel),
            None => (None, sub.as_str()),
        };
        // runc's words, which its tests match on: "bad sub cgroup path", "unknown
        // controller", " adding pid ... no such file or directory".
        let rel = inside(rel).ok_or_else(|| {
            crate::Error::Msg(format!(
                "--cgroup {sub:?}: bad sub cgroup path: it leaves the container's cgroup"
            ))
        })?;
        if let Some(unknown) = controllers
            .iter()
            .flatten()
            .find(|c| !paths.contains_key(**c))
        {
            return Err(crate::Error::Msg(format!(
                "--cgroup {sub:?}: unknown controller {unknown}"
            )));
        }
        for (key, dir) in paths.iter_mut() {
            if controllers
                .as_ref()
                .is_some_and(|c| !c.contains(&key.as_str()))
            {
                continue;
            }
            let own = &record.cgroup_paths[key];
            let target = if rel.as_os_str().is_empty() {
                own.clone()
            } else {
                own.join(&rel)
            };
            if !target.is_dir() {
                return Err(crate::Error::Msg(format!(
                    "--cgroup {sub:?}: error adding pid to {}: no such file or directory",
                    target.display()
                )));
            }
            *dir = target;
        }
    }
    Ok(hull_cgroups::load_manager(&paths)?)
}

/// On a cgroup v2 host, create the cgroup now and open its directory, so a process can be
/// cloned straight into it (`CLONE_INTO_CGROUP`). None on v1 and hybrid hosts, and without a
/// cgroup, and for a systemd unit (made with the process): there the process joins its
/// cgroup after the clone.
pub fn clone_target(m: &dyn Manager) -> Result<Option<OwnedFd>> {
    open_unified(m, true)
}

/// Like [`clone_target`] for an `exec`'d process, whose cgroup (the container's, or a
/// sub-cgroup of it) exists already: it is opened as it is, nothing is created or enabled
/// (see [`Manager::join`]).
pub fn exec_clone_target(m: &dyn Manager) -> Result<Option<OwnedFd>> {
    open_unified(m, false)
}

fn open_unified(m: &dyn Manager, create: bool) -> Result<Option<OwnedFd>> {
    if m.unit().is_some() {
        return Ok(None);
    }
    // The manager's paths tell the layout it was made for (no need to read mountinfo
    // again): on v2 only the unified hierarchy (""), on hybrid hosts v1 hierarchies too.
    let paths = m.paths();
    let dir = match paths.get("") {
        Some(dir) if paths.len() == 1 => dir,
        _ => return Ok(None),
    };
    if create {
        m.create()?;
    }
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd = open(dir, flags, nix::sys::stat::Mode::empty())
        .ctx(|| format!("open {}", dir.display()))?;
    Ok(Some(fd))
}

/// Warn, as runc does, when a new container's cgroup already has processes (another
/// container's, given the same `cgroupsPath`, or a pre-existing cgroup's): they are not the
/// container's, and `kill --all` and `delete` leave them alone.
pub fn warn_if_not_empty(m: &dyn Manager) -> Result<()> {
    let found = m.pids()?.len();
    if found > 0 {
        tracing::warn!("container's cgroup is not empty: {found} process(es) found");
    }
    Ok(())
}

/// Refuse a cgroup that is already frozen before the container's init is put in it (a
/// `cgroupsPath` naming an existing frozen cgroup): init would never run and create would
/// wait for it forever. runc's words.
pub fn refuse_frozen(m: &dyn Manager) -> Result<()> {
    if m.is_frozen().unwrap_or(false) {
        return Err(crate::Error::Msg(
            "container's cgroup unexpectedly frozen".into(),
        ));
    }
    Ok(())
}

/// Remove those of the container's cgroup directories (one per hierarchy) that no process
/// uses any more, the deepest first; the kernel refuses the others, which stay. For a cgroup
/// that processes of others still use.
pub fn remove_unused(record: &Record) {
    let mut dirs: Vec<&std::path::PathBuf> = record.cgroup_paths.values().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs.dedup();
    for dir in dirs {
        let _ = std::fs::remove_dir(dir);
    }
}

/// Whether the container's cgroup is frozen (false when it cannot be read).
pub fn is_frozen(record: &Record) -> bool {
    of(record).and_then(|m| Ok(m.is_frozen()?)).unwrap_or(false)
}

/// Device rules every container gets after its own (runc's allowed devices): mknod of any
/// node, and use of the default devices, the console, ptmx, the ptys and tun.
const ALLOWED_DEVICES: &str = r#"[
    {"allow": true, "type": "c", "access": "m"},
    {"allow": true, "type": "b", "access": "m"},
    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
    {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
    {"allow": true, "type": "c", "major": 136, "access": "rwm"},
    {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"}
]"#;

/// The resources to write for a spec: its own, with runc's allowed devices appended after its
/// device rules. `linux.devices` adds no rule: a node the config creates is usable only as far
/// as `linux.resources.devices` allows it (runc alike), so a deny-all list keeps it denied.
pub fn resources(spec: &Spec) -> Result<Option<LinuxResources>> {
    let Some(linux) = spec.linux() else {
        return Ok(None);
    };
    let Some(mut res) = linux.resources().clone() else {
        return Ok(None);
    };
    let Some(mut rules) = res.devices().clone().filter(|r| !r.is_empty()) else {
        return Ok(Some(res));
    };
    let parse = |e: serde_json::Error| crate::Error::Msg(format!("device rules: {e}"));
    rules.extend(serde_json::from_str::<Vec<LinuxDeviceCgroup>>(ALLOWED_DEVICES).map_err(parse)?);
    res.set_devices(Some(rules));
    Ok(Some(res))
}

#[cfg(test)]
mod tests {
    use super::inside;

    #[test]
    fn sub_cgroup_paths_as_runc_joins_them() {
        assert_eq!(inside("/").unwrap().as_os_str(), "");
        assert_eq!(inside("").unwrap().as_os_str(), "");
        assert_eq!(inside("a/b").unwrap().as_os_str(), "a/b");
        assert_eq!(inside("/a/./b/../c").unwrap().as_os_str(), "a/c");
        assert!(inside("..").is_none());
        assert!(inside("a/../..").is_none());
        assert!(inside("/../x").is_none());
    }
}
