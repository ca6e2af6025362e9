//! Resource usage of a cgroup, shaped like runc's `events` JSON (`types.Stats`), and the
//! parsers for the kernel's stat file formats shared by v1 and v2.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{CgroupError, Result};
use crate::fs;

/// Everything [`crate::Manager::stats`] reports; field names as in runc's `events --stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// CPU time used and CFS throttling.
    pub cpu: CpuStats,
    /// The cpuset's CPUs, memory nodes and flags.
    pub cpuset: CpusetStats,
    /// Memory, swap and kernel memory usage, plus the raw `memory.stat` map.
    pub memory: MemoryStats,
    /// Process count and limit.
    pub pids: PidsStats,
    /// Bytes and operations per device.
    pub blkio: BlkioStats,
    /// Per huge page size (`"2MB"`, `"1GB"`) usage.
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

/// runc's `Cpu`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuStats {
    /// CPU time, in nanoseconds.
    pub usage: CpuUsage,
    /// CFS bandwidth throttling.
    pub throttling: Throttling,
}

/// runc's `CpuUsage`; all values in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Total per CPU (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Kernel time per CPU (v1 only).
    #[serde(rename = "percpu_kernel", skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// User time per CPU (v1 only).
    #[serde(rename = "percpu_user", skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// Time in kernel mode.
    pub kernel: u64,
    /// Time in user mode.
    pub user: u64,
}

/// runc's `Throttling`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    #[serde(rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Total time throttled, in nanoseconds.
    #[serde(rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// runc's `MemoryEntry`. A limit of "max" is `u64::MAX`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MemoryEntry {
    /// The limit in bytes.
    pub limit: u64,
    /// Current usage in bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Highest usage seen, in bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// How often the limit was hit.
    pub failcnt: u64,
}

/// runc's `Memory`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MemoryStats {
    /// Page cache (`cache` on v1, `file` on v2).
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory plus swap (as v1 counts it, also on v2).
    pub swap: MemoryEntry,
    /// Kernel memory (v1 only).
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (v1 only).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// Every key of `memory.stat`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// runc's `Pids`. A limit of 0 means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PidsStats {
    /// Processes (tasks) in the cgroup.
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// `pids.max`, 0 for "max".
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// runc's `BlkioEntry`: one counter of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlkioEntry {
    /// Device major number.
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor number.
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// `Read`, `Write`, `Sync`, `Async`, `Discard` or `Total`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The count.
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// runc's `Blkio` (the two lists hull fills).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BlkioStats {
    /// Bytes transferred.
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Operations done.
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// runc's `CPUSet`: the lists as numbers, each flag file's value (v1; on v2 only the
/// effective `cpus` and `mems`, the flags stay 0).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpusetStats {
    /// CPUs the cgroup may run on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    /// `cpuset.cpu_exclusive`.
    pub cpu_exclusive: u64,
    /// Memory nodes the cgroup may use.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    /// `cpuset.mem_hardwall`.
    pub mem_hardwall: u64,
    /// `cpuset.mem_exclusive`.
    pub mem_exclusive: u64,
    /// `cpuset.memory_migrate`.
    pub memory_migrate: u64,
    /// `cpuset.memory_spread_page`.
    pub memory_spread_page: u64,
    /// `cpuset.memory_spread_slab`.
    pub memory_spread_slab: u64,
    /// `cpuset.memory_pressure`.
    pub memory_pressure: u64,
    /// `cpuset.sched_load_balance`.
    pub sched_load_balance: u64,
    /// `cpuset.sched_relax_domain_level` (-1: the system default).
    pub sched_relax_domain_level: i64,
}

/// runc's `Hugetlb`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HugetlbStats {
    /// Bytes in use.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Highest use (v1 only).
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// How often an allocation failed at the limit.
    pub failcnt: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// A cgroup counter: a number, or `max` (`u64::MAX`). A negative v1 value (-1) is also max.
pub(crate) fn parse_u64(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "max" || t.starts_with('-') {
        return Some(u64::MAX);
    }
    t.parse().ok()
}

/// Reads a one-number file; a missing file is 0 (the kernel lacks that counter).
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    if !fs::exists(dir, file) {
        return Ok(0);
    }
    let text = fs::read(dir, file)?;
    parse_u64(&text).ok_or_else(|| CgroupError::Parse {
        what: "number",
        path: dir.join(file),
        detail: text,
    })
}

