//! Turning a [`CgroupConfig`] into one directory per hierarchy, with runc's cgroupfs rules.
//!
//! - absolute `cgroupsPath` ("/foo/bar"): relative to the hierarchy's mount point;
//! - relative `cgroupsPath` ("foo/bar"): under the calling process's own cgroup there;
//! - no `cgroupsPath`: `<own cgroup>/<name>`;
//! - on a v2-only host, "own cgroup" in the two rules above is its parent ([`v2_base`]).
//!
//! `..` may only move within the given path; a path that climbs above its starting point is
//! rejected, as is one that names the hierarchy root itself.

use std::path::PathBuf;

use crate::detect::Hierarchy;
use crate::error::{CgroupError, Result};
use crate::CgroupConfig;

/// Splits `path` into normal components, resolving `.` and `..`. Fails if `..` would climb
/// above the start.
pub(crate) fn clean(path: &str) -> Result<Vec<&str>> {
    let mut out: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(CgroupError::InvalidPath {
                        path: path.to_string(),
                        reason: "\"..\" climbs above where the path starts".into(),
                    });
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The absolute directory of the cgroup described by `cfg` in hierarchy `h`, given the
/// calling process's cgroup path `own` in that hierarchy (from `/proc/self/cgroup`).
/// Guarantees the result is strictly below `h.mount_point`.
pub(crate) fn resolve(h: &Hierarchy, own: Option<&str>, cfg: &CgroupConfig) -> Result<PathBuf> {
    let rel = match cfg.path.as_deref() {
        Some(p) if p.starts_with('/') => clean(p)?,
        Some(p) => [own_below_root(h, own)?, clean(p)?].concat(),
        None => [own_below_root(h, own)?, clean_name(&cfg.name)?].concat(),
    };
    if rel.is_empty() {
        let shown = cfg.path.clone().unwrap_or_else(|| cfg.name.clone());
        return Err(CgroupError::InvalidPath {
            path: shown,
            reason: format!("names the root of {}", h.mount_point.display()),
        });
    }
    Ok(rel.iter().fold(h.mount_point.clone(), |d, c| d.join(c)))
}

/// runc's cgroup v2 rule for where relative paths (and the default) start: the *parent* of
/// the caller's cgroup `own`, never above the mount root of `h`. On a v2-only host the
/// caller's own cgroup holds processes (a systemd scope or service), so no controller can be
/// enabled for a child of it ("no internal processes"); a sibling is created instead.
pub(crate) fn v2_base(h: &Hierarchy, own: Option<&str>) -> Option<String> {
    let own = own?;
    let comps = clean(own).ok()?;
    let root = clean(&h.mount_root).ok()?;
    if comps.len() <= root.len() {
        return Some(own.to_string());
    }
    Some(format!("/{}", comps[..comps.len() - 1].join("/")))
}

/// The container name used as the last component: must be one normal component.
fn clean_name(name: &str) -> Result<Vec<&str>> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(CgroupError::InvalidPath {
            path: name.to_string(),
            reason: "a cgroup name must be a single path component".into(),
        });
    }
    Ok(vec![name])
}

