//! Turning OCI resources into cgroup v2 file writes: a pure plan, one function per group.
//!
//! Values follow runc's conversions (cpu shares to weight, blkio weight to io.weight,
//! memory+swap to swap-only). Two values depend on the live cgroup and are resolved when
//! written; see [`Value`].

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use crate::error::{CgroupError, Result};
use crate::resources::{
    check_blkio_weight, check_bytes, hugepage_limits, nonzero, pids_max, rdma_lines,
};
use crate::stats::hugepage_sizes;

/// What to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// Write this text.
    Plain(String),
    /// `cpu.max` with only the period changing: keep the current quota.
    CpuPeriodOnly(u64),
    /// An OCI blkio weight: as is to `io.bfq.weight` if present, else converted to `io.weight`.
    IoWeight(u16),
    /// Write this text only if the kernel offers the file.
    IfExists(String),
    /// `memory.max` with `checkBeforeUpdate`: refused if `memory.current` is above the limit.
    MaxChecked(u64),
}

/// One write to a file of the cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Write {
    /// The controller that must be enabled for the file to exist (`""` for core files).
    pub controller: String,
    /// The spec field this comes from, for error messages.
    pub field: String,
    /// The file name in the cgroup directory.
    pub file: String,
    /// The value.
    pub value: Value,
}

fn w(controller: &str, field: &str, file: &str, value: Value) -> Write {
    Write {
        controller: controller.into(),
        field: format!("linux.resources.{field}"),
        file: file.into(),
        value,
    }
}

fn plain(controller: &str, field: &str, file: &str, value: String) -> Write {
    w(controller, field, file, Value::Plain(value))
}

/// Every write `res` asks for, in order. Checks values; reads nothing.
pub(crate) fn plan(res: &LinuxResources) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    if let Some(c) = res.cpu() {
        out.extend(cpuset(c));
    }
    if let Some(m) = res.memory() {
        out.extend(memory(m)?);
    }
    if let Some(c) = res.cpu() {
        out.extend(cpu(c));
    }
    if let Some(v) = res.pids().and_then(|p| pids_max(p.limit())) {
        out.push(plain("pids", "pids.limit", "pids.max", v));
    }
    if let Some(b) = res.block_io() {
        out.extend(io(b)?);
    }
    let huge = res.hugepage_limits().as_deref().unwrap_or_default();
    if !huge.is_empty() {
        out.extend(hugetlb(&hugepage_limits(huge, &hugepage_sizes())?));
    }
    for line in res.rdma().as_ref().map(rdma_lines).unwrap_or_default() {
        out.push(plain("rdma", "rdma", "rdma.max", line));
    }
    if let Some(u) = res.unified() {
        out.extend(unified(u)?);
    }
    Ok(out)
}

/// `hugetlb.<size>.max` (and `.rsvd.max` where the kernel has it); negative is "max".
fn hugetlb(limits: &[(String, i64)]) -> Vec<Write> {
    let mut out = Vec::new();
    for (size, limit) in limits {
        let v = if *limit < 0 {
            "max".to_string()
        } else {
            limit.to_string()
        };
        let f = "hugepageLimits";
        out.push(plain(
            "hugetlb",
            f,
            &format!("hugetlb.{size}.max"),
            v.clone(),
        ));
        let rsvd = format!("hugetlb.{size}.rsvd.max");
        out.push(w("hugetlb", f, &rsvd, Value::IfExists(v)));
    }
    out
}

/// Fields runc ignores on cgroup v2: warned about, not written.
fn warn_ignored(m: &LinuxMemory) {
    let ignored = [
        (m.kernel().is_some_and(|k| k != 0), "memory.kernel"),
        (m.kernel_tcp().is_some_and(|k| k != 0), "memory.kernelTCP"),
        (m.swappiness().is_some(), "memory.swappiness"),
        (
            m.disable_oom_killer() == Some(true),
            "memory.disableOOMKiller",
        ),
    ];
    for (_, f) in ignored.iter().filter(|(set, _)| *set) {
        tracing::warn!("linux.resources.{f}: ignored, cgroup v2 has no such setting");
    }
}

/// `memory.swap.max`, `memory.max`, `memory.low`.
fn memory(m: &LinuxMemory) -> Result<Vec<Write>> {
    let limit = nonzero(m.limit())
        .map(|v| check_bytes("linux.resources.memory.limit", v))
        .transpose()?;
    let res = nonzero(m.reservation());
    let res = res
        .map(|v| check_bytes("linux.resources.memory.reservation", v))
        .transpose()?;
    let swap = swap_max(m.swap().unwrap_or(0), limit.unwrap_or(0))?;
    warn_ignored(m);
    let mut out = Vec::new();
    if let Some(s) = max_value(swap) {
        out.push(plain("memory", "memory.swap", "memory.swap.max", s));
    }
    let checked = limit
        .filter(|_| m.check_before_update() == Some(true))
        .and_then(|l| u64::try_from(l).ok());
    if let Some(l) = checked {
        out.push(w(
            "memory",
            "memory.limit",
            "memory.max",
            Value::MaxChecked(l),
        ));
    } else if let Some(l) = limit.and_then(max_value) {
        out.push(plain("memory", "memory.limit", "memory.max", l));
    }
    if let Some(r) = res.and_then(max_value) {
        out.push(plain("memory", "memory.reservation", "memory.low", r));
    }
    Ok(out)
}

