//! The container's record on disk (`<root>/<id>/state.json`), its status, and the lock that
//! serialises commands on one container.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::stored_spec::StoredSpec;
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

/// What hull keeps about a container between commands. `create` writes it three times: when
/// it reserves the id (before anything else is made, `creating`, no pid), once init's pid is
/// known, and when init is ready (`creating` false). The fields `delete --force` needs come
/// first, so that even a truncated file names them (see [`salvage`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Container id.
    pub id: String,
    /// Init's pid in hull's pid namespace (0 until known).
    pub pid: i32,
    /// Init's start time (clock ticks since boot), to detect pid reuse.
    pub pid_start: u64,
    /// The container's cgroup directories, by controller ("" for the unified hierarchy).
    pub cgroup_paths: BTreeMap<String, PathBuf>,
    /// The namespace that tells the container's processes from others in its cgroup
    /// ([`members`](super::members)); None until init's pid is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_ns: Option<super::members::Namespace>,
    /// The systemd unit that owns the cgroup (`--systemd-cgroup`), to stop it on delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_unit: Option<hull_cgroups::SystemdUnit>,
    /// `create` has not finished: it is still at work (it holds the lock) or was killed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub creating: bool,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created: String,
    /// The spec the container was created from, parsed only where a command needs it.
    pub spec: StoredSpec,
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
    if id.is_empty() {
        return Err(Error::Msg("container id cannot be empty".into()));
    }
    let ok = id != "."
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
    /// Load the container `id` from `root`, or `Error::NotExist` (`Error::Corrupt` if the
    /// record is damaged; its spec is only checked to be JSON here, see [`StoredSpec`]).
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        let dir = container_dir(root, id)?;
        let text = match std::fs::read(dir.join(STATE_FILE)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotExist(id.into()))
            }
            Err(e) => return Err(e).ctx(|| format!("read state of {id}")),
        };
        let record = serde_json::from_slice(&text).map_err(|e| Error::Corrupt {
            id: id.into(),
            why: e.to_string(),
        })?;
        Ok(Container { dir, record })
    }

    /// What can still be read of the damaged record of `id` (see [`salvage`]).
    pub fn salvage(root: &Path, id: &str) -> Result<Container> {
        let dir = container_dir(root, id)?;
        let text = std::fs::read(dir.join(STATE_FILE)).ctx(|| format!("read state of {id}"))?;
        let record = salvage(id, &text);
        Ok(Container { dir, record })
    }

    /// Take the container's exclusive lock; released when the returned guard drops.
    pub fn lock(&self) -> Result<Flock<File>> {
        lock_dir(&self.dir)
    }

    /// The live status: stopped if init is gone (or its pid was reused), created while
    /// `exec.fifo` exists, paused if the cgroup is frozen, running otherwise.
    /// A half-made container is creating while its `create` holds the lock, stopped once that
    /// `create` is gone.
    pub fn status(&self) -> Status {
        if self.record.creating {
            return if locked_elsewhere(&self.dir) {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
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
    pub fn oci_state(&self) -> Result<OciState> {
        let annotations = self.record.spec.annotations(&self.record.id)?;
        Ok(OciState::of(&self.record, self.status(), annotations))
    }
}

impl OciState {
    /// The state document of `record` in `status` with its spec's `annotations` (`pid` 0 once
    /// stopped, as runc reports it).
    pub fn of(r: &Record, status: Status, annotations: HashMap<String, String>) -> OciState {
        OciState {
            oci_version: crate::OCI_VERSION.into(),
            id: r.id.clone(),
            pid: if status == Status::Stopped { 0 } else { r.pid },
            status,
            bundle: r.bundle.clone(),
            rootfs: r.rootfs.clone(),
            created: r.created.clone(),
            owner: String::new(),
            annotations,
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

/// Lock a container directory exclusively if nobody holds it; `None` if somebody does.
pub fn try_lock_dir(dir: &Path) -> Result<Option<Flock<File>>> {
    let f = File::open(dir).ctx(|| format!("open {}", dir.display()))?;
    match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(e).ctx(|| format!("lock {}", dir.display())),
    }
}

/// Whether another command holds the lock of `dir`.
fn locked_elsewhere(dir: &Path) -> bool {
    let Ok(f) = File::open(dir) else {
        return false;
    };
    matches!(
        Flock::lock(f, FlockArg::LockSharedNonblock),
        Err((_, nix::errno::Errno::EWOULDBLOCK))
    )
}

/// Remove a container directory, `state.json` last: a command killed meanwhile leaves either
/// the record (and `delete` can run again) or a directory without one, which `create` takes
/// over and `delete` removes.
pub fn remove_dir(dir: &Path) -> Result<()> {
    clear_dir(dir, &[STATE_FILE])?;
    crate::fault::point("state::dir-cleared");
    match std::fs::remove_file(dir.join(STATE_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).ctx(|| format!("remove {}", dir.join(STATE_FILE).display()))
        }
        _ => {}
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).ctx(|| format!("remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Remove everything in `dir` but the entries named in `keep`.
pub fn clear_dir(dir: &Path, keep: &[&str]) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other.ctx(|| format!("read {}", dir.display()))?,
    };
    for entry in entries.flatten() {
        if keep.iter().any(|k| entry.file_name() == *k) {
            continue;
        }
        let path = entry.path();
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match removed {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).ctx(|| format!("remove {}", path.display()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// What `delete --force` can still use of a damaged record: the leading fields (pid, its
/// start time, the cgroup paths) when they are whole, as a half-made record with an empty
/// spec (no hooks, no network devices).
pub fn salvage(id: &str, text: &[u8]) -> Record {
    // The pid is whole only if what follows it was written too.
    let pid_start = value_after(text, "pid_start");
    Record {
        id: id.into(),
        pid: pid_start
            .and_then(|_| value_after(text, "pid"))
            .unwrap_or(0),
        pid_start: pid_start.unwrap_or(0),
        cgroup_paths: value_after::<BTreeMap<String, PathBuf>>(text, "cgroup_paths")
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, p): &(String, PathBuf)| p.is_absolute())
            .collect(),
        member_ns: value_after(text, "member_ns"),
        cgroup_unit: value_after(text, "cgroup_unit"),
        creating: true,
        bundle: PathBuf::new(),
        rootfs: PathBuf::new(),
        created: String::new(),
        spec: StoredSpec::empty(),
    }
}

/// The JSON value after the first `"key":` in `text`, if it is complete.
fn value_after<T: serde::de::DeserializeOwned>(text: &[u8], key: &str) -> Option<T> {
    let pattern = format!("\"{key}\":");
    let at = text
        .windows(pattern.len())
        .position(|w| w == pattern.as_bytes())?;
    serde_json::Deserializer::from_slice(&text[at + pattern.len()..])
        .into_iter::<T>()
        .next()?
        .ok()
}

/// `(state, starttime)` of a process from `/proc/<pid>/stat`, or None if it does not exist.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = crate::kernel_text::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<(char, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Whether `dir` holds a record (a complete, half-made or damaged one).
pub fn has_record(dir: &Path) -> bool {
    dir.join(STATE_FILE).exists()
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
        .filter(|e| has_record(&e.path()))
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
    fn a_truncated_record_still_names_pid_and_cgroups() {
        let text = br#"{"id":"a","pid":42,"pid_start":7,"cgroup_paths":{"pids":"/sys/fs/cgroup/pids/a","x":"rel"},"bundle":"/b","spec":{"ociVer"#;
        let r = salvage("a", text);
        assert_eq!((r.pid, r.pid_start, r.creating), (42, 7, true));
        assert_eq!(r.cgroup_paths.len(), 1, "relative paths are dropped");
        let r = salvage("a", br#"{"id":"a","pid":4"#);
        assert_eq!((r.pid, r.cgroup_paths.len()), (0, 0));
    }

    /// A record whose spec is damaged in one part loads; what reads that part gets the
    /// corrupt error naming the container, the rest works, and saving it again writes the
    /// spec as it was read.
    #[test]
    fn a_damaged_spec_is_corrupt_where_it_is_read() {
        let root = std::env::temp_dir().join(format!("hull-state-unit-{}", std::process::id()));
        let dir = root.join("c1");
        std::fs::create_dir_all(&dir).unwrap();
        let write = |spec: &str| {
            let text = format!(
                r#"{{"id":"c1","pid":0,"pid_start":0,"cgroup_paths":{{}},"bundle":"/b","rootfs":"/b/r","created":"t","spec":{spec}}}"#
            );
            std::fs::write(dir.join(STATE_FILE), &text).unwrap();
            text
        };
        let corrupt = |e: Error| matches!(e, Error::Corrupt { ref id, .. } if id == "c1");

        let text = write(r#"{"annotations": {"a": "1"}, "hooks": {"poststop": 7}}"#);
        let c = Container::load(&root, "c1").unwrap();
        assert_eq!(c.oci_state().unwrap().annotations["a"], "1");
        assert!(corrupt(c.record.spec.hooks("c1").unwrap_err()));
        assert!(corrupt(c.record.spec.full("c1").unwrap_err()));
        save(&dir, &c.record).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join(STATE_FILE)).unwrap(), text);

        write(r#"{"annotations": [1]}"#);
        let c = Container::load(&root, "c1").unwrap();
        assert!(corrupt(c.oci_state().unwrap_err()));
        assert!(c.record.spec.hooks("c1").unwrap().is_none());

        write(r#"{"annotations": {"a": "#);
        assert!(corrupt(Container::load(&root, "c1").unwrap_err()));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }
}
