//! v1 `cpu` controller: shares and CFS quota/period.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::error::{CgroupError, Result};
use crate::fs;
use crate::resources::nonzero;

const SHARES: &str = "cpu.shares";
const PERIOD: &str = "cpu.cfs_period_us";
const QUOTA: &str = "cpu.cfs_quota_us";
const BURST: &str = "cpu.cfs_burst_us";
const RT_PERIOD: &str = "cpu.rt_period_us";
const RT_RUNTIME: &str = "cpu.rt_runtime_us";
const IDLE: &str = "cpu.idle";

/// Writes what is set (0 means unset): the real-time period then runtime, idle, shares,
/// period and quota, then the burst (which needs the quota in place). If the kernel
/// refuses the new period before the new quota is in place (EINVAL), the period is retried
/// after the quota, as runc does. Does not look up the directory when nothing is to be
/// written.
pub(crate) fn set<'a>(dir: impl FnOnce() -> Result<&'a Path>, c: &LinuxCpu) -> Result<()> {
    let shares = nonzero(c.shares());
    let period = nonzero(c.period());
    let quota = nonzero(c.quota()).map(quota_value);
    let burst = c.burst();
    let rt_period = nonzero(c.realtime_period());
    let rt_runtime = nonzero(c.realtime_runtime());
    let idle = c.idle();
    let extras = burst.is_some() || rt_period.is_some() || rt_runtime.is_some() || idle.is_some();
    if shares.is_none() && period.is_none() && quota.is_none() && !extras {
        return Ok(());
    }
    let dir = dir()?;
    if let Some(p) = rt_period {
        fs::write(dir, RT_PERIOD, &p.to_string())?;
    }
    if let Some(r) = rt_runtime {
        fs::write(dir, RT_RUNTIME, &r.to_string())?;
    }
    if let Some(i) = idle {
        fs::write(dir, IDLE, &i.to_string())?;
    }
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
    if let Some(p) = period_pending {
        fs::write(dir, PERIOD, &p.to_string())?;
    }
    match burst {
        Some(b) => fs::write(dir, BURST, &b.to_string()),
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
    fn writes_rt_idle_and_burst() {
        let t = TempDir::new("cpurt");
        let d = t.files("c", &[BURST, RT_PERIOD, RT_RUNTIME, IDLE, QUOTA]);
        let c = LinuxCpuBuilder::default()
            .realtime_period(1_000_000u64)
            .realtime_runtime(5000)
            .idle(1)
            .burst(1000u64)
            .quota(50_000)
            .build()
            .unwrap();
        set(|| Ok(d.as_path()), &c).unwrap();
        assert_eq!(fs::read(&d, RT_PERIOD).unwrap(), "1000000");
        assert_eq!(fs::read(&d, RT_RUNTIME).unwrap(), "5000");
        assert_eq!(fs::read(&d, IDLE).unwrap(), "1");
        assert_eq!(fs::read(&d, BURST).unwrap(), "1000");
    }

    #[test]
    fn cpuset_only_does_not_need_the_cpu_controller() {
        let c = LinuxCpuBuilder::default().cpus("0").build().unwrap();
        set(|| Err(CgroupError::NoCgroupFs("cpu".into())), &c).unwrap();
    }
}
