//! Which OCI resource fields hull applies, and value rules shared by v1 and v2.
//!
//! `check_supported` runs before anything is written, so an unsupported field never leaves
//! a half-configured cgroup. To support a new field: remove it from the lists here and add
//! its write to the group's file in `v1/` and/or `v2/`.

use std::collections::HashMap;

use oci_spec::runtime::{LinuxHugepageLimit, LinuxRdma, LinuxResources};

use crate::error::{CgroupError, Result};
use crate::Mode;

/// Fails with [`CgroupError::Unsupported`] naming the first set field that `mode` cannot
/// apply. Unset fields, empty lists and `false` flags count as not set. Fields that runc
/// ignores on a mode (e.g. kernel memory on v2) are not errors: the writers warn instead.
pub(crate) fn check_supported(res: &LinuxResources, mode: Mode) -> Result<()> {
    let bad = if mode == Mode::Unified {
        v2_unsupported(res)
    } else {
        v1_unsupported(res)
    };
    match bad.first() {
        None => Ok(()),
        Some((field, why)) => Err(CgroupError::unsupported(
            &format!("linux.resources.{field}"),
            *why,
        )),
    }
}

type Bad = Vec<(&'static str, &'static str)>;

fn v1_unsupported(res: &LinuxResources) -> Bad {
    let mut v = Vec::new();
    let unified = res.unified().as_ref().is_some_and(|u| !u.is_empty());
    push_if(
        &mut v,
        unified,
        "unified",
        "invalid configuration: cannot use unified on cgroup v1 (its files are cgroup v2's)",
    );
    v
}

fn v2_unsupported(res: &LinuxResources) -> Bad {
    let mut v = Vec::new();
    let cpu = res.cpu().as_ref();
    let rt = cpu.is_some_and(|c| {
        nonzero(c.realtime_runtime()).is_some() || nonzero(c.realtime_period()).is_some()
    });
    push_if(
        &mut v,
        rt,
        "cpu.realtimeRuntime",
        "cgroup v2 has no real-time CPU bandwidth (cpu.rt_*) files",
    );
    let net = res.network().as_ref();
    let net_set = net.is_some_and(|n| n.class_id().is_some() || non_empty(n.priorities()));
    push_if(
        &mut v,
        net_set,
        "network",
        "net_cls/net_prio exist only in cgroup v1",
    );
    v
}

fn push_if(v: &mut Bad, cond: bool, name: &'static str, why: &'static str) {
    if cond {
        v.push((name, why));
    }
}

pub(crate) fn non_empty<T>(list: &Option<Vec<T>>) -> bool {
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

/// `rdma.max` lines (runc's format): `<device> hca_handle=N hca_object=M`, the absent
/// counts left out, devices sorted.
pub(crate) fn rdma_lines(map: &HashMap<String, LinuxRdma>) -> Vec<String> {
    let mut devs: Vec<&String> = map.keys().collect();
    devs.sort();
    devs.into_iter()
        .map(|d| {
            let mut line = d.clone();
            if let Some(h) = map[d].hca_handles() {
                line.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = map[d].hca_objects() {
                line.push_str(&format!(" hca_object={o}"));
            }
            line
        })
        .collect()
}

/// The huge page limits as `(size, bytes)`, each size checked against the host's `sizes`
/// (so a typo is a clear error, not a missing-file one). A negative limit is unlimited.
pub(crate) fn hugepage_limits(
    list: &[LinuxHugepageLimit],
    sizes: &[String],
) -> Result<Vec<(String, i64)>> {
    list.iter()
        .enumerate()
        .map(|(i, h)| {
            if !sizes.iter().any(|s| s == h.page_size()) {
                return Err(CgroupError::invalid(
                    &format!("linux.resources.hugepageLimits[{i}].pageSize"),
                    format!(
                        "{:?} is not a huge page size of this host (it has {sizes:?})",
                        h.page_size()
                    ),
                ));
            }
            Ok((h.page_size().clone(), h.limit()))
        })
        .collect()
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
            .cpu(
                LinuxCpuBuilder::default()
                    .realtime_runtime(1000)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        check_supported(&res, Mode::V1).unwrap();
        let err = check_supported(&res, Mode::Unified)
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux.resources.cpu.realtimeRuntime"), "{err}");

        let mut map = std::collections::HashMap::new();
        map.insert("memory.high".to_string(), "1M".to_string());
        let res = LinuxResourcesBuilder::default()
            .unified(map)
            .build()
            .unwrap();
        check_supported(&res, Mode::Unified).unwrap();
        let err = check_supported(&res, Mode::Hybrid).unwrap_err().to_string();
        assert!(err.contains("linux.resources.unified"), "{err}");

        let res = LinuxResourcesBuilder::default()
            .devices(vec![LinuxDeviceCgroupBuilder::default().build().unwrap()])
            .build()
            .unwrap();
        check_supported(&res, Mode::Hybrid).unwrap();
        check_supported(&res, Mode::Unified).unwrap();
    }

    #[test]
    fn rdma_and_hugepages() {
        let mut map = HashMap::new();
        let r: LinuxRdma = serde_json::from_str(r#"{"hcaHandles": 3}"#).unwrap();
        map.insert("mlx5_1".to_string(), r);
        let r: LinuxRdma = serde_json::from_str(r#"{"hcaHandles": 2, "hcaObjects": 9}"#).unwrap();
        map.insert("mlx4_0".to_string(), r);
        assert_eq!(
            rdma_lines(&map),
            vec!["mlx4_0 hca_handle=2 hca_object=9", "mlx5_1 hca_handle=3"]
        );
        let h: Vec<LinuxHugepageLimit> =
            serde_json::from_str(r#"[{"pageSize": "2MB", "limit": 4194304}]"#).unwrap();
        let sizes = vec!["1GB".to_string(), "2MB".to_string()];
        assert_eq!(
            hugepage_limits(&h, &sizes).unwrap(),
            vec![("2MB".to_string(), 4194304)]
        );
        let err = hugepage_limits(&h, &sizes[..1]).unwrap_err().to_string();
        assert!(err.contains("hugepageLimits[0].pageSize"), "{err}");
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
