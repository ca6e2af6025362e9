//! Which OCI resource fields hull applies, and value rules shared by v1 and v2.
//!
//! `check_supported` runs before anything is written, so an unsupported field never leaves
//! a half-configured cgroup. To support a new field: remove it from the lists here and add
//! its write to the group's file in `v1/` and/or `v2/`.

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use crate::error::{CgroupError, Result};
use crate::Mode;

/// Fails with [`CgroupError::Unsupported`] naming the first set field that `mode` cannot
/// apply. Unset fields, empty lists and `false` flags count as not set.
pub(crate) fn check_supported(res: &LinuxResources, mode: Mode) -> Result<()> {
    let mut bad = Vec::new();
    if let Some(m) = res.memory() {
        bad.extend(memory_unsupported(m));
    }
    if let Some(c) = res.cpu() {
        bad.extend(cpu_unsupported(c));
    }
    if let Some(b) = res.block_io() {
        bad.extend(blkio_unsupported(b));
    }
    bad.extend(top_unsupported(res, mode));
    match bad.first() {
        None => Ok(()),
        Some(field) => Err(CgroupError::unsupported(
            &format!("linux.resources.{field}"),
            format!("not implemented by hull for cgroup {mode:?}"),
        )),
    }
}

fn memory_unsupported(m: &LinuxMemory) -> Vec<&'static str> {
    let mut v = Vec::new();
    push_if(&mut v, m.kernel().is_some(), "memory.kernel");
    push_if(&mut v, m.kernel_tcp().is_some(), "memory.kernelTCP");
    push_if(&mut v, m.swappiness().is_some(), "memory.swappiness");
    push_if(
        &mut v,
        m.disable_oom_killer() == Some(true),
        "memory.disableOOMKiller",
    );
    push_if(
        &mut v,
        m.use_hierarchy() == Some(true),
        "memory.useHierarchy",
    );
    push_if(
        &mut v,
        m.check_before_update() == Some(true),
        "memory.checkBeforeUpdate",
    );
    v
}

fn cpu_unsupported(c: &LinuxCpu) -> Vec<&'static str> {
    let mut v = Vec::new();
    push_if(&mut v, c.idle().is_some_and(|i| i != 0), "cpu.idle");
    push_if(&mut v, c.burst().is_some(), "cpu.burst");
    push_if(
        &mut v,
        c.realtime_runtime().is_some(),
        "cpu.realtimeRuntime",
    );
    push_if(&mut v, c.realtime_period().is_some(), "cpu.realtimePeriod");
    v
}

fn blkio_unsupported(b: &LinuxBlockIo) -> Vec<&'static str> {
    let mut v = Vec::new();
    push_if(&mut v, b.leaf_weight().is_some(), "blockIO.leafWeight");
    push_if(&mut v, non_empty(b.weight_device()), "blockIO.weightDevice");
    let throttles = [
        (
            b.throttle_read_bps_device(),
            "blockIO.throttleReadBpsDevice",
        ),
        (
            b.throttle_write_bps_device(),
            "blockIO.throttleWriteBpsDevice",
        ),
        (
            b.throttle_read_iops_device(),
            "blockIO.throttleReadIOPSDevice",
        ),
        (
            b.throttle_write_iops_device(),
            "blockIO.throttleWriteIOPSDevice",
        ),
    ];
    for (list, name) in throttles {
        push_if(&mut v, non_empty(list), name);
    }
    v
}

fn top_unsupported(res: &LinuxResources, mode: Mode) -> Vec<&'static str> {
    let mut v = Vec::new();
    push_if(&mut v, non_empty(res.hugepage_limits()), "hugepageLimits");
    let net = res.network().as_ref();
    let net_set = net.is_some_and(|n| n.class_id().is_some() || non_empty(n.priorities()));
    push_if(&mut v, net_set, "network");
    push_if(
        &mut v,
        res.rdma().as_ref().is_some_and(|r| !r.is_empty()),
        "rdma",
    );
    let unified = res.unified().as_ref().is_some_and(|u| !u.is_empty());
    push_if(&mut v, unified && mode != Mode::Unified, "unified");
    let devices = non_empty(res.devices());
    push_if(&mut v, devices && mode == Mode::Unified, "devices");
    v
}

