//! User namespace id maps: checking `linux.uidMappings`/`gidMappings` and writing them for a
//! new user namespace from the parent (the child cannot map itself beyond its own id).

use std::path::Path;

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::error::{Context, Result};

/// Why a mapping was refused: `(field, reason)`.
pub type MappingError = (String, String);

/// Check the mappings against the namespaces: a new user namespace needs both maps, maps need
/// a user namespace, and ranges must be non-empty, in range and not overlap.
pub fn validate(spec: &Spec) -> std::result::Result<(), MappingError> {
    let linux = spec.linux().as_ref();
    let (uid, gid) = container_maps(spec);
    let userns = linux.and_then(|l| l.namespaces().as_ref()).and_then(|nss| {
        nss.iter()
            .find(|ns| ns.typ() == LinuxNamespaceType::User)
            .cloned()
    });
    match (&userns, uid.is_empty() && gid.is_empty()) {
        (None, false) => {
            return Err(err(
                "linux.uidMappings",
                "id mappings need a user namespace in linux.namespaces",
            ))
        }
        (Some(ns), true) if ns.path().is_none() => {
            return Err(err(
                "linux.uidMappings",
                "a new user namespace needs uidMappings and gidMappings",
            ))
        }
        _ => {}
    }
    if userns.as_ref().is_some_and(|ns| ns.path().is_none()) {
        check_ranges("linux.uidMappings", &uid)?;
        check_ranges("linux.gidMappings", &gid)?;
        // Init becomes the namespace's root before anything else, then process.user.
        check_mapped("linux.uidMappings", &uid, "container uid", 0)?;
        check_mapped("linux.gidMappings", &gid, "container gid", 0)?;
        if let Some(user) = spec.process().as_ref().map(|p| p.user()) {
            check_mapped("linux.uidMappings", &uid, "process.user.uid", user.uid())?;
            check_mapped("linux.gidMappings", &gid, "process.user.gid", user.gid())?;
        }
    }
    Ok(())
}

/// The container's `linux.uidMappings` and `linux.gidMappings` (empty when absent).
pub fn container_maps(spec: &Spec) -> (Vec<LinuxIdMapping>, Vec<LinuxIdMapping>) {
    let linux = spec.linux().as_ref();
    let uid = linux
        .and_then(|l| l.uid_mappings().clone())
        .unwrap_or_default();
    let gid = linux
        .and_then(|l| l.gid_mappings().clone())
        .unwrap_or_default();
    (uid, gid)
}

/// `id` (a container id) must fall in one of the ranges of `maps`.
fn check_mapped(
    field: &str,
    maps: &[LinuxIdMapping],
    what: &str,
    id: u32,
) -> std::result::Result<(), MappingError> {
    let mapped = maps
        .iter()
        .any(|m| id >= m.container_id() && (id - m.container_id()) < m.size());
    if mapped {
        Ok(())
    } else {
        Err((field.to_string(), format!("{what} {id} is not mapped")))
    }
}

fn err(field: &str, reason: &str) -> MappingError {
    (field.to_string(), reason.to_string())
}

/// Each range non-empty, within 32 bits, and no two overlapping on either side.
pub fn check_ranges(field: &str, maps: &[LinuxIdMapping]) -> std::result::Result<(), MappingError> {
    if maps.is_empty() {
        return Err(err(field, "a new user namespace needs at least one range"));
    }
    for (i, m) in maps.iter().enumerate() {
        let fits = |start: u32| (start as u64) + (m.size() as u64) <= u32::MAX as u64 + 1;
        if m.size() == 0 || !fits(m.container_id()) || !fits(m.host_id()) {
            return Err((
                format!("{field}[{i}]"),
                "size is zero or the range overflows 32 bits".into(),
            ));
        }
        for (j, other) in maps.iter().enumerate().take(i) {
            let overlaps = |a: u32, b: u32| {
                a < b.saturating_add(other.size()) && b < a.saturating_add(m.size())
            };
            if overlaps(m.container_id(), other.container_id())
                || overlaps(m.host_id(), other.host_id())
            {
                return Err((format!("{field}[{i}]"), format!("overlaps range {j}")));
            }
        }
    }
    Ok(())
}

/// The text of a `uid_map`/`gid_map` file.
pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Write the id maps of `pid`'s new user namespace (gid first; `setgroups` denied first when
/// `deny_setgroups`, which an unprivileged writer needs).
pub fn write_maps(
    pid: i32,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
    deny_setgroups: bool,
) -> Result<()> {
    let proc = Path::new("/proc").join(pid.to_string());
    if deny_setgroups {
        std::fs::write(proc.join("setgroups"), "deny")
            .ctx(|| format!("write deny to /proc/{pid}/setgroups"))?;
    }
    std::fs::write(proc.join("gid_map"), map_text(gid))
        .ctx(|| format!("write /proc/{pid}/gid_map"))?;
    std::fs::write(proc.join("uid_map"), map_text(uid)).ctx(|| format!("write /proc/{pid}/uid_map"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps(v: &[(u32, u32, u32)]) -> Vec<LinuxIdMapping> {
        let json: Vec<_> = v
            .iter()
            .map(|(c, h, s)| serde_json::json!({"containerID": c, "hostID": h, "size": s}))
            .collect();
        serde_json::from_value(serde_json::Value::Array(json)).unwrap()
    }

    #[test]
    fn overlapping_ranges_are_refused() {
        assert!(check_ranges("u", &maps(&[(0, 100000, 1000), (500, 200000, 10)])).is_err());
        assert!(check_ranges("u", &maps(&[(0, 100000, 1000), (1000, 100500, 10)])).is_err());
        assert!(check_ranges("u", &maps(&[(0, 100000, 1000), (1000, 200000, 10)])).is_ok());
    }

    #[test]
    fn empty_and_overflowing_ranges_are_refused() {
        assert!(check_ranges("u", &maps(&[(0, 100000, 0)])).is_err());
        assert!(check_ranges("u", &maps(&[(u32::MAX, 0, 2)])).is_err());
        assert!(check_ranges("u", &[]).is_err());
    }

    #[test]
    fn unmapped_ids_are_found() {
        let m = maps(&[(1, 100000, 10), (1000, 200000, 5)]);
        assert!(check_mapped("u", &m, "uid", 0).is_err());
        assert!(check_mapped("u", &m, "uid", 1).is_ok());
        assert!(check_mapped("u", &m, "uid", 11).is_err());
        assert!(check_mapped("u", &m, "uid", 1004).is_ok());
    }

    #[test]
    fn map_file_text() {
        assert_eq!(
            map_text(&maps(&[(0, 100000, 65536), (65536, 1, 1)])),
            "0 100000 65536\n65536 1 1\n"
        );
    }
}
