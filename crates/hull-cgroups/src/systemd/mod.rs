//! The systemd driver: the cgroup is a transient unit that systemd makes and owns.
//!
//! `apply` asks systemd (`StartTransientUnit`, see `dbus.rs`) for a scope `<prefix>-<name>.scope`
//! in its slice with `Delegate=yes` and the process in `PIDs`, and waits for the job; `set`
//! sends the limits systemd knows as unit properties (`properties.rs`, `devices.rs`), so a
//! later daemon-reload keeps them, then writes every limit to the cgroup files through the
//! cgroupfs manager of the unit's directory, for what systemd cannot express; `destroy`
//! stops the unit. Reading (pids, stats, freezer, OOM events) goes through the files.
//! `unit.rs` turns a `slice:prefix:name` cgroupsPath into the unit and its directory.

mod dbus;
mod devices;
mod properties;
mod unit;

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use self::dbus::Systemd;
use self::properties::{prop, Property, Value};
use self::unit::UnitSpec;
use crate::detect::{self, Layout, Mode};
use crate::error::{CgroupError, Result};
use crate::{CgroupConfig, Manager, OomWatcher, Stats};

/// A unit of a systemd manager, as saved to find it again in later commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemdUnit {
    /// The unit's name, e.g. `cri-containerd-abc.scope`.
    pub name: String,
    /// Whether it belongs to the calling user's manager (`systemctl --user`) rather than
    /// the system's.
    #[serde(default)]
    pub user: bool,
}

/// A cgroup that is a systemd unit, plus the cgroupfs manager of its directory.
#[derive(Debug)]
pub(crate) struct SystemdManager {
    unit: SystemdUnit,
    /// The slice the unit goes in; None for a manager loaded from saved state.
    slice: Option<String>,
    unified: bool,
    files: Box<dyn Manager>,
}

impl SystemdManager {
    /// The manager for a new unit: `cfg.path` is the `slice:prefix:name` cgroupsPath (None or
    /// empty: `<system.slice|user.slice>:hull:<cfg.name>`). Asks the manager (over D-Bus)
    /// where its own cgroup is, so nothing is created yet but a missing systemd is an error.
    pub fn new(cfg: &CgroupConfig, user: bool) -> Result<Self> {
        let default_slice = if user { "user.slice" } else { "system.slice" };
        let spec = unit::parse(cfg.path.as_deref().unwrap_or(""), &cfg.name, default_slice)?;
        let root = Systemd::connect(user)?.manager_cgroup()?;
        let dir = format!("{}{}", root.trim_end_matches('/'), unit::unit_path(&spec)?);
        let layout = detect::read_layout()?;
        let own = detect::read_own_cgroups()?;
        let files = crate::manager_for(
            &layout,
            &own,
            &CgroupConfig {
                path: Some(dir),
                name: cfg.name.clone(),
            },
        )?;
        let UnitSpec { name, slice } = spec;
        Ok(SystemdManager {
            unit: SystemdUnit { name, user },
            slice: Some(slice),
            unified: layout.mode() == Some(Mode::Unified),
            files,
        })
    }

    /// The manager of an existing unit whose cgroup directories are `paths`.
    pub fn load(
        layout: &Layout,
        paths: &BTreeMap<String, PathBuf>,
        unit: &SystemdUnit,
    ) -> Result<Self> {
        Ok(SystemdManager {
            unit: unit.clone(),
            slice: None,
            unified: layout.mode() == Some(Mode::Unified),
            files: crate::load_manager_for(layout, paths)?,
        })
    }

    fn is_slice(&self) -> bool {
        self.unit.name.ends_with(".slice")
    }

    /// What the unit is started with besides its limits (runc's choice): in its slice, with
    /// the controllers' accounting on, and for a scope `Delegate=yes` and the pid.
    fn start_properties(&self, slice: &str, pid: i32) -> Vec<Property> {
        let mut props = vec![
            prop(
                "Description",
                Value::Str(format!("hull container {}", self.unit.name)),
            ),
            prop("DefaultDependencies", Value::Bool(false)),
            prop("MemoryAccounting", Value::Bool(true)),
            prop("CPUAccounting", Value::Bool(true)),
            prop("TasksAccounting", Value::Bool(true)),
            if self.unified {
                prop("IOAccounting", Value::Bool(true))
            } else {
                prop("BlockIOAccounting", Value::Bool(true))
            },
        ];
        if self.is_slice() {
            props.push(prop("Wants", Value::Strs(vec![slice.to_string()])));
        } else {
            props.push(prop("Slice", Value::Str(slice.to_string())));
            props.push(prop("Delegate", Value::Bool(true)));
            props.push(prop("PIDs", Value::U32s(vec![pid as u32])));
        }
        props
    }

    /// The directory the cgroupfs manager writes to, as systemd names it.
    fn expected_cgroup(&self) -> Option<PathBuf> {
        let paths = self.files.paths();
        paths.get("").or_else(|| paths.values().next()).cloned()
    }
}

impl Manager for SystemdManager {
    /// Nothing to do: systemd makes the unit's cgroup when it starts the unit, which needs
    /// the process (see [`Manager::apply`]).
    fn create(&self) -> Result<()> {
        Ok(())
    }

    fn apply(&self, pid: i32) -> Result<()> {
        let Some(slice) = &self.slice else {
            // a loaded unit exists already: join its cgroup
            return self.files.apply(pid);
        };
        let bus = Systemd::connect(self.unit.user)?;
        bus.start_transient(&self.unit.name, &self.start_properties(slice, pid))?;
        let got = bus.unit_cgroup(&self.unit.name)?;
        if let Some(want) = self.expected_cgroup() {
            if !want.ends_with(got.trim_start_matches('/')) {
                let _ = bus.stop(&self.unit.name);
                return Err(CgroupError::Systemd(format!(
                    "systemd put unit {} in cgroup {got:?}, not where hull expected it ({})",
                    self.unit.name,
                    want.display()
                )));
            }
        }
        // A slice takes no PIDs, and on v1 systemd leaves some hierarchies (net_cls, ...)
        // alone: the process joins every hierarchy's directory itself.
        self.files.apply(pid)
    }

    fn set(&self, res: &LinuxResources) -> Result<()> {
        let props = properties::resources(res, self.unified, &devices::proc_devices_group)?;
        Systemd::connect(self.unit.user)?.set_properties(&self.unit.name, &props)?;
        self.files.set(res)
    }

    fn pids(&self) -> Result<Vec<i32>> {
        self.files.pids()
    }

    fn freeze(&self) -> Result<()> {
        self.files.freeze()
    }

    fn thaw(&self) -> Result<()> {
        self.files.thaw()
    }

    fn is_frozen(&self) -> Result<bool> {
        self.files.is_frozen()
    }

    fn stats(&self) -> Result<Stats> {
        self.files.stats()
    }

    fn oom_watcher(&self) -> Result<Box<dyn OomWatcher>> {
        self.files.oom_watcher()
    }

    /// Stops the unit (systemd removes its cgroup), then removes what is left of the
    /// directories (sub-cgroups made in a delegated scope are the delegate's).
    fn destroy(&self) -> Result<()> {
        Systemd::connect(self.unit.user)?.stop(&self.unit.name)?;
        self.files.destroy()
    }

    fn paths(&self) -> BTreeMap<String, PathBuf> {
        self.files.paths()
    }

    fn unit(&self) -> Option<SystemdUnit> {
        Some(self.unit.clone())
    }
}
