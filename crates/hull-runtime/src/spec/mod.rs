//! Loading `config.json` and checking it completely before any side effect.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::Deserialize;

pub use crate::error::SpecError;

pub mod net_devices;
pub mod query;

/// A validated bundle: the spec plus the absolute paths derived from it.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute bundle directory.
    pub dir: PathBuf,
    /// Absolute root filesystem directory (exists).
    pub rootfs: PathBuf,
    /// The parsed, validated spec.
    pub spec: Spec,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Read and validate `<dir>/config.json`. Guarantees on success: the rootfs exists, `process.args`
/// is non-empty, namespace types are unique, mount types are known, and hostname needs a UTS namespace.
pub fn load(dir: &Path) -> Result<Bundle, SpecError> {
    let dir = std::fs::canonicalize(dir).map_err(|source| SpecError::Bundle {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join("config.json");
    let text = std::fs::read(&path).map_err(|source| SpecError::Read {
        path: path.clone(),
        source,
    })?;
    let mut raw: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| SpecError::Parse {
            path: path.clone(),
            field: ".".into(),
            reason: e.to_string(),
        })?;
    crate::security::tolerate(&mut raw);
    crate::init::mempolicy::check_names(&raw).map_err(|(field, reason)| invalid(field, reason))?;
    crate::bootstrap::idmap_mount::fold_mount_mappings(&mut raw)
        .map_err(|(field, reason)| invalid(field, reason))?;
    // The plain deserializer first: serde_path_to_error's tracking wraps every visitor, which
    // doubles the code a start runs (what counts under emulation, tests/vm/bench-v2.sh). It
    // runs only to name the field of a config that fails.
    let mut spec = match Spec::deserialize(&raw) {
        Ok(spec) => spec,
        Err(plain) => {
            let (field, reason) = match serde_path_to_error::deserialize::<_, Spec>(raw) {
                Err(e) => (e.path().to_string(), e.inner().to_string()),
                Ok(_) => (".".to_string(), plain.to_string()),
            };
            let path = path.clone();
            return Err(SpecError::Parse {
                path,
                field,
                reason,
            });
        }
    };
    let rootfs = rootfs_path(&dir, &spec)?;
    destinations_inside(&mut spec, &dir, &rootfs);
    validate(&spec)?;
    Ok(Bundle { dir, rootfs, spec })
}

fn rootfs_path(dir: &Path, spec: &Spec) -> Result<PathBuf, SpecError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root", "missing"))?;
    let path = dir.join(root.path());
    let meta = std::fs::metadata(&path)
        .map_err(|e| invalid("root.path", format!("{}: {e}", path.display())))?;
    if !meta.is_dir() {
        return Err(invalid(
            "root.path",
            format!("{} is not a directory", path.display()),
        ));
    }
    std::fs::canonicalize(&path)
        .map_err(|e| invalid("root.path", format!("{}: {e}", path.display())))
}

/// Mount destinations as runc reads them, rewritten to the container's absolute path: one
/// written as a host path under the rootfs (`<rootfs>/mnt`) means the path inside it (`/mnt`);
/// a relative one (`mnt`) is relative to the container's `/`, with runc's warning.
fn destinations_inside(spec: &mut Spec, dir: &Path, rootfs: &Path) {
    let written = spec.root().as_ref().map(|r| dir.join(r.path()));
    let Some(mounts) = spec.mounts_mut().as_mut() else {
        return;
    };
    for m in mounts.iter_mut() {
        let dest = m.destination().clone();
        let inside = [Some(rootfs), written.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|prefix| dest.strip_prefix(prefix).ok());
        if let Some(rest) = inside {
            m.set_destination(Path::new("/").join(rest));
        } else if dest.is_relative() && !dest.as_os_str().is_empty() {
            tracing::warn!(
                "mount destination {} is not absolute. Support for non-absolute mount \
                 destinations will be removed in a future release.",
                dest.display()
            );
            m.set_destination(Path::new("/").join(dest));
        }
    }
}

/// The largest uid or gid hull passes on: above it the kernel reads the value as a negative
/// id, and `-1` (4294967295) means "leave unchanged" to setresuid, i.e. stay root.
pub const MAX_ID: u32 = i32::MAX as u32;

