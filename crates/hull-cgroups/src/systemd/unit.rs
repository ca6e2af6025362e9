//! Which systemd unit a `slice:prefix:name` cgroupsPath names, and where systemd puts it.
//!
//! Pure string work, as systemd itself does it (`unit_name_is_valid`, `slice_build_subslice`
//! and `cg_slice_to_path` in systemd's sources): no D-Bus, no file system.

use crate::error::{CgroupError, Result};

/// The longest unit name systemd accepts (`UNIT_NAME_MAX`).
const UNIT_NAME_MAX: usize = 255;

/// A transient unit for a cgroup: a scope placed in a slice, or a slice of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnitSpec {
    /// The unit's name, `<prefix>-<name>.scope` (or `<name>.scope` without a prefix), or the
    /// `.slice` name given.
    pub name: String,
    /// The slice the unit goes in (`Slice=` of a scope, `Wants=` of a slice), valid.
    pub slice: String,
}

impl UnitSpec {
    /// Whether the unit is a slice (it takes no `PIDs`; its process joins through cgroupfs).
    pub fn is_slice(&self) -> bool {
        self.name.ends_with(".slice")
    }
}

/// Parses a `--systemd-cgroup` cgroupsPath as runc does: `slice:prefix:name`, with an
/// empty path meaning `<default_slice>:hull:<id>` and an empty slice `default_slice`.
/// A `name` ending in `.slice` asks for a slice unit. Anything else, or a part that is not
/// a valid unit name, is an error naming `path`, never replaced by a default.
pub(crate) fn parse(path: &str, id: &str, default_slice: &str) -> Result<UnitSpec> {
    let bad = |reason: String| CgroupError::InvalidPath {
        path: path.to_string(),
        reason,
    };
    let (slice, prefix, name) = if path.is_empty() {
        (default_slice, "hull", id)
    } else {
        let parts: Vec<&str> = path.split(':').collect();
        match parts.as_slice() {
            [slice, prefix, name] => (*slice, *prefix, *name),
            _ => return Err(bad(
                "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups"
                    .into(),
            )),
        }
    };
    let slice = if slice.is_empty() {
        default_slice
    } else {
        slice
    };
    if name.is_empty() {
        return Err(bad("the name part of \"slice:prefix:name\" is empty".into()));
    }
    check_slice(slice).map_err(|r| bad(format!("slice {slice:?}: {r}")))?;
    let unit = if name.ends_with(".slice") {
        if !prefix.is_empty() {
            return Err(bad(format!(
                "a slice unit ({name:?}) takes no prefix (got {prefix:?})"
            )));
        }
        check_slice(name).map_err(|r| bad(format!("slice {name:?}: {r}")))?;
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    check_unit_name(&unit).map_err(|r| bad(format!("unit {unit:?}: {r}")))?;
    Ok(UnitSpec {
        name: unit,
        slice: slice.to_string(),
    })
}

/// The cgroup directory (from the manager's root) of a slice, as systemd lays slices out:
/// `a-b-c.slice` is `/a.slice/a-b.slice/a-b-c.slice`, and `-.slice` (the root slice) is `/`.
pub(crate) fn slice_path(slice: &str) -> Result<String> {
    check_slice(slice).map_err(|reason| CgroupError::InvalidPath {
        path: slice.to_string(),
        reason,
    })?;
    if slice == "-.slice" {
        return Ok("/".into());
    }
    let stem = &slice[..slice.len() - ".slice".len()];
    let mut path = String::new();
    for (i, _) in stem.match_indices('-') {
        path.push('/');
        path.push_str(&stem[..i]);
        path.push_str(".slice");
    }
    path.push('/');
    path.push_str(slice);
    Ok(path)
}

/// The cgroup directory (from the manager's root) systemd gives `unit`: a scope under its
/// slice's directory, a slice where [`slice_path`] puts it.
pub(crate) fn unit_path(unit: &UnitSpec) -> Result<String> {
    if unit.is_slice() {
        return slice_path(&unit.name);
    }
    let parent = slice_path(&unit.slice)?;
    Ok(format!("{}/{}", parent.trim_end_matches('/'), unit.name))
}

/// A slice name systemd accepts: a valid unit name ending in `.slice` whose stem has no
/// leading, trailing or doubled dash (the dashes say where the parent slices are).
fn check_slice(slice: &str) -> std::result::Result<(), String> {
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err("a slice name ends in \".slice\"".into());
    };
    check_unit_name(slice)?;
    if stem == "-" {
        return Ok(());
    }
    if stem.is_empty() || stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
        return Err("a dash may not start or end a slice name, nor follow another".into());
    }
    Ok(())
}

