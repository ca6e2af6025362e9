//! Turning OCI resources into cgroup v2 file writes: a pure plan, one function per group.
//!
//! Values follow runc's conversions (cpu shares to weight, blkio weight to io.weight,
//! memory+swap to swap-only). Two values depend on the live cgroup and are resolved when
//! written; see [`Value`].

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use crate::error::{CgroupError, Result};
use crate::resources::{check_blkio_weight, check_bytes, nonzero, pids_max};

/// What to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// Write this text.
    Plain(String),
    /// `cpu.max` with only the period changing: keep the current quota.
    CpuPeriodOnly(u64),
    /// An OCI blkio weight: as is to `io.bfq.weight` if present, else converted to `io.weight`.
    IoWeight(u16),
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
    if let Some(u) = res.unified() {
        out.extend(unified(u)?);
    }
    Ok(out)
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
    let mut out = Vec::new();
    if let Some(s) = max_value(swap) {
        out.push(plain("memory", "memory.swap", "memory.swap.max", s));
    }
    if let Some(l) = limit.and_then(max_value) {
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
    if let Some(s) = nonzero(c.shares()) {
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

/// `io.bfq.weight` or `io.weight`.
fn io(b: &LinuxBlockIo) -> Result<Vec<Write>> {
    let Some(weight) = nonzero(b.weight()) else {
        return Ok(Vec::new());
    };
    check_blkio_weight(weight)?;
    Ok(vec![w(
        "io",
        "blockIO.weight",
        "io.weight",
        Value::IoWeight(weight),
    )])
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
