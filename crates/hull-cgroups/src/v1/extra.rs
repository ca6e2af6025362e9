//! v1 controllers with one setting each: `hugetlb`, `net_cls`, `net_prio` and `rdma`.
//! Each is used only when its field is set; an unmounted controller is then an error
//! naming the field (see `V1Manager::dir`).

use std::path::Path;

use oci_spec::runtime::{LinuxNetwork, LinuxResources};

use crate::error::Result;
use crate::fs;
use crate::resources::{hugepage_limits, rdma_lines};
use crate::stats::hugepage_sizes;

/// Looks up a controller's directory, failing with the field that needs it.
pub(crate) type Lookup<'a> = &'a dyn Fn(&str, &str) -> Result<&'a Path>;

/// Writes huge page, network and RDMA limits that are set.
pub(crate) fn set(dir: Lookup<'_>, res: &LinuxResources) -> Result<()> {
    let huge = res.hugepage_limits().as_deref().unwrap_or_default();
    if !huge.is_empty() {
        let limits = hugepage_limits(huge, &hugepage_sizes())?;
        let d = dir("hugetlb", "linux.resources.hugepageLimits")?;
        for (size, limit) in limits {
            hugetlb(d, &size, limit)?;
        }
    }
    if let Some(n) = res.network() {
        network(dir, n)?;
    }
    let lines = res.rdma().as_ref().map(rdma_lines).unwrap_or_default();
    if !lines.is_empty() {
        let d = dir("rdma", "linux.resources.rdma")?;
        lines.iter().try_for_each(|l| fs::write(d, "rdma.max", l))?;
    }
    Ok(())
}

/// `hugetlb.<size>.limit_in_bytes`, and the reservation limit too where the kernel has it.
fn hugetlb(dir: &Path, size: &str, limit: i64) -> Result<()> {
    let v = if limit < 0 {
        "-1".to_string()
    } else {
        limit.to_string()
    };
    fs::write(dir, &format!("hugetlb.{size}.limit_in_bytes"), &v)?;
    let rsvd = format!("hugetlb.{size}.rsvd.limit_in_bytes");
    if fs::exists(dir, &rsvd) {
        fs::write(dir, &rsvd, &v)?;
    }
    Ok(())
}

/// `net_cls.classid` and one `net_prio.ifpriomap` line per interface.
fn network(dir: Lookup<'_>, n: &LinuxNetwork) -> Result<()> {
    if let Some(id) = n.class_id() {
        fs::write(
            dir("net_cls", "linux.resources.network.classID")?,
            "net_cls.classid",
            &id.to_string(),
        )?;
    }
    let prios = n.priorities().as_deref().unwrap_or_default();
    if prios.is_empty() {
        return Ok(());
    }
    let d = dir("net_prio", "linux.resources.network.priorities")?;
    prios.iter().try_for_each(|p| {
        fs::write(
            d,
            "net_prio.ifpriomap",
            &format!("{} {}", p.name(), p.priority()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CgroupError;
    use crate::fs::tests::TempDir;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn writes_network_and_rdma() {
        let t = TempDir::new("v1extra");
        let d = t.files("c", &["net_cls.classid", "net_prio.ifpriomap", "rdma.max"]);
        let lookup = |_: &str, _: &str| -> Result<&Path> { Ok(d.as_path()) };
        let r = res(
            r#"{"network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
                "rdma": {"mlx4_0": {"hcaHandles": 2}}}"#,
        );
        set(&lookup, &r).unwrap();
        assert_eq!(fs::read(&d, "net_cls.classid").unwrap(), "1048577");
        assert_eq!(fs::read(&d, "net_prio.ifpriomap").unwrap(), "eth0 5");
        assert_eq!(fs::read(&d, "rdma.max").unwrap(), "mlx4_0 hca_handle=2");
    }

    #[test]
    fn unmounted_controller_names_the_field() {
        let lookup = |c: &str, f: &str| -> Result<&Path> {
            Err(CgroupError::unsupported(
                f,
                format!("the {c} cgroup is not mounted"),
            ))
        };
        let err = set(&lookup, &res(r#"{"network": {"classID": 1}}"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("network.classID"), "{err}");
        assert!(err.contains("net_cls"), "{err}");
    }
}