/// systemd's unit name rules: at most 255 bytes of `[A-Za-z0-9:_.\-@\\]`, with a type suffix.
fn check_unit_name(name: &str) -> std::result::Result<(), String> {
    if name.len() > UNIT_NAME_MAX {
        return Err(format!("longer than {UNIT_NAME_MAX} bytes"));
    }
    let stem = name.rsplit_once('.').map_or("", |(s, _)| s);
    if stem.is_empty() {
        return Err("empty unit name".into());
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c);
    if let Some(c) = name.chars().find(|c| !ok(*c)) {
        return Err(format!("{c:?} is not allowed in a unit name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(path: &str) -> Result<UnitSpec> {
        parse(path, "c1", "system.slice")
    }

    #[test]
    fn slices_expand_to_their_parents() {
        assert_eq!(slice_path("-.slice").unwrap(), "/");
        assert_eq!(slice_path("system.slice").unwrap(), "/system.slice");
        assert_eq!(
            slice_path("a-b-c.slice").unwrap(),
            "/a.slice/a-b.slice/a-b-c.slice"
        );
        assert_eq!(
            slice_path("kubepods-besteffort-pod1.slice").unwrap(),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice"
        );
        for bad in [
            "a",
            "-a.slice",
            "a-.slice",
            "a--b.slice",
            ".slice",
            "a/b.slice",
        ] {
            assert!(slice_path(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn cgroups_paths_name_scopes_in_slices() {
        let u = unit("system.slice:cri-containerd:abc").unwrap();
        assert_eq!(u.name, "cri-containerd-abc.scope");
        assert_eq!(
            unit_path(&u).unwrap(),
            "/system.slice/cri-containerd-abc.scope"
        );
        let u = unit(":docker:abc").unwrap();
        assert_eq!(u.slice, "system.slice");
        assert_eq!(u.name, "docker-abc.scope");
        let u = unit("").unwrap();
        assert_eq!(unit_path(&u).unwrap(), "/system.slice/hull-c1.scope");
        let u = unit("kubepods-burstable-pod9.slice::x").unwrap();
        assert_eq!(u.name, "x.scope");
        assert_eq!(
            unit_path(&u).unwrap(),
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod9.slice/x.scope"
        );
        let u = unit("-.slice:p:n").unwrap();
        assert_eq!(unit_path(&u).unwrap(), "/p-n.scope");
        assert_eq!(parse("", "c2", "user.slice").unwrap().slice, "user.slice");
    }

    #[test]
    fn a_slice_name_asks_for_a_slice_unit() {
        let u = unit("machine.slice::machine-pod1.slice").unwrap();
        assert!(u.is_slice());
        assert_eq!(u.slice, "machine.slice");
        assert_eq!(unit_path(&u).unwrap(), "/machine.slice/machine-pod1.slice");
        assert!(unit("machine.slice:p:machine-pod1.slice").is_err());
    }

    #[test]
    fn malformed_paths_are_errors_naming_them() {
        for bad in [
            "/sys/fs/cgroup/foo",
            "a:b",
            "a:b:c:d",
            "system.slice:p:",
            "system:p:n",
            "system.slice:p/q:n",
            "system.slice:p:n m",
        ] {
            let e = unit(bad).expect_err(bad).to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let long = format!("system.slice:p:{}", "x".repeat(300));
        assert!(unit(&long).is_err());
    }
}
