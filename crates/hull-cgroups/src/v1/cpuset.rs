//! v1 `cpuset` controller: creating directories usable at once, and cpus/mems limits.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::error::Result;
use crate::fs;

const CPUS: &str = "cpuset.cpus";
const MEMS: &str = "cpuset.mems";

/// Creates `dir` (below the cpuset `mount`) and any missing parent, walking down from the
/// mount; each directory on the way whose `cpuset.cpus`/`cpuset.mems` is empty gets its
/// parent's value, so a process can join. (A new v1 cpuset starts empty and refuses tasks.)
pub(crate) fn ensure(mount: &Path, dir: &Path) -> Result<()> {
    let Ok(rel) = dir.strip_prefix(mount) else {
        return fs::mkdir_all(dir);
    };
    let mut parent = mount.to_path_buf();
    for comp in rel.components() {
        let cur = parent.join(comp);
        fs::mkdir_all(&cur)?;
        copy_if_empty(&parent, &cur, CPUS)?;
        copy_if_empty(&parent, &cur, MEMS)?;
        parent = cur;
    }
    Ok(())
}

fn copy_if_empty(parent: &Path, dir: &Path, file: &str) -> Result<()> {
    if !fs::read(dir, file)?.is_empty() {
        return Ok(());
    }
    fs::write(dir, file, &fs::read(parent, file)?)
}

/// Writes `cpus` and `mems` when set and non-empty. Does not look up the directory when
/// nothing is to be written.
pub(crate) fn set<'a>(dir: impl FnOnce() -> Result<&'a Path>, c: &LinuxCpu) -> Result<()> {
    let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.is_empty());
    if cpus.is_none() && mems.is_none() {
        return Ok(());
    }
    let dir = dir()?;
    if let Some(v) = cpus {
        fs::write(dir, CPUS, v)?;
    }
    if let Some(v) = mems {
        fs::write(dir, MEMS, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tests::TempDir;

    #[test]
    fn fills_empty_values_from_the_parent_walking_down() {
        let t = TempDir::new("cpuset");
        let root = t.files("", &[CPUS, MEMS]);
        std::fs::write(root.join(CPUS), "0-3\n").unwrap();
        std::fs::write(root.join(MEMS), "0\n").unwrap();
        let a = t.files("a", &[CPUS, MEMS]);
        std::fs::write(a.join(CPUS), "1\n").unwrap();
        let b = t.files("a/b", &[CPUS, MEMS]);
        ensure(&root, &b).unwrap();
        assert_eq!(fs::read(&a, CPUS).unwrap(), "1", "non-empty value kept");
        assert_eq!(fs::read(&a, MEMS).unwrap(), "0");
        assert_eq!(
            fs::read(&b, CPUS).unwrap(),
            "1",
            "copied from the nearest parent"
        );
        assert_eq!(fs::read(&b, MEMS).unwrap(), "0");
    }
}