/// Reads a file of one signed number; a missing file is 0.
pub(crate) fn read_i64(dir: &Path, file: &str) -> Result<i64> {
    if !fs::exists(dir, file) {
        return Ok(0);
    }
    let text = fs::read(dir, file)?;
    text.trim().parse().map_err(|_| CgroupError::Parse {
        what: "number",
        path: dir.join(file),
        detail: text,
    })
}

/// A kernel list such as `0-3,8,10-11` (cpuset.cpus) as its numbers; None when malformed.
pub(crate) fn parse_list(text: &str) -> Option<Vec<u16>> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let (lo, hi): (u16, u16) = (lo.parse().ok()?, hi.parse().ok()?);
        if lo > hi {
            return None;
        }
        out.extend(lo..=hi);
    }
    Some(out)
}

/// [`parse_list`] of a file; a missing file is an empty list.
pub(crate) fn read_list(dir: &Path, file: &str) -> Result<Vec<u16>> {
    if !fs::exists(dir, file) {
        return Ok(Vec::new());
    }
    let text = fs::read(dir, file)?;
    parse_list(&text).ok_or_else(|| CgroupError::Parse {
        what: "cpu or node list",
        path: dir.join(file),
        detail: text,
    })
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `memory.events`) into a map; lines that do
/// not have that shape are skipped.
pub(crate) fn parse_kv(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (k, v) = (f.next()?, f.next()?);
            Some((k.to_string(), parse_u64(v)?))
        })
        .collect()
}

/// [`parse_kv`] of a file; a missing file is an empty map.
pub(crate) fn read_kv(dir: &Path, file: &str) -> Result<BTreeMap<String, u64>> {
    if !fs::exists(dir, file) {
        return Ok(BTreeMap::new());
    }
    Ok(parse_kv(&fs::read(dir, file)?))
}

/// A `major:minor` device number.
pub(crate) fn parse_dev(text: &str) -> Option<(u64, u64)> {
    let (a, b) = text.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The huge page sizes this kernel offers, named as cgroup files name them (`2MB`, `1GB`),
/// from `/sys/kernel/mm/hugepages/hugepages-<n>kB`.
pub(crate) fn hugepage_sizes() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .flatten()
        .filter_map(|e| hugepage_name(&e.file_name().to_string_lossy()))
        .collect();
    out.sort();
    out
}

/// `hugepages-2048kB` to `2MB` (runc's units: the largest unit that divides evenly).
pub(crate) fn hugepage_name(dir_name: &str) -> Option<String> {
    let kb: u64 = dir_name
        .strip_prefix("hugepages-")?
        .strip_suffix("kB")?
        .parse()
        .ok()?;
    let units = ["KB", "MB", "GB", "TB", "PB"];
    let mut v = kb;
    let mut i = 0;
    while v >= 1024 && v.is_multiple_of(1024) && i + 1 < units.len() {
        v /= 1024;
        i += 1;
    }
    Some(format!("{v}{}", units[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_max() {
        assert_eq!(parse_u64("12\n"), Some(12));
        assert_eq!(parse_u64("max"), Some(u64::MAX));
        assert_eq!(parse_u64("-1"), Some(u64::MAX));
        assert_eq!(parse_u64("x"), None);
    }

    #[test]
    fn lists() {
        assert_eq!(
            parse_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_list("0"), Some(vec![0]));
        assert_eq!(parse_list("\n"), Some(vec![]));
        assert_eq!(parse_list("3-1"), None);
        assert_eq!(parse_list("a"), None);
    }

    #[test]
    fn key_values() {
        let m = parse_kv("cache 10\nrss 20\nbogus\nhigh max\n");
        assert_eq!(m["cache"], 10);
        assert_eq!(m["rss"], 20);
        assert_eq!(m["high"], u64::MAX);
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn page_size_names() {
        assert_eq!(hugepage_name("hugepages-2048kB").as_deref(), Some("2MB"));
        assert_eq!(hugepage_name("hugepages-1048576kB").as_deref(), Some("1GB"));
        assert_eq!(hugepage_name("hugepages-64kB").as_deref(), Some("64KB"));
        assert_eq!(hugepage_name("other"), None);
        assert_eq!(parse_dev("8:16"), Some((8, 16)));
    }

    #[test]
    fn json_field_names_are_runcs() {
        let mut s = Stats::default();
        s.memory.usage.usage = 5;
        s.pids.current = 2;
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["memory"]["usage"]["usage"], 5);
        assert_eq!(v["memory"]["usage"]["failcnt"], 0);
        assert!(v["memory"]["kernelTCP"].is_object());
        assert_eq!(v["pids"]["current"], 2);
        assert!(v["cpu"]["usage"]["kernel"].is_number());
        assert!(v["hugetlb"].is_object());
    }
}
