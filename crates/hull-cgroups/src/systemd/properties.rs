//! OCI resources as systemd unit properties, as runc's systemd driver sets them.
//!
//! Pure: the D-Bus code sends what [`resources`] returns. Whatever has no unit property
//! (memory.swappiness, cpu.idle, io.max, hugetlb, `unified`, ...) is left to the cgroup
//! files, which the manager writes after the properties.

use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxResources};

use crate::error::Result;
use crate::resources::nonzero;
use crate::v2::plan::{blkio_to_io_weight, shares_to_weight, swap_max};

/// systemd's "infinity" for byte, task and time properties (`UINT64_MAX`).
pub(crate) const INFINITY: u64 = u64::MAX;

/// CFS period the kernel and systemd assume when none is given (µs).
const DEFAULT_PERIOD: u64 = 100_000;

/// A property value, in the D-Bus type systemd's unit property tables expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// `s`
    Str(String),
    /// `as` (Wants)
    Strs(Vec<String>),
    /// `b`
    Bool(bool),
    /// `t`
    U64(u64),
    /// `au` (PIDs)
    U32s(Vec<u32>),
    /// `ay` (a CPU or NUMA node bit mask)
    Bytes(Vec<u8>),
    /// `a(ss)` (DeviceAllow: path, access)
    Devices(Vec<(String, String)>),
}

/// One unit property: its name and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Property {
    /// The property name, e.g. `MemoryMax`.
    pub name: &'static str,
    /// Its value.
    pub value: Value,
}

/// Shorthand for a [`Property`].
pub(crate) fn prop(name: &'static str, value: Value) -> Property {
    Property { name, value }
}

/// The unit properties for `res` on a v2 (`unified`) or v1 host, runc's choice of
/// properties and conversions; unset fields (or 0, as in runc) give no property.
/// `device_group` resolves a device major to its /proc/devices name (for `n:*` rules).
pub(crate) fn resources(
    res: &LinuxResources,
    unified: bool,
    device_group: &dyn Fn(char, i64) -> Option<String>,
) -> Result<Vec<Property>> {
    let mut out = Vec::new();
    if let Some(m) = res.memory() {
        memory(m, unified, &mut out)?;
    }
    if let Some(c) = res.cpu() {
        cpu(c, unified, &mut out);
    }
    if let Some(limit) = res.pids().as_ref().and_then(|p| nonzero(Some(p.limit()))) {
        let tasks = if limit < 0 { INFINITY } else { limit as u64 };
        out.push(prop("TasksMax", Value::U64(tasks)));
    }
    if let Some(w) = res.block_io().as_ref().and_then(|b| nonzero(b.weight())) {
        out.push(if unified {
            prop("IOWeight", Value::U64(blkio_to_io_weight(w)))
        } else {
            prop("BlockIOWeight", Value::U64(u64::from(w)))
        });
    }
    if let Some(rules) = res.devices().as_ref() {
        out.extend(super::devices::properties(rules, device_group));
    }
    Ok(out)
}

/// A byte limit where -1 is unlimited (systemd's infinity).
fn bytes(v: i64) -> u64 {
    if v < 0 {
        INFINITY
    } else {
        v as u64
    }
}

fn memory(m: &LinuxMemory, unified: bool, out: &mut Vec<Property>) -> Result<()> {
    let limit = nonzero(m.limit());
    if let Some(l) = limit {
        crate::resources::check_bytes("linux.resources.memory.limit", l)?;
        let name = if unified { "MemoryMax" } else { "MemoryLimit" };
        out.push(prop(name, Value::U64(bytes(l))));
    }
    if !unified {
        return Ok(());
    }
    if let Some(r) = nonzero(m.reservation()) {
        crate::resources::check_bytes("linux.resources.memory.reservation", r)?;
        out.push(prop("MemoryLow", Value::U64(bytes(r))));
    }
    let swap = m.swap().unwrap_or(0);
    if swap != 0 || limit == Some(-1) {
        let s = swap_max(swap, limit.unwrap_or(0))?;
        if s != 0 {
            out.push(prop("MemorySwapMax", Value::U64(bytes(s))));
        }
    }
    Ok(())
}

fn cpu(c: &LinuxCpu, unified: bool, out: &mut Vec<Property>) {
    if let Some(s) = nonzero(c.shares()) {
        out.push(if unified {
            prop("CPUWeight", Value::U64(shares_to_weight(s)))
        } else {
            prop("CPUShares", Value::U64(s))
        });
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if period != 0 {
        out.push(prop("CPUQuotaPeriodUSec", Value::U64(period)));
    }
    if quota != 0 || period != 0 {
        out.push(prop(
            "CPUQuotaPerSecUSec",
            Value::U64(quota_per_sec(quota, period)),
        ));
    }
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        if let Some(mask) = list_to_mask(cpus) {
            out.push(prop("AllowedCPUs", Value::Bytes(mask)));
        }
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        if let Some(mask) = list_to_mask(mems) {
            out.push(prop("AllowedMemoryNodes", Value::Bytes(mask)));
        }
    }
}

/// runc's `CPUQuotaPerSecUSec`: the quota per second of CPU time, rounded up to whole
/// percents (10 ms) because systemd keeps a percentage; infinity for no quota. The exact
/// `cpu.max` / `cpu.cfs_quota_us` is then written to the file.
pub(crate) fn quota_per_sec(quota: i64, period: u64) -> u64 {
    if quota <= 0 {
        return INFINITY;
    }
    let period = if period == 0 { DEFAULT_PERIOD } else { period };
    let per_sec = (quota as u64).saturating_mul(1_000_000) / period;
    per_sec.div_ceil(10_000) * 10_000
}