/// v2 form of a v1-style value where 0 is unset and -1 is unlimited.
pub(crate) fn max_value(v: i64) -> Option<String> {
    match v {
        0 => None,
        -1 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

/// runc's `ConvertMemorySwapToCgroupV2Value`: OCI `swap` is memory+swap; v2 wants swap
/// alone. 0 means unset, -1 unlimited.
pub(crate) fn swap_max(swap: i64, limit: i64) -> Result<i64> {
    const F: &str = "linux.resources.memory.swap";
    if limit == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if limit == 0 || limit == -1 {
        return Err(CgroupError::invalid(F, "a swap limit needs a memory limit"));
    }
    if swap < limit {
        return Err(CgroupError::invalid(
            F,
            "memory+swap must not be below memory.limit",
        ));
    }
    Ok(swap - limit)
}

/// `cpu.weight` and `cpu.max`.
fn cpu(c: &LinuxCpu) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(i) = c.idle() {
        out.push(plain("cpu", "cpu.idle", "cpu.idle", i.to_string()));
    }
    let idle = c.idle().is_some_and(|i| i != 0);
    if let Some(s) = nonzero(c.shares()).filter(|_| !idle) {
        out.push(plain(
            "cpu",
            "cpu.shares",
            "cpu.weight",
            shares_to_weight(s).to_string(),
        ));
    }
    let quota = nonzero(c.quota());
    let period = nonzero(c.period());
    let value = match (quota, period) {
        (Some(q), p) => Some(Value::Plain(cpu_max(q, p))),
        (None, Some(p)) => Some(Value::CpuPeriodOnly(p)),
        (None, None) => None,
    };
    out.extend(value.map(|v| w("cpu", "cpu.quota", "cpu.max", v)));
    if let Some(b) = c.burst() {
        out.push(plain("cpu", "cpu.burst", "cpu.max.burst", b.to_string()));
    }
    out
}

/// runc's shares-to-weight conversion, `1 + ((shares - 2) * 9999) / 262142`, with shares
/// clamped to the v1 range 2..=262144 so the result is always within 1..=10000.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// `cpu.max` text: negative quota is "max"; the period is appended when given.
pub(crate) fn cpu_max(quota: i64, period: Option<u64>) -> String {
    let q = if quota < 0 {
        "max".to_string()
    } else {
        quota.to_string()
    };
    match period {
        Some(p) => format!("{q} {p}"),
        None => q,
    }
}

/// `cpuset.cpus` / `cpuset.mems`.
fn cpuset(c: &LinuxCpu) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(v) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        out.push(plain("cpuset", "cpu.cpus", "cpuset.cpus", v.into()));
    }
    if let Some(v) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        out.push(plain("cpuset", "cpu.mems", "cpuset.mems", v.into()));
    }
    out
}

/// `io.bfq.weight` or `io.weight`, per-device BFQ weights, and `io.max` throttles.
fn io(b: &LinuxBlockIo) -> Result<Vec<Write>> {
    if nonzero(b.leaf_weight()).is_some() {
        tracing::warn!("linux.resources.blockIO.leafWeight: ignored, cgroup v2 has no leaf weight");
    }
    let mut out = Vec::new();
    if let Some(weight) = nonzero(b.weight()) {
        check_blkio_weight(weight)?;
        let v = Value::IoWeight(weight);
        out.push(w("io", "blockIO.weight", "io.weight", v));
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(weight) = d.weight() {
            let line = format!("{}:{} {weight}", d.major(), d.minor());
            out.push(plain("io", "blockIO.weightDevice", "io.bfq.weight", line));
        }
    }
    let throttles = [
        (b.throttle_read_bps_device(), "rbps", "ReadBps"),
        (b.throttle_write_bps_device(), "wbps", "WriteBps"),
        (b.throttle_read_iops_device(), "riops", "ReadIOPS"),
        (b.throttle_write_iops_device(), "wiops", "WriteIOPS"),
    ];
    for (list, key, name) in throttles {
        for t in list.iter().flatten() {
            let field = format!("blockIO.throttle{name}Device");
            out.push(plain(
                "io",
                &field,
                "io.max",
                io_max(t.major(), t.minor(), key, t.rate()),
            ));
        }
    }
    Ok(out)
}

