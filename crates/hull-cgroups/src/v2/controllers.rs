//! cgroup v2 controller delegation: `cgroup.controllers` / `cgroup.subtree_control`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::fs;

/// The controllers listed in `dir/cgroup.controllers` (available to `dir`).
pub(crate) fn available(dir: &Path) -> Result<BTreeSet<String>> {
    Ok(words(&fs::read(dir, "cgroup.controllers")?))
}

/// For every ancestor of `dir` from `mount` down to `dir`'s parent, enables each of
/// `needed` in its `cgroup.subtree_control` if that ancestor has it available and it is not
/// already enabled. Unavailable controllers are skipped (the caller reports them); a failing
/// write (e.g. EBUSY: the ancestor holds processes) is an error.
pub(crate) fn enable(mount: &Path, dir: &Path, needed: &BTreeSet<&str>) -> Result<()> {
    for anc in ancestors(mount, dir) {
        let avail = available(&anc)?;
        let enabled = words(&fs::read(&anc, "cgroup.subtree_control")?);
        for c in needed
            .iter()
            .filter(|c| avail.contains(**c) && !enabled.contains(**c))
        {
            fs::write(&anc, "cgroup.subtree_control", &format!("+{c}"))?;
        }
    }
    Ok(())
}

/// Like [`enable`] with every controller each ancestor has available, ignoring failures
/// (runc's `CreateCgroupPath`): a controller that cannot be enabled is only an error when a
/// limit needs it, and [`enable`] reports that.
pub(crate) fn enable_all(mount: &Path, dir: &Path) {
    for anc in ancestors(mount, dir) {
        let (Ok(avail), Ok(enabled)) = (available(&anc), fs::read(&anc, "cgroup.subtree_control"))
        else {
            continue;
        };
        let enabled = words(&enabled);
        for c in avail.iter().filter(|c| !enabled.contains(*c)) {
            let _ = fs::write(&anc, "cgroup.subtree_control", &format!("+{c}"));
        }
    }
}

/// `mount`, `mount/a`, `mount/a/b`, ... up to (not including) `dir`. Empty if `dir` is not
/// strictly below `mount`.
pub(crate) fn ancestors(mount: &Path, dir: &Path) -> Vec<PathBuf> {
    let Ok(rel) = dir.strip_prefix(mount) else {
        return Vec::new();
    };
    let comps: Vec<_> = rel.components().collect();
    let mut cur = mount.to_path_buf();
    let mut out = Vec::new();
    for c in comps.iter().take(comps.len().saturating_sub(1)) {
        out.push(cur.clone());
        cur.push(c);
    }
    if !comps.is_empty() {
        out.push(cur);
    }
    out
}

fn words(text: &str) -> BTreeSet<String> {
    text.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tests::TempDir;

    #[test]
    fn ancestors_stop_above_the_leaf() {
        let a = ancestors(Path::new("/m"), Path::new("/m/a/b"));
        assert_eq!(a, vec![PathBuf::from("/m"), PathBuf::from("/m/a")]);
        assert_eq!(
            ancestors(Path::new("/m"), Path::new("/m/a")),
            vec![PathBuf::from("/m")]
        );
        assert!(ancestors(Path::new("/m"), Path::new("/other")).is_empty());
    }

    #[test]
    fn enables_only_available_missing_controllers() {
        let t = TempDir::new("subtree");
        let root = t.files("", &["cgroup.controllers", "cgroup.subtree_control"]);
        std::fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        std::fs::write(root.join("cgroup.subtree_control"), "cpu\n").unwrap();
        let needed: BTreeSet<&str> = ["cpu", "memory", "io"].into_iter().collect();
        enable(&root, &root.join("leaf"), &needed).unwrap();
        // A fake file keeps only the last write: "+memory" (cpu already on, io unavailable).
        assert_eq!(
            fs::read(&root, "cgroup.subtree_control").unwrap(),
            "+memory"
        );
    }
}