/// A cpuset list (`0-3,8`) as systemd's bit mask: bit `i % 8` of byte `i / 8` is CPU (or
/// node) `i`. None when the list does not parse (the cgroup file write then names it).
pub(crate) fn list_to_mask(list: &str) -> Option<Vec<u8>> {
    let mut mask: Vec<u8> = Vec::new();
    for part in list.split(',').map(str::trim) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<usize>().ok()?,
                b.trim().parse::<usize>().ok()?,
            ),
            None => {
                let n = part.parse::<usize>().ok()?;
                (n, n)
            }
        };
        if lo > hi || hi >= 1 << 16 {
            return None;
        }
        for i in lo..=hi {
            if mask.len() <= i / 8 {
                mask.resize(i / 8 + 1, 0);
            }
            mask[i / 8] |= 1 << (i % 8);
        }
    }
    Some(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(json: &str, unified: bool) -> Vec<Property> {
        let res: LinuxResources = serde_json::from_str(json).unwrap();
        resources(&res, unified, &|_, _| None).unwrap()
    }

    fn value(ps: &[Property], name: &str) -> Option<Value> {
        ps.iter().find(|p| p.name == name).map(|p| p.value.clone())
    }

    #[test]
    fn memory_on_v2_and_v1() {
        let json = r#"{"memory": {"limit": 1048576, "reservation": 524288, "swap": 2097152}}"#;
        let v2 = props(json, true);
        assert_eq!(value(&v2, "MemoryMax"), Some(Value::U64(1 << 20)));
        assert_eq!(value(&v2, "MemoryLow"), Some(Value::U64(1 << 19)));
        assert_eq!(value(&v2, "MemorySwapMax"), Some(Value::U64(1 << 20)));
        let v1 = props(json, false);
        assert_eq!(value(&v1, "MemoryLimit"), Some(Value::U64(1 << 20)));
        assert_eq!(value(&v1, "MemoryLow"), None);
        let unlimited = props(r#"{"memory": {"limit": -1}}"#, true);
        assert_eq!(value(&unlimited, "MemoryMax"), Some(Value::U64(INFINITY)));
        assert_eq!(
            value(&unlimited, "MemorySwapMax"),
            Some(Value::U64(INFINITY))
        );
        let res: LinuxResources =
            serde_json::from_str(r#"{"memory": {"limit": 2097152, "swap": 1048576}}"#).unwrap();
        assert!(resources(&res, true, &|_, _| None).is_err());
    }

    #[test]
    fn cpu_weight_quota_and_sets() {
        let json = r#"{"cpu": {"shares": 1024, "quota": 50000, "period": 100000,
                        "cpus": "0-2,9", "mems": "0"}}"#;
        let v2 = props(json, true);
        assert_eq!(value(&v2, "CPUWeight"), Some(Value::U64(39)));
        assert_eq!(value(&v2, "CPUQuotaPeriodUSec"), Some(Value::U64(100_000)));
        assert_eq!(value(&v2, "CPUQuotaPerSecUSec"), Some(Value::U64(500_000)));
        assert_eq!(
            value(&v2, "AllowedCPUs"),
            Some(Value::Bytes(vec![0b0000_0111, 0b0000_0010]))
        );
        assert_eq!(
            value(&v2, "AllowedMemoryNodes"),
            Some(Value::Bytes(vec![1]))
        );
        let v1 = props(json, false);
        assert_eq!(value(&v1, "CPUShares"), Some(Value::U64(1024)));
        assert_eq!(value(&v1, "CPUWeight"), None);
    }

    #[test]
    fn quota_rounds_up_to_whole_percents() {
        assert_eq!(quota_per_sec(-1, 100_000), INFINITY);
        assert_eq!(quota_per_sec(0, 50_000), INFINITY);
        assert_eq!(quota_per_sec(12_345, 0), 130_000);
        assert_eq!(quota_per_sec(20_000, 100_000), 200_000);
        assert_eq!(quota_per_sec(1, 1_000_000), 10_000);
    }

    #[test]
    fn tasks_and_io_weight() {
        let json = r#"{"pids": {"limit": 42}, "blockIO": {"weight": 500}}"#;
        let v2 = props(json, true);
        assert_eq!(value(&v2, "TasksMax"), Some(Value::U64(42)));
        assert_eq!(value(&v2, "IOWeight"), Some(Value::U64(4950)));
        let v1 = props(json, false);
        assert_eq!(value(&v1, "BlockIOWeight"), Some(Value::U64(500)));
        let unlimited = props(r#"{"pids": {"limit": -1}}"#, true);
        assert_eq!(value(&unlimited, "TasksMax"), Some(Value::U64(INFINITY)));
        assert!(props(r#"{"pids": {"limit": 0}, "memory": {}}"#, true).is_empty());
    }

    #[test]
    fn masks() {
        assert_eq!(list_to_mask("0"), Some(vec![1]));
        assert_eq!(list_to_mask("7-8"), Some(vec![0x80, 1]));
        assert_eq!(list_to_mask("x"), None);
        assert_eq!(list_to_mask("3-1"), None);
    }
}