/// One `io.max` line, runc style: a rate of 0 means no limit (`max`).
pub(crate) fn io_max(major: i64, minor: i64, key: &str, rate: u64) -> String {
    let rate = if rate == 0 {
        "max".to_string()
    } else {
        rate.to_string()
    };
    format!("{major}:{minor} {key}={rate}")
}

/// runc's blkio weight (10..=1000) to `io.weight` (1..=10000): `1 + (w - 10) * 9999 / 990`.
pub(crate) fn blkio_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// The `unified` map: each key is a file name, written as given. The controller is the
/// part before the first dot (`cgroup.*` files need none).
fn unified(map: &std::collections::HashMap<String, String>) -> Result<Vec<Write>> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let field = format!("unified[{k:?}]");
            let (ctrl, _) = k.split_once('.').unwrap_or((k.as_str(), ""));
            if k.is_empty() || k.contains('/') || k.starts_with('.') {
                return Err(CgroupError::invalid(
                    &format!("linux.resources.{field}"),
                    "not a cgroup file name",
                ));
            }
            let ctrl = if ctrl == "cgroup" { "" } else { ctrl };
            Ok(plain(ctrl, &field, k, map[k].clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    };

    fn files(ws: &[Write]) -> Vec<(String, Value)> {
        ws.iter()
            .map(|w| (w.file.clone(), w.value.clone()))
            .collect()
    }

    fn p(s: &str) -> Value {
        Value::Plain(s.into())
    }

    #[test]
    fn weight_conversions() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(0), 1, "clamped, no underflow");
        assert_eq!(shares_to_weight(u64::MAX), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 1 + 490 * 9999 / 990);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }

    #[test]
    fn cpu_max_values() {
        assert_eq!(cpu_max(-1, None), "max");
        assert_eq!(cpu_max(-1, Some(100_000)), "max 100000");
        assert_eq!(cpu_max(50_000, Some(100_000)), "50000 100000");
        let c = LinuxCpuBuilder::default()
            .period(20_000u64)
            .build()
            .unwrap();
        assert_eq!(
            files(&cpu(&c)),
            vec![("cpu.max".into(), Value::CpuPeriodOnly(20_000))]
        );
    }

    #[test]
    fn swap_conversion() {
        assert_eq!(swap_max(0, -1).unwrap(), -1);
        assert_eq!(swap_max(-1, 100).unwrap(), -1);
        assert_eq!(swap_max(0, 100).unwrap(), 0);
        assert_eq!(swap_max(300, 100).unwrap(), 200);
        assert!(swap_max(50, 100).is_err());
        assert!(swap_max(50, 0).is_err());
    }

    #[test]
    fn memory_and_pids_plan() {
        let res = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(-1)
                    .reservation(4096)
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
            .build()
            .unwrap();
        let got = files(&plan(&res).unwrap());
        assert_eq!(
            got,
            vec![
                ("memory.swap.max".into(), p("max")),
                ("memory.max".into(), p("max")),
                ("memory.low".into(), p("4096")),
                ("pids.max".into(), p("10")),
            ]
        );
    }

    #[test]
    fn cpu_idle_burst_and_io_max() {
        let c = LinuxCpuBuilder::default()
            .idle(1)
            .shares(1024u64)
            .burst(500u64)
            .build()
            .unwrap();
        assert_eq!(
            files(&cpu(&c)),
            vec![
                ("cpu.idle".into(), p("1")),
                ("cpu.max.burst".into(), p("500"))
            ],
            "no weight while idle"
        );
        assert_eq!(io_max(8, 0, "rbps", 0), "8:0 rbps=max");
        assert_eq!(io_max(8, 16, "wiops", 10), "8:16 wiops=10");
        let b: LinuxBlockIo = serde_json::from_str(
            r#"{"weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]}"#,
        )
        .unwrap();
        assert_eq!(
            files(&io(&b).unwrap()),
            vec![
                ("io.bfq.weight".into(), p("8:0 100")),
                ("io.max".into(), p("8:0 rbps=1048576"))
            ]
        );
    }

    #[test]
    fn checked_limit_and_rdma() {
        let res: LinuxResources = serde_json::from_str(
            r#"{"memory": {"limit": 4096, "checkBeforeUpdate": true},
                "rdma": {"mlx4_0": {"hcaHandles": 1}}}"#,
        )
        .unwrap();
        assert_eq!(
            files(&plan(&res).unwrap()),
            vec![
                ("memory.max".into(), Value::MaxChecked(4096)),
                ("rdma.max".into(), p("mlx4_0 hca_handle=1"))
            ]
        );
    }

    #[test]
    fn unified_keys() {
        let mut map = std::collections::HashMap::new();
        map.insert("memory.high".to_string(), "1M".to_string());
        map.insert("cgroup.max.depth".to_string(), "3".to_string());
        let ws = unified(&map).unwrap();
        assert_eq!(ws[0].controller, "");
        assert_eq!(ws[1].controller, "memory");
        map.insert("../x".to_string(), "1".to_string());
        assert!(unified(&map).is_err());
    }
}