/// Check a process (the container's, or one given to `exec`): it names a program, its cwd
/// is absolute, and its uid, gid and additional gids are in `0..=MAX_ID`.
pub fn validate_process(process: &oci_spec::runtime::Process) -> Result<(), SpecError> {
    validate_user(process.user())?;
    match process.args().as_deref() {
        Some([first, ..]) if !first.is_empty() => {}
        _ => return Err(invalid("process.args", "must name the program to run")),
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            "process.cwd",
            format!("{:?} is not absolute", process.cwd()),
        ));
    }
    validate_env(process.env().as_deref().unwrap_or_default())
}

/// Every entry is `NAME=value` with a name, and no NUL anywhere (runc refuses the rest).
fn validate_env(env: &[String]) -> Result<(), SpecError> {
    for (i, kv) in env.iter().enumerate() {
        let why = match kv.split_once('=') {
            None => "invalid environment variable: no '='",
            Some(("", _)) => "environment variable name can't be empty",
            Some(_) if kv.contains('\0') => "environment variable can't contain NUL",
            Some(_) => continue,
        };
        return Err(invalid(
            format!("process.env[{i}]"),
            format!("{kv:?}: {why}"),
        ));
    }
    Ok(())
}

fn validate_user(user: &oci_spec::runtime::User) -> Result<(), SpecError> {
    let ids = [
        ("process.user.uid".to_string(), user.uid()),
        ("process.user.gid".to_string(), user.gid()),
    ];
    let groups = user.additional_gids().iter().flatten().enumerate();
    let groups = groups.map(|(i, g)| (format!("process.user.additionalGids[{i}]"), *g));
    match ids.into_iter().chain(groups).find(|(_, id)| *id > MAX_ID) {
        Some((field, id)) => Err(invalid(
            field,
            format!("{id}: uids and gids must be in range 0-{MAX_ID}"),
        )),
        None => Ok(()),
    }
}

/// Check the fields whose errors would otherwise surface half-way through set-up.
pub fn validate(spec: &Spec) -> Result<(), SpecError> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "missing"))?;
    validate_process(process)?;
    let kinds = namespace_kinds(spec)?;
    if !kinds.contains(&LinuxNamespaceType::Mount) {
        // Without one, init would mount and pivot_root in the host's mount namespace.
        return Err(invalid(
            "linux.namespaces",
            "a private mount namespace is required (add {\"type\": \"mount\"})",
        ));
    }
    for (field, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if value.as_deref().is_some_and(|v| !v.is_empty())
            && !kinds.contains(&LinuxNamespaceType::Uts)
        {
            return Err(invalid(
                field,
                format!("setting the {field} needs a new uts namespace"),
            ));
        }
    }
    crate::security::validate(spec).map_err(|(field, reason)| invalid(field, reason))?;
    crate::init::mempolicy::check(spec).map_err(|(field, reason)| invalid(field, reason))?;
    net_devices::check(spec).map_err(|(field, reason)| invalid(field, reason))?;
    crate::bootstrap::idmap::validate(spec).map_err(|(field, reason)| invalid(field, reason))?;
    crate::bootstrap::idmap_mount::validate(spec)
        .map_err(|(field, reason)| invalid(field, reason))?;
    validate_time_offsets(spec, &kinds)?;
    validate_mounts(spec)?;
    validate_hooks(spec)
}

fn namespace_kinds(spec: &Spec) -> Result<HashSet<LinuxNamespaceType>, SpecError> {
    let mut seen = HashSet::new();
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for (i, ns) in namespaces.into_iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(invalid(
                format!("linux.namespaces[{i}]"),
                format!("duplicate namespace {}", ns.typ()),
            ));
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                return Err(invalid(
                    format!("linux.namespaces[{i}].path"),
                    format!("{path:?} is not absolute"),
                ));
            }
        }
    }
    Ok(seen)
}

/// Filesystem types the running kernel knows (from /proc/filesystems), plus "bind".
fn known_fs_types() -> HashSet<String> {
    let text = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    let mut types: HashSet<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(str::to_string)
        .collect();
    types.extend(["bind", "none", "rbind"].map(String::from));
    types
}