fn push_if(v: &mut Vec<&'static str>, cond: bool, name: &'static str) {
    if cond {
        v.push(name);
    }
}

fn non_empty<T>(list: &Option<Vec<T>>) -> bool {
    list.as_ref().is_some_and(|l| !l.is_empty())
}

/// `pids.max` for an OCI pids limit (same on v1 and v2): 0 means "leave alone" (`None`),
/// negative means unlimited (`"max"`).
pub(crate) fn pids_max(limit: i64) -> Option<String> {
    match limit {
        0 => None,
        l if l < 0 => Some("max".into()),
        l => Some(l.to_string()),
    }
}

/// An OCI value where 0 means unset: `None` for 0, the value otherwise.
pub(crate) fn nonzero<T: Default + PartialEq>(v: Option<T>) -> Option<T> {
    v.filter(|x| *x != T::default())
}

/// Checks a byte limit: -1 (unlimited) or positive.
pub(crate) fn check_bytes(field: &str, v: i64) -> Result<i64> {
    if v < -1 {
        return Err(CgroupError::invalid(
            field,
            format!("{v} is neither -1 (unlimited) nor a byte count"),
        ));
    }
    Ok(v)
}

/// Checks an OCI blkio weight is in the kernel's range 10..=1000.
pub(crate) fn check_blkio_weight(w: u16) -> Result<()> {
    if (10..=1000).contains(&w) {
        return Ok(());
    }
    Err(CgroupError::invalid(
        "linux.resources.blockIO.weight",
        format!("{w} is outside 10..=1000"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxMemoryBuilder,
        LinuxResourcesBuilder,
    };

    #[test]
    fn supported_fields_pass() {
        let res = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(1 << 20)
                    .disable_oom_killer(false)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(512u64)
                    .quota(-1)
                    .build()
                    .unwrap(),
            )
            .block_io(
                LinuxBlockIoBuilder::default()
                    .weight(500u16)
                    .build()
                    .unwrap(),
            )
            .hugepage_limits(vec![])
            .build()
            .unwrap();
        check_supported(&res, Mode::V1).unwrap();
        check_supported(&res, Mode::Unified).unwrap();
    }

    #[test]
    fn unsupported_fields_are_named() {
        let res = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().kernel(1).build().unwrap())
            .build()
            .unwrap();
        let err = check_supported(&res, Mode::V1).unwrap_err().to_string();
        assert!(err.contains("linux.resources.memory.kernel"), "{err}");

        let res = LinuxResourcesBuilder::default()
            .devices(vec![LinuxDeviceCgroupBuilder::default().build().unwrap()])
            .build()
            .unwrap();
        check_supported(&res, Mode::Hybrid).unwrap();
        let err = check_supported(&res, Mode::Unified)
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux.resources.devices"), "{err}");
    }

    #[test]
    fn pids_values() {
        assert_eq!(pids_max(0), None);
        assert_eq!(pids_max(-1).as_deref(), Some("max"));
        assert_eq!(pids_max(10).as_deref(), Some("10"));
    }

    #[test]
    fn blkio_weight_range() {
        assert!(check_blkio_weight(10).is_ok());
        assert!(check_blkio_weight(1000).is_ok());
        assert!(check_blkio_weight(5).is_err());
        assert!(check_blkio_weight(1001).is_err());
    }

    #[test]
    fn byte_limits() {
        assert_eq!(check_bytes("f", -1).unwrap(), -1);
        assert!(check_bytes("f", -2).is_err());
        assert_eq!(nonzero(Some(0i64)), None);
        assert_eq!(nonzero(Some(5i64)), Some(5));
    }
}
