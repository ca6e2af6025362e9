//! hull-cgroups: create a cgroup, put processes in it, limit them, freeze them, remove it.
//!
//! This crate knows nothing of containers. A caller describes *where* the cgroup is with a
//! [`CgroupConfig`] (runc's `linux.cgroupsPath` semantics, see [`new_manager`]), gets a
//! [`Manager`], and drives it. The host layout (cgroup v1, unified v2, or hybrid) is
//! detected from `/proc/self/mountinfo`; see [`current_mode`].
//!
//! Layout of the crate:
//! - `detect.rs`: parsing mountinfo and `/proc/<pid>/cgroup` into a [`Layout`];
//! - `path.rs`: resolving the configured path to one directory per hierarchy;
//! - `resources.rs`: which OCI resource fields are supported, and values shared by v1/v2;
//! - `stats.rs`: [`Stats`] (runc's `events` fields) and stat file parsers; `oom.rs`: OOM events;
//! - `v1/`: one file per controller; `v2/`: the unified hierarchy;
//! - `systemd/`: the cgroup as a transient systemd unit (D-Bus), limits then written by v1/v2;
//! - `fs.rs`: cgroupfs file helpers; `error.rs`: [`CgroupError`].

#![deny(missing_docs)]

mod detect;
mod device_access;
mod error;
mod fs;
mod oom;
mod path;
mod resources;
mod stats;
mod systemd;
mod v1;
mod v2;

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;

pub use detect::{
    current_mode, parse_mountinfo, parse_proc_cgroup, Hierarchy, Layout, Mode, ProcCgroups,
};
pub use error::CgroupError;
pub use oom::OomWatcher;
pub use stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, HugetlbStats, MemoryEntry, MemoryStats, PidsStats,
    Stats, Throttling,
};
pub use systemd::SystemdUnit;

/// Where the cgroup is, as given in a container config (runc semantics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupConfig {
    /// `linux.cgroupsPath`: absolute ("/foo/bar", from each hierarchy's mount point) or
    /// relative ("foo/bar", under the calling process's own cgroup).
    pub path: Option<String>,
    /// Used when `path` is absent: the cgroup is `<own cgroup>/<name>`. Usually the
    /// container id; must be a single path component.
    pub name: String,
}

/// One cgroup, possibly spread over several v1 hierarchies.
///
/// Methods are idempotent where that makes sense (`apply` on an existing cgroup, `destroy`
/// of a missing one). A manager holds only paths; it can be rebuilt in a later process with
/// [`load_manager`] from what [`Manager::paths`] returned.
pub trait Manager: std::fmt::Debug + Send + Sync {
    /// Creates the cgroup directories that are missing, without moving any process.
    /// On v1, cpuset directories get `cpuset.cpus`/`cpuset.mems` copied from their parent.
    /// Useful before `clone3(CLONE_INTO_CGROUP)`.
    fn create(&self) -> Result<(), CgroupError>;

    /// Creates the cgroup if needed and moves `pid` (a whole process) into it, in every v1
    /// hierarchy and the v2 one. In hybrid mode a read-only or forbidden cgroup2 tree is
    /// skipped; any other failure is an error.
    fn apply(&self, pid: i32) -> Result<(), CgroupError>;

    /// Moves `pid` (a whole process) into the existing cgroup, creating nothing and enabling
    /// no controller in any `cgroup.subtree_control` (an `exec`'d process, as runc's
    /// `EnterPid`): on v2, threaded controllers enabled in a cgroup that holds processes
    /// would make it a thread root and every domain cgroup below it invalid (EOPNOTSUPP).
    /// By default the same as [`Manager::apply`].
    fn join(&self, pid: i32) -> Result<(), CgroupError> {
        self.apply(pid)
    }

    /// Writes the resource limits, creating the cgroup first if needed (so it may be called
    /// before [`Manager::apply`]). Every field is checked first: if any set field is not
    /// supported here, nothing is written and the error names the field. Fields left unset
    /// (or 0, as in runc) are not touched.
    fn set(&self, resources: &LinuxResources) -> Result<(), CgroupError>;

    /// Every pid in the cgroup (`cgroup.procs`), in kernel order.
    fn pids(&self) -> Result<Vec<i32>, CgroupError>;

    /// Freezes every process in the cgroup and returns once the kernel reports it frozen.
    fn freeze(&self) -> Result<(), CgroupError>;

    /// Thaws the cgroup and returns once the kernel reports it thawed.
    fn thaw(&self) -> Result<(), CgroupError>;

    /// Whether the cgroup is (completely) frozen now.
    fn is_frozen(&self) -> Result<bool, CgroupError>;

    /// Resource usage now, with runc's field names (see [`Stats`]). Controllers that are
    /// not mounted or not enabled leave their part zero.
    fn stats(&self) -> Result<Stats, CgroupError>;

    /// Starts watching the cgroup for out-of-memory events (v1: an eventfd registered on
    /// `memory.oom_control`; v2: the `oom` counter of `memory.events`).
    fn oom_watcher(&self) -> Result<Box<dyn OomWatcher>, CgroupError>;

    /// Removes the cgroup directory in every hierarchy (and any child cgroups below it),
    /// retrying for about a second while it is busy. Directories already gone are fine.
    /// Parents are never removed.
    fn destroy(&self) -> Result<(), CgroupError>;