fn validate_mounts(spec: &Spec) -> Result<(), SpecError> {
    let known = known_fs_types();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            return Err(invalid(
                format!("mounts[{i}].destination"),
                format!("{:?} is not absolute", m.destination()),
            ));
        }
        let is_bind = m
            .options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind");
        match m.typ().as_deref() {
            Some(t) if !t.is_empty() && !is_bind && !known.contains(t) => {
                return Err(invalid(
                    format!("mounts[{i}].type"),
                    format!("unknown filesystem type {t:?}"),
                ))
            }
            None | Some("") if !is_bind => {
                return Err(invalid(
                    format!("mounts[{i}].type"),
                    "missing for a mount that is not a bind mount",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

fn validate_time_offsets(
    spec: &Spec,
    kinds: &HashSet<LinuxNamespaceType>,
) -> Result<(), SpecError> {
    let Some(offsets) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    else {
        return Ok(());
    };
    if !offsets.is_empty() && !kinds.contains(&LinuxNamespaceType::Time) {
        return Err(invalid(
            "linux.timeOffsets",
            "clock offsets need a time namespace",
        ));
    }
    match offsets
        .keys()
        .find(|k| *k != "monotonic" && *k != "boottime")
    {
        Some(clock) => Err(invalid(
            format!("linux.timeOffsets.{clock}"),
            "only monotonic and boottime can be offset",
        )),
        None => Ok(()),
    }
}

fn validate_hooks(spec: &Spec) -> Result<(), SpecError> {
    let Some(hooks) = spec.hooks() else {
        return Ok(());
    };
    let points = [
        ("prestart", hooks.prestart()),
        ("createRuntime", hooks.create_runtime()),
        ("createContainer", hooks.create_container()),
        ("startContainer", hooks.start_container()),
        ("poststart", hooks.poststart()),
        ("poststop", hooks.poststop()),
    ];
    for (name, list) in points {
        for (i, hook) in list.iter().flatten().enumerate() {
            if !hook.path().is_absolute() {
                return Err(invalid(
                    format!("hooks.{name}[{i}].path"),
                    format!("{:?} is not absolute", hook.path()),
                ));
            }
            if hook.timeout().is_some_and(|t| t <= 0) {
                return Err(invalid(
                    format!("hooks.{name}[{i}].timeout"),
                    "must be greater than zero",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_from(json: &str) -> Result<Spec, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn hostname_without_uts_is_refused() {
        let spec = spec_from(r#"{"ociVersion":"1.0.2","root":{"path":"r"},"hostname":"h",
            "process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},"linux":{"namespaces":[{"type":"pid"},{"type":"mount"}]}}"#)
        .unwrap();
        let err = validate(&spec).unwrap_err().to_string();
        assert!(err.contains("hostname"), "{err}");
    }

    #[test]
    fn duplicate_namespace_is_refused() {
        let spec = spec_from(r#"{"ociVersion":"1.0.2","root":{"path":"r"},
            "process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},"linux":{"namespaces":[{"type":"pid"},{"type":"pid"}]}}"#)
        .unwrap();
        assert!(validate(&spec)
            .unwrap_err()
            .to_string()
            .contains("duplicate"));
    }

    #[test]
    fn empty_args_are_refused() {
        let spec = spec_from(
            r#"{"ociVersion":"1.0.2","root":{"path":"r"},
            "process":{"cwd":"/","args":[],"user":{"uid":0,"gid":0}}}"#,
        )
        .unwrap();
        assert!(validate(&spec)
            .unwrap_err()
            .to_string()
            .contains("process.args"));
    }

    #[test]
    fn unknown_mount_type_is_refused() {
        let spec = spec_from(
            r#"{"ociVersion":"1.0.2","root":{"path":"r"},
            "process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},
            "linux":{"namespaces":[{"type":"mount"}]},
            "mounts":[{"destination":"/x","type":"nosuchfs","source":"x"}]}"#,
        )
        .unwrap();
        assert!(validate(&spec)
            .unwrap_err()
            .to_string()
            .contains("mounts[0].type"));
    }

    #[test]
    fn ids_above_i32_max_are_refused() {
        let spec = spec_from(
            r#"{"ociVersion":"1.0.2","root":{"path":"r"},
            "process":{"cwd":"/","args":["sh"],"user":{"uid":2147483647,"gid":0,"additionalGids":[4294967295]}},
            "linux":{"namespaces":[{"type":"mount"}]}}"#,
        )
        .unwrap();
        let err = validate(&spec).unwrap_err().to_string();
        assert!(err.contains("process.user.additionalGids[0]"), "{err}");
    }

    #[test]
    fn a_mount_namespace_is_required() {
        let spec = spec_from(
            r#"{"ociVersion":"1.0.2","root":{"path":"r"},
            "process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},
            "linux":{"namespaces":[{"type":"pid"}]}}"#,
        )
        .unwrap();
        let err = validate(&spec).unwrap_err().to_string();
        assert!(err.contains("private mount namespace"), "{err}");
    }
}
