//! The cgroup v2 (unified-only host) manager: one directory in the cgroup2 tree.

mod controllers;
mod devices;
mod freezer;
pub(crate) mod plan;
mod stats;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::detect::{Layout, ProcCgroups};
use crate::error::{CgroupError, Result};
use crate::oom::{OomWatcher, V2Oom};
use crate::stats::{read_u64, Stats};
use crate::{fs, path, resources, CgroupConfig, Manager, Mode};
use plan::{Value, Write};

/// A cgroup in the unified hierarchy.
#[derive(Debug, Clone)]
pub(crate) struct V2Manager {
    /// Where cgroup2 is mounted (ancestors are walked from here).
    mount: PathBuf,
    /// The cgroup directory.
    dir: PathBuf,
}

fn no_unified() -> CgroupError {
    CgroupError::NoCgroupFs("no cgroup2 mount in /proc/self/mountinfo".into())
}

impl V2Manager {
    /// Resolves the cgroup in the cgroup2 hierarchy of `layout`.
    pub(crate) fn new(layout: &Layout, own: &ProcCgroups, cfg: &CgroupConfig) -> Result<Self> {
        let h = layout.unified.as_ref().ok_or_else(no_unified)?;
        let base = path::v2_base(h, own.path_in(h));
        Ok(V2Manager {
            mount: h.mount_point.clone(),
            dir: path::resolve(h, base.as_deref(), cfg)?,
        })
    }

    /// Rebuilds the manager from saved [`Manager::paths`] output (the `""` entry).
    pub(crate) fn load(layout: &Layout, paths: &BTreeMap<String, PathBuf>) -> Result<Self> {
        let h = layout.unified.as_ref().ok_or_else(no_unified)?;
        let dir = paths.get("").ok_or_else(|| CgroupError::InvalidPath {
            path: format!("{paths:?}"),
            reason: "no \"\" (unified) entry in the saved cgroup paths".into(),
        })?;
        Ok(V2Manager {
            mount: h.mount_point.clone(),
            dir: dir.clone(),
        })
    }

    /// Fails naming the field of the first write whose controller `dir` does not have.
    fn check_available(&self, writes: &[Write]) -> Result<()> {
        let avail = controllers::available(&self.dir)?;
        match writes
            .iter()
            .find(|w| !w.controller.is_empty() && !avail.contains(&w.controller))
        {
            None => Ok(()),
            Some(w) => Err(CgroupError::unsupported(
                &w.field,
                format!(
                    "the {} controller is not available in {}",
                    w.controller,
                    self.dir.display()
                ),
            )),
        }
    }
}

/// Performs one planned write, resolving the values that depend on the live cgroup.
fn execute(dir: &Path, w: &Write) -> Result<()> {
    match &w.value {
        Value::Plain(v) => fs::write(dir, &w.file, v),
        Value::CpuPeriodOnly(p) => {
            let current = fs::read(dir, "cpu.max")?;
            let quota = current.split_whitespace().next().unwrap_or("max");
            fs::write(dir, "cpu.max", &format!("{quota} {p}"))
        }
        Value::IoWeight(weight) if fs::exists(dir, "io.bfq.weight") => {
            fs::write(dir, "io.bfq.weight", &weight.to_string())
        }
        Value::IoWeight(weight) => fs::write(
            dir,
            "io.weight",
            &plan::blkio_to_io_weight(*weight).to_string(),
        ),
        Value::IfExists(v) if fs::exists(dir, &w.file) => fs::write(dir, &w.file, v),
        Value::IfExists(_) => Ok(()),
        Value::MaxChecked(limit) => {
            let usage = read_u64(dir, "memory.current")?;
            if usage > *limit {
                return Err(CgroupError::invalid(
                    &w.field,
                    format!(
                        "{limit} is below the current usage of {usage} bytes (checkBeforeUpdate)"
                    ),
                ));
            }
            fs::write(dir, &w.file, &limit.to_string())
        }
    }
}

impl Manager for V2Manager {
    fn create(&self) -> Result<()> {
        fs::mkdir_all(&self.dir)?;
        // As runc does: every available controller, so usage is accounted (events --stats)
        // even for a container without limits. Best effort; `set` reports what it needs.
        controllers::enable_all(&self.mount, &self.dir);
        Ok(())
    }

    fn apply(&self, pid: i32) -> Result<()> {
        self.create()?;
        fs::join(&self.dir, pid)
    }

    fn join(&self, pid: i32) -> Result<()> {
        fs::join(&self.dir, pid)
    }

    fn set(&self, res: &LinuxResources) -> Result<()> {
        resources::check_supported(res, Mode::Unified)?;
        let writes = plan::plan(res)?;
        let devices = match res.devices() {
            Some(list) if !list.is_empty() => Some(devices::compile(list)?),
            _ => None,
        };
        if writes.is_empty() && devices.is_none() {
            return Ok(());
        }
        self.create()?;
        if !writes.is_empty() {
            let needed: BTreeSet<&str> = writes
                .iter()
                .map(|w| w.controller.as_str())
                .filter(|c| !c.is_empty())
                .collect();
            controllers::enable(&self.mount, &self.dir, &needed)?;
            self.check_available(&writes)?;
            writes.iter().try_for_each(|w| {
                // a refused write (unknown file, value out of range) names its spec field
                execute(&self.dir, w).map_err(|e| match e {
                    CgroupError::Io { .. } => CgroupError::invalid(&w.field, e.to_string()),
                    e => e,
                })
            })?;
        }
        match &devices {
            Some(d) => devices::install(&self.dir, d),
            None => Ok(()),
        }
    }

