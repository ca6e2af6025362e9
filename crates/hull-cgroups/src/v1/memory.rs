//! v1 `memory` controller: limit, soft limit (reservation) and memory+swap limit.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use super::memory_opts;
use crate::error::{CgroupError, Result};
use crate::fs;
use crate::resources::{check_bytes, nonzero};

const LIMIT: &str = "memory.limit_in_bytes";
const SOFT: &str = "memory.soft_limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";
const F_LIMIT: &str = "linux.resources.memory.limit";
const F_SWAP: &str = "linux.resources.memory.swap";
const F_RES: &str = "linux.resources.memory.reservation";

/// Writes the memory limits that are set (0 means unset). A limit of -1 with no swap set
/// also makes swap unlimited, as runc does. Limit and memory+swap are written in the order
/// the kernel accepts (memory+swap may never be below the limit).
pub(crate) fn set<'a>(dir: impl FnOnce() -> Result<&'a Path>, m: &LinuxMemory) -> Result<()> {
    let limit = nonzero(m.limit())
        .map(|v| check_bytes(F_LIMIT, v))
        .transpose()?;
    let swap = nonzero(m.swap())
        .map(|v| check_bytes(F_SWAP, v))
        .transpose()?;
    let soft = nonzero(m.reservation())
        .map(|v| check_bytes(F_RES, v))
        .transpose()?;
    if let (Some(l), Some(s)) = (limit, swap) {
        if l > 0 && s > 0 && s < l {
            return Err(CgroupError::invalid(
                F_SWAP,
                "memory+swap must not be below memory.limit",
            ));
        }
    }
    memory_opts::check(m)?;
    if limit.is_none() && swap.is_none() && soft.is_none() && !memory_opts::any_set(m) {
        return Ok(());
    }
    let dir = dir()?;
    memory_opts::check_usage(dir, m, limit)?;
    set_limit_and_swap(dir, limit, swap)?;
    if let Some(s) = soft {
        fs::write(dir, SOFT, &s.to_string())?;
    }
    memory_opts::set(dir, m)
}

fn set_limit_and_swap(dir: &Path, limit: Option<i64>, swap: Option<i64>) -> Result<()> {
    let has_memsw = fs::exists(dir, MEMSW);
    let swap = match (limit, swap) {
        (Some(-1), None) if has_memsw => Some(-1),
        // unlimited swap without swap accounting: nothing to write
        (_, Some(-1)) if !has_memsw => None,
        _ => swap,
    };
    if swap.is_some() && !has_memsw {
        return Err(CgroupError::unsupported(
            F_SWAP,
            format!("swap accounting is off (no {MEMSW} in {})", dir.display()),
        ));
    }
    match (limit, swap) {
        (Some(l), Some(s)) if swap_first(current_limit(dir)?, s) => {
            fs::write(dir, MEMSW, &s.to_string())?;
            fs::write(dir, LIMIT, &l.to_string())
        }
        (Some(l), Some(s)) => {
            fs::write(dir, LIMIT, &l.to_string())?;
            fs::write(dir, MEMSW, &s.to_string())
        }
        (Some(l), None) => fs::write(dir, LIMIT, &l.to_string()),
        (None, Some(s)) => fs::write(dir, MEMSW, &s.to_string()),
        (None, None) => Ok(()),
    }
}

fn current_limit(dir: &Path) -> Result<u64> {
    let text = fs::read(dir, LIMIT)?;
    if text == "-1" {
        return Ok(u64::MAX);
    }
    text.parse().map_err(|_| CgroupError::Parse {
        what: "memory limit",
        path: dir.join(LIMIT),
        detail: text,
    })
}

/// Whether memory+swap must be written before the limit: when raising it above the current
/// limit (or to unlimited), the limit can only follow; otherwise the limit goes first.
pub(crate) fn swap_first(current_limit: u64, new_swap: i64) -> bool {
    new_swap == -1 || u64::try_from(new_swap).is_ok_and(|s| current_limit < s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tests::TempDir;
    use oci_spec::runtime::LinuxMemoryBuilder;

    #[test]
    fn swap_order() {
        assert!(swap_first(1 << 20, -1));
        assert!(swap_first(1 << 20, 2 << 20));
        assert!(!swap_first(4 << 20, 2 << 20));
    }

    fn mem(limit: i64, swap: i64, res: i64) -> LinuxMemory {
        let b = LinuxMemoryBuilder::default();
        b.limit(limit).swap(swap).reservation(res).build().unwrap()
    }

    #[test]
    fn writes_values_and_unlimited_swap() {
        let t = TempDir::new("mem");
        let d = t.files("c", &[LIMIT, SOFT, MEMSW]);
        std::fs::write(d.join(LIMIT), "9223372036854771712\n").unwrap();
        set(|| Ok(d.as_path()), &mem(-1, 0, 1024)).unwrap();
        assert_eq!(fs::read(&d, LIMIT).unwrap(), "-1");
        assert_eq!(fs::read(&d, MEMSW).unwrap(), "-1");
        assert_eq!(fs::read(&d, SOFT).unwrap(), "1024");
        set(|| Ok(d.as_path()), &mem(1 << 20, 2 << 20, 0)).unwrap();
        assert_eq!(fs::read(&d, LIMIT).unwrap(), "1048576");
        assert_eq!(fs::read(&d, MEMSW).unwrap(), "2097152");
    }

    #[test]
    fn rejects_bad_values_before_touching_anything() {
        let unreachable = || -> Result<&'static Path> { panic!("dir must not be needed") };
        assert!(set(unreachable, &mem(-5, 0, 0)).is_err());
        let err = set(unreachable, &mem(2 << 20, 1 << 20, 0)).unwrap_err();
        assert!(err.to_string().contains("memory.swap"), "{err}");
        set(unreachable, &mem(0, 0, 0)).unwrap();
    }

    #[test]
    fn swap_without_accounting_is_unsupported() {
        let t = TempDir::new("memsw");
        let d = t.files("c", &[LIMIT, SOFT]);
        let err = set(|| Ok(d.as_path()), &mem(0, 1 << 20, 0)).unwrap_err();
        assert!(matches!(err, CgroupError::Unsupported { .. }), "{err}");
    }
}
