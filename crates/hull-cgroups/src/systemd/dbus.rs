//! The few calls hull makes to systemd's manager over D-Bus, and waiting for their jobs.
//!
//! Why the `dbus` crate (libdbus) and not `zbus`: zbus's blocking API runs its async
//! executor on a thread it starts itself, and hull's rule is that no thread is ever started
//! in a process that will touch namespaces (a raw `clone3` in a multi-threaded process can
//! hand the child a malloc lock another thread held). libdbus is a synchronous C library
//! that starts no thread: a call writes to the bus socket and reads the reply in the
//! calling thread, so hull stays single-threaded before and after the clone. Each
//! [`Systemd`] is one private connection, closed when dropped.

use std::time::{Duration, Instant};

use dbus::arg::{RefArg, Variant};
use dbus::blocking::stdintf::org_freedesktop_dbus::Properties;
use dbus::blocking::{Connection, Proxy};
use dbus::message::MatchRule;
use dbus::Path;

use super::properties::{Property, Value};
use crate::error::{CgroupError, Result};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// How long one call, or one job (start or stop of a unit), may take. Generous: systemd
/// under emulation (the test guest) answers in tenths of seconds, and a stop may have to
/// wait for the unit's processes to die.
const TIMEOUT: Duration = Duration::from_secs(60);

/// How often a job that has not signalled its end is looked for.
const JOB_POLL: Duration = Duration::from_millis(500);

/// A connection to the system's or the calling user's systemd manager.
pub(crate) struct Systemd {
    conn: Connection,
    user: bool,
}

