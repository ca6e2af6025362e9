//! The cgroup v1 manager (also used in hybrid mode, where the process additionally joins a
//! directory in the cgroup2 tree). One file per controller.

mod blkio;
mod cpu;
mod cpuset;
mod device_transition;
mod devices;
mod extra;
mod freezer;
mod memory;
mod memory_opts;
mod pids;
mod stats;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::detect::{Layout, ProcCgroups};
use crate::error::{CgroupError, Result};
use crate::oom::{OomWatcher, V1Oom};
use crate::stats::Stats;
use crate::{fs, path, resources, CgroupConfig, Manager, Mode};

/// Hierarchies tried, in order, to list the processes of the cgroup.
const PIDS_FROM: &[&str] = &[
    "pids",
    "freezer",
    "devices",
    "memory",
    "cpu",
    "name=systemd",
];

/// A cgroup in every mounted v1 hierarchy (plus the cgroup2 tree in hybrid mode).
#[derive(Debug, Clone)]
pub(crate) struct V1Manager {
    /// Controller (`memory`, `name=systemd`, ...) to its cgroup directory.
    dirs: BTreeMap<String, PathBuf>,
    /// Where the cpuset hierarchy is mounted, for filling cpus/mems on the way down.
    cpuset_mount: Option<PathBuf>,
    /// The cgroup2 directory (hybrid mode only).
    unified: Option<PathBuf>,
    mode: Mode,
}

impl V1Manager {
    /// Resolves the cgroup in every v1 hierarchy of `layout` (and the unified one if hybrid).
    pub(crate) fn new(
        layout: &Layout,
        own: &ProcCgroups,
        cfg: &CgroupConfig,
        mode: Mode,
    ) -> Result<Self> {
        let mut dirs = BTreeMap::new();
        for h in &layout.v1 {
            let dir = path::resolve(h, own.path_in(h), cfg)?;
            for c in h.controllers.iter().flatten() {
                dirs.insert(c.clone(), dir.clone());
            }
        }
        let unified = match (&layout.unified, mode) {
            (Some(h), Mode::Hybrid) => Some(path::resolve(h, own.path_in(h), cfg)?),
            _ => None,
        };
        Ok(V1Manager {
            dirs,
            cpuset_mount: cpuset_mount(layout),
            unified,
            mode,
        })
    }

    /// Rebuilds the manager from saved [`Manager::paths`] output.
    pub(crate) fn load(layout: &Layout, paths: &BTreeMap<String, PathBuf>, mode: Mode) -> Self {
        let mut dirs = paths.clone();
        let unified = dirs.remove("");
        V1Manager {
            dirs,
            cpuset_mount: cpuset_mount(layout),
            unified,
            mode,
        }
    }

    /// Each distinct directory once (comounted controllers share one).
    fn unique_dirs(&self) -> BTreeSet<&PathBuf> {
        self.dirs.values().collect()
    }

    /// The directory of `controller`, or an error naming the resource `field` that needs it.
    fn dir(&self, controller: &str, field: &str) -> Result<&Path> {
        self.dirs
            .get(controller)
            .map(PathBuf::as_path)
            .ok_or_else(|| {
                CgroupError::unsupported(field, format!("the {controller} cgroup is not mounted"))
            })
    }

    fn freezer_dir(&self) -> Result<&Path> {
        self.dir("freezer", "freezer (pause/resume)")
    }

    fn create_dir(&self, dir: &Path) -> Result<()> {
        match (&self.cpuset_mount, self.dirs.get("cpuset")) {
            (Some(mount), Some(cs)) if cs == dir => cpuset::ensure(mount, dir),
            _ => fs::mkdir_all(dir),
        }
    }
}

fn cpuset_mount(layout: &Layout) -> Option<PathBuf> {
    layout
        .v1
        .iter()
        .find(|h| h.controllers.as_ref().is_some_and(|c| c.contains("cpuset")))
        .map(|h| h.mount_point.clone())
}

