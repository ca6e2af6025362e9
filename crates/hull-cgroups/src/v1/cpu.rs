//! v1 `cpu` controller: shares and CFS quota/period.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::error::{CgroupError, Result};
use crate::fs;
use crate::resources::nonzero;

const SHARES: &str = "cpu.shares";
const PERIOD: &str = "cpu.cfs_period_us";
const QUOTA: &str = "cpu.cfs_quota_us";

/// Writes shares, period and quota that are set (0 means unset). If the kernel refuses the
/// new period before the new quota is in place (EINVAL), the period is retried after the
/// quota, as runc does. Does not look up the directory when nothing is to be written.
pub(crate) fn set<'a>(dir: impl FnOnce() -> Result<&'a Path>, c: &LinuxCpu) -> Result<()> {
    let shares = nonzero(c.shares());
    let period = nonzero(c.period());
    let quota = nonzero(c.quota()).map(quota_value);
    if shares.is_none() && period.is_none() && quota.is_none() {
        return Ok(());
    }
    let dir = dir()?;
    if let Some(s) = shares {
        fs::write(dir, SHARES, &s.to_string())?;
    }
    let mut period_pending = None;
    if let Some(p) = period {
        match fs::write(dir, PERIOD, &p.to_string()) {
            Err(e) if is_einval(&e) && quota.is_some() => period_pending = Some(p),
            other => other?,
        }
    }
    if let Some(q) = quota {
        fs::write(dir, QUOTA, &q)?;
    }
    match period_pending {
        Some(p) => fs::write(dir, PERIOD, &p.to_string()),
        None => Ok(()),
    }
}

/// `cpu.cfs_quota_us` for an OCI quota: any negative value means unlimited, written "-1".
pub(crate) fn quota_value(quota: i64) -> String {
    if quota < 0 {
        "-1".into()
    } else {
        quota.to_string()
    }
}

fn is_einval(e: &CgroupError) -> bool {
    matches!(e, CgroupError::Io { source, .. } if source.raw_os_error() == Some(libc::EINVAL))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tests::TempDir;
    use oci_spec::runtime::LinuxCpuBuilder;

    #[test]
    fn quota_values() {
        assert_eq!(quota_value(-1), "-1");
        assert_eq!(quota_value(-7), "-1");
        assert_eq!(quota_value(50000), "50000");
    }

    #[test]
    fn writes_shares_quota_period() {
        let t = TempDir::new("cpu");
        let d = t.files("c", &[SHARES, PERIOD, QUOTA]);
        let c = LinuxCpuBuilder::default()
            .shares(512u64)
            .quota(-1)
            .period(100000u64)
            .build()
            .unwrap();
        set(|| Ok(d.as_path()), &c).unwrap();
        assert_eq!(fs::read(&d, SHARES).unwrap(), "512");
        assert_eq!(fs::read(&d, QUOTA).unwrap(), "-1");
        assert_eq!(fs::read(&d, PERIOD).unwrap(), "100000");
    }

    #[test]
    fn cpuset_only_does_not_need_the_cpu_controller() {
        let c = LinuxCpuBuilder::default().cpus("0").build().unwrap();
        set(|| Err(CgroupError::NoCgroupFs("cpu".into())), &c).unwrap();
    }
}
