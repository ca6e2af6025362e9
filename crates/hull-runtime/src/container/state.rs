//! The container's record on disk (`<root>/<id>/state.json`), its status, and the lock that
//! serialises commands on one container.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

/// Name of the fifo init blocks on until `start`.
pub const EXEC_FIFO: &str = "exec.fifo";
const STATE_FILE: &str = "state.json";

/// Lifecycle status, as the runtime-spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created (only ever shown to hooks).
    Creating,
    /// Init is set up and blocked on `exec.fifo`.
    Created,
    /// The user's program runs.
    Running,
    /// Frozen by `pause`.
    Paused,
    /// Init has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        };
        f.write_str(s)
    }
}

/// What hull keeps about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Container id.
    pub id: String,
    /// Init's pid in hull's pid namespace.
    pub pid: i32,
    /// Init's start time (clock ticks since boot), to detect pid reuse.
    pub pid_start: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created: String,
    /// The spec the container was created from (hooks and cgroups are read from it later).
    pub spec: Spec,
    /// The container's cgroup directories, by controller ("" for the unified hierarchy).
    pub cgroup_paths: BTreeMap<String, PathBuf>,
    /// The systemd unit that owns the cgroup (`--systemd-cgroup`), to stop it on delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_unit: Option<hull_cgroups::SystemdUnit>,
}

/// The OCI state document (`hull state`), with runc's extra `created` and `owner` fields.
#[derive(Debug, Clone, Serialize)]
pub struct OciState {
    /// The runtime-spec version hull implements.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Init's pid (0 once stopped).
    pub pid: i32,
    /// Live status.
    pub status: Status,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339.
    pub created: String,
    /// runc's `owner` field (left empty here; `list` fills its own).
    pub owner: String,
    /// `annotations` of the config, omitted when empty.
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

/// A container found under the state root.
#[derive(Debug)]
pub struct Container {
    /// `<root>/<id>`.
    pub dir: PathBuf,
    /// The saved record.
    pub record: Record,
}

/// Check an id the way runc does: non-empty, no path separators, not `.` or `..`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Msg(format!(
            "invalid container id {id:?}: use letters, digits, '_', '+', '-' and '.'"
        )))
    }
}

/// `<root>/<id>` after checking the id.
pub fn container_dir(root: &Path, id: &str) -> Result<PathBuf> {
    validate_id(id)?;
    Ok(root.join(id))
}

impl Container {
    /// Load the container `id` from `root`, or `Error::NotExist`.
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        let dir = container_dir(root, id)?;
        let text = match std::fs::read(dir.join(STATE_FILE)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotExist(id.into()))
            }
            Err(e) => return Err(e).ctx(|| format!("read state of {id}")),
        };
        let record = serde_json::from_slice(&text)
            .map_err(|e| Error::Msg(format!("state of {id} is corrupt: {e}")))?;
        Ok(Container { dir, record })
    }

    /// Take the container's exclusive lock; released when the returned guard drops.
    pub fn lock(&self) -> Result<Flock<File>> {
        lock_dir(&self.dir)
    }

    /// The live status: stopped if init is gone (or its pid was reused), created while
    /// `exec.fifo` exists, paused if the cgroup is frozen, running otherwise.
    pub fn status(&self) -> Status {
        if !self.init_alive() {
            Status::Stopped
        } else if self.dir.join(EXEC_FIFO).exists() {
            Status::Created
        } else if super::cgroup::is_frozen(&self.record) {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// Whether the recorded init process still exists and is the same process.
    pub fn init_alive(&self) -> bool {
        self.record.pid > 0
            && proc_stat(self.record.pid).is_some_and(|(state, start)| {
                state != 'Z' && state != 'X' && start == self.record.pid_start
            })
    }

    /// The error for an operation refused while the container is in `status`: `what` says
    /// what cannot be done.
    pub fn bad_status(&self, status: Status, what: &str) -> Error {
        Error::BadStatus {
            id: self.record.id.clone(),
            status: status.to_string(),
            what: what.into(),
        }
    }

    /// The OCI state document; `pid` is 0 once stopped, as runc reports it.
    pub fn oci_state(&self) -> OciState {
        OciState::of(&self.record, self.status())
    }
}

impl OciState {
    /// The state document of `record` in `status` (`pid` 0 once stopped, as runc reports it).
    pub fn of(r: &Record, status: Status) -> OciState {
        OciState {
            oci_version: crate::OCI_VERSION.into(),
            id: r.id.clone(),
            pid: if status == Status::Stopped { 0 } else { r.pid },
            status,
            bundle: r.bundle.clone(),
            rootfs: r.rootfs.clone(),
            created: r.created.clone(),
            owner: String::new(),
            annotations: r.spec.annotations().clone().unwrap_or_default(),
        }
    }
}

/// Write `record` to `<dir>/state.json` atomically (write a temporary file, then rename).
pub fn save(dir: &Path, record: &Record) -> Result<()> {
    let tmp = dir.join(".state.json.tmp");
    let data = serde_json::to_vec(record).map_err(|e| Error::Msg(format!("encode state: {e}")))?;
    let mut f = File::create(&tmp).ctx(|| format!("write {}", tmp.display()))?;
    f.write_all(&data)
        .ctx(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join(STATE_FILE)).ctx(|| format!("rename state in {}", dir.display()))
}

/// Lock a container directory exclusively (flock).
pub fn lock_dir(dir: &Path) -> Result<Flock<File>> {
    let f = File::open(dir).ctx(|| format!("open {}", dir.display()))?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .ctx(|| format!("lock {}", dir.display()))
}

/// `(state, starttime)` of a process from `/proc/<pid>/stat`, or None if it does not exist.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<(char, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Every container id under `root` that has a state file, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).ctx(|| format!("read {}", root.display())),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(STATE_FILE).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing_handles_parens_in_comm() {
        let line = "42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_stat(line), Some(('S', 98765)));
    }

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }
}