/// A D-Bus property list, as the manager's methods take it (`a(sv)`).
type Props = Vec<(&'static str, Variant<Box<dyn RefArg>>)>;

impl Systemd {
    /// Connects to the system bus, or with `user` to the session bus of the caller
    /// (`$DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`), where the user's
    /// manager is. Fails as runc does when systemd is not PID 1 here.
    pub fn connect(user: bool) -> Result<Self> {
        if !std::path::Path::new("/run/systemd/system").is_dir() {
            return Err(CgroupError::Systemd(
                "systemd not running on this host, cannot use systemd cgroups manager".into(),
            ));
        }
        let conn = if user {
            let address = match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
                Ok(a) if !a.is_empty() => a,
                _ => match std::env::var("XDG_RUNTIME_DIR") {
                    Ok(dir) if !dir.is_empty() => format!("unix:path={dir}/bus"),
                    _ => {
                        return Err(CgroupError::Systemd(
                            "the systemd user manager needs DBUS_SESSION_BUS_ADDRESS or XDG_RUNTIME_DIR".into(),
                        ))
                    }
                },
            };
            Connection::new_address(&address)
        } else {
            Connection::new_system()
        };
        let conn = conn.map_err(|e| {
            let bus = if user { "session" } else { "system" };
            CgroupError::Systemd(format!("connect to the D-Bus {bus} bus: {}", text(&e)))
        })?;
        Ok(Systemd { conn, user })
    }

    fn manager(&self) -> Proxy<'_, &Connection> {
        self.conn.with_proxy(DEST, PATH, TIMEOUT)
    }

    /// The manager's own cgroup (`ControlGroup`): "" or "/" for the system manager at the
    /// root, `/user.slice/user-1000.slice/user@1000.service` for a user's.
    pub fn manager_cgroup(&self) -> Result<String> {
        self.manager()
            .get::<String>(MANAGER, "ControlGroup")
            .map_err(|e| fail("read the manager's ControlGroup", &e))
    }

    /// The cgroup of a loaded unit (`ControlGroup` of its scope or slice).
    pub fn unit_cgroup(&self, unit: &str) -> Result<String> {
        let (path,): (Path<'static>,) = self
            .manager()
            .method_call(MANAGER, "GetUnit", (unit,))
            .map_err(|e| fail(&format!("find unit {unit}"), &e))?;
        let iface = if unit.ends_with(".slice") {
            "org.freedesktop.systemd1.Slice"
        } else {
            "org.freedesktop.systemd1.Scope"
        };
        self.conn
            .with_proxy(DEST, path, TIMEOUT)
            .get::<String>(iface, "ControlGroup")
            .map_err(|e| fail(&format!("read the ControlGroup of {unit}"), &e))
    }

    /// `StartTransientUnit(unit, "replace", props)`, then waits for the job to finish. A
    /// leftover unit of the same name that is not active (failed or dead) is reset first.
    pub fn start_transient(&self, unit: &str, props: &[Property]) -> Result<()> {
        let rule = self.watch_jobs()?;
        let call = |props: Props| -> std::result::Result<(Path<'static>,), dbus::Error> {
            self.manager().method_call(
                MANAGER,
                "StartTransientUnit",
                (unit, "replace", props, Vec::<(&str, Props)>::new()),
            )
        };
        let job = match call(to_dbus(props)) {
            Err(e) if e.name() == Some("org.freedesktop.systemd1.UnitExists") => {
                self.reset_failed(unit);
                call(to_dbus(props))
            }
            other => other,
        };
        let (job,) = job.map_err(|e| fail(&format!("start unit {unit}"), &e))?;
        let result = self.wait_job(&job, unit);
        let _ = self.conn.remove_match_no_cb(&rule);
        let result = match result? {
            Some(r) => r,
            None => match self.active_state(unit)?.as_str() {
                "active" => "done".to_string(),
                state => format!("unknown (the unit is {state})"),
            },
        };
        match result.as_str() {
            "done" => Ok(()),
            other => Err(CgroupError::Systemd(format!(
                "start unit {unit}: the job finished with result {other:?} (see `systemctl{} status {unit}`)",
                if self.user { " --user" } else { "" }
            ))),
        }
    }

    /// `SetUnitProperties(unit, runtime=true, props)`: systemd applies them at once.
    pub fn set_properties(&self, unit: &str, props: &[Property]) -> Result<()> {
        if props.is_empty() {
            return Ok(());
        }
        self.manager()
            .method_call::<(), _, _, _>(MANAGER, "SetUnitProperties", (unit, true, to_dbus(props)))
            .map_err(|e| fail(&format!("set properties of unit {unit}"), &e))
    }

    /// `StopUnit(unit, "replace")`, waiting for the job, then `ResetFailedUnit` so that
    /// nothing of the unit stays listed. A unit that is gone already is fine.
    pub fn stop(&self, unit: &str) -> Result<()> {
        let rule = self.watch_jobs()?;
        let res: std::result::Result<(Path<'static>,), _> =
            self.manager()
                .method_call(MANAGER, "StopUnit", (unit, "replace"));
        let result = match res {
            Ok((job,)) => self.wait_job(&job, unit).map(|_| ()),
            Err(e) if e.name() == Some("org.freedesktop.systemd1.NoSuchUnit") => Ok(()),
            Err(e) => Err(fail(&format!("stop unit {unit}"), &e)),
        };
        let _ = self.conn.remove_match_no_cb(&rule);
        self.reset_failed(unit);
        result
    }

    /// `ResetFailedUnit(unit)`, errors ignored (a unit that is not failed refuses it).
    fn reset_failed(&self, unit: &str) {
        let _ = self
            .manager()
            .method_call::<(), _, _, _>(MANAGER, "ResetFailedUnit", (unit,));
    }

    /// Asks the bus for the manager's `JobRemoved` signals (sent to the client that queued
    /// the job); returns the match rule, to be removed afterwards.
    fn watch_jobs(&self) -> Result<String> {
        let rule = MatchRule::new_signal(MANAGER, "JobRemoved")
            .with_path(PATH)
            .with_sender(DEST)
            .match_str();
        self.conn
            .add_match_no_cb(&rule)
            .map_err(|e| fail("watch systemd's jobs", &e))?;
        Ok(rule)
    }

    /// Reads the queued messages until `JobRemoved(id, job, unit, result)` for `job`;
    /// returns its result (`done`, `failed`, `canceled`, `timeout`, ...), or None when the
    /// job is gone from the manager without the signal reaching hull (then the caller
    /// checks the unit's state itself).
    fn wait_job(&self, job: &Path<'_>, unit: &str) -> Result<Option<String>> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CgroupError::Systemd(format!(
                    "the job {job} for unit {unit} did not finish within {}s",
                    TIMEOUT.as_secs()
                )));
            }
            let msg = self
                .conn
                .channel()
                .blocking_pop_message(left.min(JOB_POLL))
                .map_err(|e| fail(&format!("wait for the job of unit {unit}"), &e))?;
            let Some(msg) = msg else {
                if !self.job_exists(job) {
                    return Ok(None);
                }
                continue;
            };
            if msg.member().as_deref() != Some("JobRemoved") {
                continue;
            }
            if let Ok((_, path, _, result)) = msg.read4::<u32, Path, String, String>() {
                if path == *job {
                    return Ok(Some(result));
                }
            }
        }
    }

    /// Whether the manager still has the job object.
    fn job_exists(&self, job: &Path<'_>) -> bool {
        self.conn
            .with_proxy(DEST, job.clone(), TIMEOUT)
            .get::<u32>("org.freedesktop.systemd1.Job", "Id")
            .is_ok()
    }

    /// The unit's `ActiveState` (`active`, `inactive`, `failed`, ...).
    fn active_state(&self, unit: &str) -> Result<String> {
        let (path,): (Path<'static>,) = self
            .manager()
            .method_call(MANAGER, "GetUnit", (unit,))
            .map_err(|e| fail(&format!("find unit {unit}"), &e))?;
        self.conn
            .with_proxy(DEST, path, TIMEOUT)
            .get::<String>("org.freedesktop.systemd1.Unit", "ActiveState")
            .map_err(|e| fail(&format!("read the ActiveState of {unit}"), &e))
    }
}

/// The properties in D-Bus form.
fn to_dbus(props: &[Property]) -> Props {
    props
        .iter()
        .map(|p| {
            let v: Box<dyn RefArg> = match &p.value {
                Value::Str(s) => Box::new(s.clone()),
                Value::Strs(v) => Box::new(v.clone()),
                Value::Bool(b) => Box::new(*b),
                Value::U64(n) => Box::new(*n),
                Value::U32s(v) => Box::new(v.clone()),
                Value::Bytes(v) => Box::new(v.clone()),
                Value::Devices(v) => Box::new(v.clone()),
            };
            (p.name, Variant(v))
        })
        .collect()
}

/// A D-Bus error as one line: its message, else its name.
fn text(e: &dbus::Error) -> String {
    let one = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    match (e.message(), e.name()) {
        (Some(m), _) if !m.is_empty() => one(m),
        (_, Some(n)) => n.to_string(),
        _ => "unknown D-Bus error".into(),
    }
}

fn fail(op: &str, e: &dbus::Error) -> CgroupError {
    CgroupError::Systemd(format!("{op}: {}", text(e)))
}