    fn pids(&self) -> Result<Vec<i32>> {
        fs::procs(&self.dir)
    }

    fn freeze(&self) -> Result<()> {
        freezer::set_frozen(&self.dir, true)
    }

    fn thaw(&self) -> Result<()> {
        freezer::set_frozen(&self.dir, false)
    }

    fn is_frozen(&self) -> Result<bool> {
        freezer::is_frozen(&self.dir)
    }

    fn stats(&self) -> Result<Stats> {
        stats::collect(&self.dir)
    }

    fn oom_watcher(&self) -> Result<Box<dyn OomWatcher>> {
        Ok(Box::new(V2Oom::new(&self.dir)?))
    }

    fn destroy(&self) -> Result<()> {
        fs::remove_tree(&self.dir)
    }

    fn paths(&self) -> BTreeMap<String, PathBuf> {
        BTreeMap::from([(String::new(), self.dir.clone())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{parse_mountinfo, parse_proc_cgroup};
    use crate::fs::tests::TempDir;
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxPidsBuilder, LinuxResourcesBuilder};

    const CORE: &[&str] = &["cgroup.controllers", "cgroup.subtree_control"];

    fn manager(t: &TempDir) -> V2Manager {
        let text = format!("1 0 0:1 / {} rw - cgroup2 cgroup2 rw\n", t.0.display());
        // the caller sits in /user/runner: containers go beside it, under /user
        let own = parse_proc_cgroup("0::/user/runner\n").unwrap();
        let cfg = CgroupConfig {
            path: None,
            name: "t1".into(),
        };
        V2Manager::new(&parse_mountinfo(&text).unwrap(), &own, &cfg).unwrap()
    }

    fn put(dir: &Path, file: &str, text: &str) {
        std::fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn set_enables_controllers_and_writes_converted_values() {
        let t = TempDir::new("v2set");
        let m = manager(&t);
        assert_eq!(m.paths()[""], t.0.join("user/t1"));
        for d in ["", "user"] {
            let d = t.files(d, CORE);
            put(&d, "cgroup.controllers", "cpu pids\n");
        }
        let leaf = t.files(
            "user/t1",
            &["cgroup.controllers", "cpu.weight", "cpu.max", "pids.max"],
        );
        put(&leaf, "cgroup.controllers", "cpu pids\n");
        let res = LinuxResourcesBuilder::default()
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(1024u64)
                    .quota(-1)
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(-1).build().unwrap())
            .build()
            .unwrap();
        m.set(&res).unwrap();
        assert_eq!(fs::read(&leaf, "cpu.weight").unwrap(), "39");
        assert_eq!(fs::read(&leaf, "cpu.max").unwrap(), "max");
        assert_eq!(fs::read(&leaf, "pids.max").unwrap(), "max");
        assert_eq!(
            fs::read(&t.0.join("user"), "cgroup.subtree_control").unwrap(),
            "+pids"
        );
    }

    #[test]
    fn missing_controller_is_named() {
        let t = TempDir::new("v2missing");
        let m = manager(&t);
        t.files("", CORE);
        t.files("user", CORE);
        t.files("user/t1", &["cgroup.controllers"]);
        let res = LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(5).build().unwrap())
            .build()
            .unwrap();
        let err = m.set(&res).unwrap_err().to_string();
        assert!(err.contains("linux.resources.pids.limit"), "{err}");
        assert!(err.contains("pids controller is not available"), "{err}");
    }

    #[test]
    fn load_needs_the_unified_entry() {
        let t = TempDir::new("v2load");
        let text = format!("1 0 0:1 / {} rw - cgroup2 cgroup2 rw\n", t.0.display());
        let layout = parse_mountinfo(&text).unwrap();
        assert!(V2Manager::load(&layout, &BTreeMap::new()).is_err());
        let m = manager(&t);
        assert_eq!(
            V2Manager::load(&layout, &m.paths()).unwrap().paths(),
            m.paths()
        );
    }

    #[test]
    fn bad_device_rules_fail_before_anything_is_created() {
        let t = TempDir::new("v2devices");
        let m = manager(&t);
        let bad = oci_spec::runtime::LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(oci_spec::runtime::LinuxDeviceType::C)
            .access("x")
            .build()
            .unwrap();
        let res = LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(5).build().unwrap())
            .devices(vec![bad])
            .build()
            .unwrap();
        let err = m.set(&res).unwrap_err().to_string();
        assert!(err.contains("linux.resources.devices[0].access"), "{err}");
        assert!(!m.paths()[""].exists());
    }

    #[test]
    fn freeze_without_kernel_support_is_unsupported() {
        let t = TempDir::new("v2freeze");
        let m = manager(&t);
        t.files("user/t1", &[]);
        assert!(matches!(m.freeze(), Err(CgroupError::Unsupported { .. })));
    }
}