    /// Controller name (`"memory"`, `"cpu"`, `"name=systemd"`, ...; `""` for the cgroup2
    /// hierarchy) to the absolute cgroup directory. Comounted controllers share a directory.
    fn paths(&self) -> BTreeMap<String, PathBuf>;

    /// The systemd unit that owns the cgroup (see [`new_systemd_manager`]), None for a
    /// cgroup hull manages alone. A unit's cgroup exists only once [`Manager::apply`] has
    /// started it with the process, so nothing can be cloned straight into it.
    fn unit(&self) -> Option<SystemdUnit> {
        None
    }
}

/// Builds the manager for `cfg` on this host: detects the layout and resolves the cgroup
/// directory in each hierarchy (nothing is created yet). Fails if no cgroup file system is
/// mounted or the path is invalid (e.g. escapes with `..`, or names a hierarchy root).
///
/// Paths follow runc's cgroupfs driver, per hierarchy: an absolute `cfg.path` is taken from
/// the mount point; a relative one is joined under the calling process's own cgroup (from
/// `/proc/self/cgroup`); without one the cgroup is `<own cgroup>/<cfg.name>`. On v1 every
/// mounted hierarchy is used (including named ones such as `name=systemd`), and in hybrid
/// mode the cgroup2 tree too. The result depends on the caller's cgroup, so save
/// [`Manager::paths`] and use [`load_manager`] in later commands.
pub fn new_manager(cfg: &CgroupConfig) -> Result<Box<dyn Manager>, CgroupError> {
    let layout = detect::read_layout()?;
    let own = detect::read_own_cgroups()?;
    manager_for(&layout, &own, cfg)
}

/// Like [`new_manager`], with the layout and the caller's cgroups given (e.g. parsed with
/// [`parse_mountinfo`] and [`parse_proc_cgroup`]).
pub fn manager_for(
    layout: &Layout,
    own: &ProcCgroups,
    cfg: &CgroupConfig,
) -> Result<Box<dyn Manager>, CgroupError> {
    match layout.mode() {
        None => Err(CgroupError::NoCgroupFs(
            "no cgroup or cgroup2 mount in /proc/self/mountinfo".into(),
        )),
        Some(Mode::Unified) => Ok(Box::new(v2::V2Manager::new(layout, own, cfg)?)),
        Some(mode) => Ok(Box::new(v1::V1Manager::new(layout, own, cfg, mode)?)),
    }
}

/// The systemd driver (runc's `--systemd-cgroup`): `cfg.path` is a `slice:prefix:name`
/// cgroupsPath (None or empty: `system.slice:hull:<cfg.name>`, with `user`
/// `user.slice:hull:<cfg.name>`), a malformed one an error naming it. [`Manager::apply`]
/// has systemd (the system's manager, or with `user` the caller's own) start the transient
/// scope `<prefix>-<name>.scope` in the slice, with `Delegate=yes` and the pid, and waits
/// for the job; [`Manager::set`] sends the limits systemd knows as unit properties, then
/// writes all of them to the files; [`Manager::destroy`] stops the unit. A `name` ending in
/// `.slice` makes a slice unit instead, which the process joins through cgroupfs. Talks to
/// systemd already (where its cgroups are), so no systemd is an error here. The D-Bus
/// client starts no thread.
pub fn new_systemd_manager(
    cfg: &CgroupConfig,
    user: bool,
) -> Result<Box<dyn Manager>, CgroupError> {
    Ok(Box::new(systemd::SystemdManager::new(cfg, user)?))
}

/// Rebuilds the manager of a systemd `unit` whose cgroup directories are `paths`, as
/// [`Manager::unit`] and [`Manager::paths`] returned them.
pub fn load_systemd_manager(
    paths: &BTreeMap<String, PathBuf>,
    unit: &SystemdUnit,
) -> Result<Box<dyn Manager>, CgroupError> {
    let layout = detect::read_layout()?;
    Ok(Box::new(systemd::SystemdManager::load(
        &layout, paths, unit,
    )?))
}

/// Rebuilds a manager for an existing cgroup from the map [`Manager::paths`] returned
/// (e.g. saved in a state file), so later commands do not depend on their own cgroup.
/// The paths must be absolute and free of `..`.
pub fn load_manager(paths: &BTreeMap<String, PathBuf>) -> Result<Box<dyn Manager>, CgroupError> {
    let layout = detect::read_layout()?;
    load_manager_for(&layout, paths)
}

/// Like [`load_manager`], with the layout given.
pub fn load_manager_for(
    layout: &Layout,
    paths: &BTreeMap<String, PathBuf>,
) -> Result<Box<dyn Manager>, CgroupError> {
    for p in paths.values() {
        let ok = p.is_absolute()
            && p.components()
                .all(|c| !matches!(c, std::path::Component::ParentDir));
        if !ok {
            return Err(CgroupError::InvalidPath {
                path: p.display().to_string(),
                reason: "a saved cgroup path must be absolute and free of \"..\"".into(),
            });
        }
    }
    match layout.mode() {
        Some(Mode::Unified) => Ok(Box::new(v2::V2Manager::load(layout, paths)?)),
        None => Err(CgroupError::NoCgroupFs(
            "no cgroup or cgroup2 mount in /proc/self/mountinfo".into(),
        )),
        Some(mode) => Ok(Box::new(v1::V1Manager::load(layout, paths, mode))),
    }
}