/// The calling process's cgroup in `h`, as components below the mount's root.
fn own_below_root<'a>(h: &'a Hierarchy, own: Option<&'a str>) -> Result<Vec<&'a str>> {
    let own = own.ok_or_else(|| CgroupError::InvalidPath {
        path: h.mount_point.display().to_string(),
        reason: "the calling process is not listed in this hierarchy in /proc/self/cgroup".into(),
    })?;
    let own = clean(own)?;
    let root = clean(&h.mount_root)?;
    match own.strip_prefix(root.as_slice()) {
        Some(rest) => Ok(rest.to_vec()),
        None => Err(CgroupError::InvalidPath {
            path: own.join("/"),
            reason: format!(
                "own cgroup is outside the mount root {:?} of {}",
                h.mount_root,
                h.mount_point.display()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{parse_mountinfo, parse_proc_cgroup};

    const MOUNTS: &str = "\
1 0 0:1 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
2 0 0:2 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
3 0 0:3 /docker/abc /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
";
    const OWN: &str = "3:pids:/docker/abc/inner\n2:memory:/process_api/X\n1:cpu:/\n";

    fn cfg(path: Option<&str>, name: &str) -> CgroupConfig {
        CgroupConfig {
            path: path.map(str::to_string),
            name: name.to_string(),
        }
    }

    fn dirs(c: &CgroupConfig) -> Result<Vec<PathBuf>> {
        let layout = parse_mountinfo(MOUNTS).unwrap();
        let own = parse_proc_cgroup(OWN).unwrap();
        layout
            .v1
            .iter()
            .map(|h| resolve(h, own.path_in(h), c))
            .collect()
    }

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn absent_path_goes_under_own_cgroup() {
        let d = dirs(&cfg(None, "t1")).unwrap();
        assert_eq!(d[0], p("/sys/fs/cgroup/cpu/t1"));
        assert_eq!(d[1], p("/sys/fs/cgroup/memory/process_api/X/t1"));
        assert_eq!(
            d[2],
            p("/sys/fs/cgroup/pids/inner/t1"),
            "mount root is stripped"
        );
    }

    #[test]
    fn absolute_path_is_from_mount_point() {
        let d = dirs(&cfg(Some("/foo/bar"), "t1")).unwrap();
        assert_eq!(d[0], p("/sys/fs/cgroup/cpu/foo/bar"));
        assert_eq!(d[1], p("/sys/fs/cgroup/memory/foo/bar"));
        assert_eq!(d[2], p("/sys/fs/cgroup/pids/foo/bar"));
    }

    #[test]
    fn relative_path_is_under_own_cgroup() {
        let d = dirs(&cfg(Some("foo/./x/../bar"), "t1")).unwrap();
        assert_eq!(d[0], p("/sys/fs/cgroup/cpu/foo/bar"));
        assert_eq!(d[1], p("/sys/fs/cgroup/memory/process_api/X/foo/bar"));
    }

    #[test]
    fn escaping_paths_are_rejected() {
        for bad in ["/../etc", "../x", "a/../../b", "/"] {
            let err = dirs(&cfg(Some(bad), "t1")).unwrap_err();
            assert!(
                matches!(err, CgroupError::InvalidPath { .. }),
                "{bad}: {err}"
            );
        }
        for bad in ["", "..", "a/b"] {
            assert!(dirs(&cfg(None, bad)).is_err(), "name {bad:?}");
        }
    }

    #[test]
    fn missing_membership_is_an_error_only_when_needed() {
        let layout = parse_mountinfo(MOUNTS).unwrap();
        let h = &layout.v1[0];
        assert!(resolve(h, None, &cfg(None, "t")).is_err());
        assert!(resolve(h, None, &cfg(Some("/abs"), "t")).is_ok());
    }

    #[test]
    fn v2_relative_paths_start_beside_own_cgroup() {
        let text = "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let layout = parse_mountinfo(text).unwrap();
        let h = layout.unified.as_ref().unwrap();
        assert_eq!(
            v2_base(h, Some("/user.slice/s.scope")).as_deref(),
            Some("/user.slice")
        );
        assert_eq!(v2_base(h, Some("/runner")).as_deref(), Some("/"));
        assert_eq!(v2_base(h, Some("/")).as_deref(), Some("/"));
        assert_eq!(v2_base(h, None), None);
        let text = "1 0 0:1 /ns /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let layout = parse_mountinfo(text).unwrap();
        let h = layout.unified.as_ref().unwrap();
        assert_eq!(
            v2_base(h, Some("/ns")).as_deref(),
            Some("/ns"),
            "not above the root"
        );
        let base = v2_base(h, Some("/ns/a"));
        assert_eq!(base.as_deref(), Some("/ns"));
        let d = resolve(h, base.as_deref(), &cfg(None, "t")).unwrap();
        assert_eq!(d, p("/sys/fs/cgroup/t"));
    }

    #[test]
    fn own_cgroup_outside_mount_root_is_rejected() {
        let layout = parse_mountinfo(MOUNTS).unwrap();
        let err = resolve(&layout.v1[2], Some("/elsewhere"), &cfg(None, "t")).unwrap_err();
        assert!(err.to_string().contains("outside the mount root"), "{err}");
    }
}