/// True if a failure in the hybrid cgroup2 tree only means it is not writable for us.
fn not_writable(e: &CgroupError) -> bool {
    let errno = match e {
        CgroupError::Io { source, .. } => source.raw_os_error(),
        _ => None,
    };
    matches!(errno, Some(libc::EACCES | libc::EPERM | libc::EROFS))
}

/// Runs `f` on the hybrid cgroup2 directory, tolerating "not writable" failures.
fn on_unified(dir: Option<&PathBuf>, f: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    match dir.map(|d| f(d)) {
        Some(Err(e)) if !not_writable(&e) => Err(e),
        _ => Ok(()),
    }
}

impl Manager for V1Manager {
    fn create(&self) -> Result<()> {
        for dir in self.unique_dirs() {
            self.create_dir(dir)?;
        }
        on_unified(self.unified.as_ref(), fs::mkdir_all)
    }

    fn apply(&self, pid: i32) -> Result<()> {
        self.create()?;
        self.join(pid)
    }

    fn join(&self, pid: i32) -> Result<()> {
        for dir in self.unique_dirs() {
            fs::join(dir, pid)?;
        }
        on_unified(self.unified.as_ref(), |d| fs::join(d, pid))
    }

    fn set(&self, res: &LinuxResources) -> Result<()> {
        resources::check_supported(res, self.mode)?;
        let device_rules = devices::rules(res.devices().as_deref().unwrap_or_default())?;
        self.create()?;
        if let Some(cpu) = res.cpu() {
            cpuset::set(|| self.dir("cpuset", "linux.resources.cpu.cpus"), cpu)?;
        }
        if !device_rules.is_empty() {
            devices::set(
                self.dir("devices", "linux.resources.devices")?,
                &device_rules,
            )?;
        }
        if let Some(m) = res.memory() {
            memory::set(|| self.dir("memory", "linux.resources.memory"), m)?;
        }
        if let Some(cpu) = res.cpu() {
            cpu::set(|| self.dir("cpu", "linux.resources.cpu"), cpu)?;
        }
        if let Some(p) = res.pids() {
            pids::set(|| self.dir("pids", "linux.resources.pids"), p.limit())?;
        }
        if let Some(b) = res.block_io() {
            blkio::set(|| self.dir("blkio", "linux.resources.blockIO"), b)?;
        }
        extra::set(&|c, f| self.dir(c, f), res)
    }

    fn stats(&self) -> Result<Stats> {
        stats::collect(&|c| self.dirs.get(c).map(PathBuf::as_path))
    }

    fn oom_watcher(&self) -> Result<Box<dyn OomWatcher>> {
        let dir = self.dir("memory", "oom events")?;
        Ok(Box::new(V1Oom::new(dir)?))
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let preferred = PIDS_FROM.iter().find_map(|c| self.dirs.get(*c));
        let dir = preferred
            .or_else(|| self.dirs.values().next())
            .or(self.unified.as_ref())
            .ok_or_else(|| CgroupError::NoCgroupFs("no hierarchy to list pids from".into()))?;
        fs::procs(dir)
    }

    fn freeze(&self) -> Result<()> {
        freezer::freeze(self.freezer_dir()?)
    }

    fn thaw(&self) -> Result<()> {
        freezer::thaw(self.freezer_dir()?)
    }

    fn is_frozen(&self) -> Result<bool> {
        freezer::is_frozen(self.freezer_dir()?)
    }

    fn destroy(&self) -> Result<()> {
        let mut all: Vec<&PathBuf> = self.unique_dirs().into_iter().collect();
        all.extend(self.unified.as_ref());
        all.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        let mut first_err = None;
        for dir in all {
            if let Err(e) = fs::remove_tree(dir) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn paths(&self) -> BTreeMap<String, PathBuf> {
        let mut out = self.dirs.clone();
        if let Some(u) = &self.unified {
            out.insert(String::new(), u.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests;
