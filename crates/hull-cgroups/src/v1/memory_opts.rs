//! v1 `memory` settings beyond the limits: swappiness, the OOM killer, kernel memory,
//! hierarchy accounting, and the check that a new limit is not below current usage.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::error::{CgroupError, Result};
use crate::fs;
use crate::stats::read_u64;

const SWAPPINESS: &str = "memory.swappiness";
const OOM_CONTROL: &str = "memory.oom_control";
const KMEM: &str = "memory.kmem.limit_in_bytes";
const KMEM_TCP: &str = "memory.kmem.tcp.limit_in_bytes";
const HIERARCHY: &str = "memory.use_hierarchy";

/// Whether any of the settings handled here is set.
pub(crate) fn any_set(m: &LinuxMemory) -> bool {
    m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true)
        || m.kernel().is_some_and(|k| k != 0)
        || m.kernel_tcp().is_some_and(|k| k != 0)
        || m.use_hierarchy() == Some(true)
}

/// Checks values that need no cgroup: swappiness is 0..=100 (runc's rule).
pub(crate) fn check(m: &LinuxMemory) -> Result<()> {
    match m.swappiness() {
        Some(s) if s > 100 => Err(CgroupError::invalid(
            "linux.resources.memory.swappiness",
            format!("{s} is above 100"),
        )),
        _ => Ok(()),
    }
}

/// With `checkBeforeUpdate`, refuses a new limit below what the cgroup uses now.
pub(crate) fn check_usage(dir: &Path, m: &LinuxMemory, limit: Option<i64>) -> Result<()> {
    let Some(limit) = limit.and_then(|l| u64::try_from(l).ok()) else {
        return Ok(());
    };
    if m.check_before_update() != Some(true) {
        return Ok(());
    }
    let usage = read_u64(dir, "memory.usage_in_bytes")?;
    if usage > limit {
        return Err(CgroupError::invalid(
            "linux.resources.memory.limit",
            format!("{limit} is below the current usage of {usage} bytes (checkBeforeUpdate)"),
        ));
    }
    Ok(())
}

/// Writes the settings that are set.
pub(crate) fn set(dir: &Path, m: &LinuxMemory) -> Result<()> {
    if let Some(s) = m.swappiness() {
        fs::write(dir, SWAPPINESS, &s.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        fs::write(dir, OOM_CONTROL, "1")?;
    }
    if let Some(k) = m.kernel().filter(|k| *k != 0) {
        kernel_limit(dir, KMEM, "linux.resources.memory.kernel", k);
    }
    if let Some(k) = m.kernel_tcp().filter(|k| *k != 0) {
        kernel_limit(dir, KMEM_TCP, "linux.resources.memory.kernelTCP", k);
    }
    if m.use_hierarchy() == Some(true) {
        use_hierarchy(dir)?;
    }
    Ok(())
}

/// Kernel memory limits are deprecated (Linux 5.4) and gone in newer kernels: as runc, a
/// kernel that lacks the file or refuses the write gets a warning, not an error.
fn kernel_limit(dir: &Path, file: &str, field: &str, v: i64) {
    if !fs::exists(dir, file) {
        tracing::warn!("{field}: ignored, this kernel has no {file}");
        return;
    }
    if let Err(e) = fs::write(dir, file, &v.to_string()) {
        tracing::warn!("{field}: ignored, the kernel refused it: {e}");
    }
}

/// Newer kernels always account hierarchically and refuse writes: fine if it reads 1.
fn use_hierarchy(dir: &Path) -> Result<()> {
    match fs::write(dir, HIERARCHY, "1") {
        Err(_) if fs::read(dir, HIERARCHY).is_ok_and(|v| v == "1") => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tests::TempDir;
    use oci_spec::runtime::LinuxMemoryBuilder;

    #[test]
    fn writes_options_and_skips_missing_kernel_files() {
        let t = TempDir::new("memopts");
        let d = t.files("c", &[SWAPPINESS, OOM_CONTROL, HIERARCHY]);
        let m = LinuxMemoryBuilder::default()
            .swappiness(30u64)
            .disable_oom_killer(true)
            .kernel(1 << 20)
            .use_hierarchy(true)
            .build()
            .unwrap();
        assert!(any_set(&m));
        set(&d, &m).unwrap();
        assert_eq!(fs::read(&d, SWAPPINESS).unwrap(), "30");
        assert_eq!(fs::read(&d, OOM_CONTROL).unwrap(), "1");
        assert!(!d.join(KMEM).exists());
    }

    #[test]
    fn swappiness_range_and_usage_check() {
        let bad = LinuxMemoryBuilder::default()
            .swappiness(101u64)
            .build()
            .unwrap();
        assert!(check(&bad).is_err());
        let t = TempDir::new("memcheck");
        let d = t.files("c", &[]);
        std::fs::write(d.join("memory.usage_in_bytes"), "5000\n").unwrap();
        let m = LinuxMemoryBuilder::default()
            .check_before_update(true)
            .build()
            .unwrap();
        let err = check_usage(&d, &m, Some(4096)).unwrap_err().to_string();
        assert!(err.contains("checkBeforeUpdate"), "{err}");
        check_usage(&d, &m, Some(8192)).unwrap();
        check_usage(&d, &m, Some(-1)).unwrap();
    }
}
