//! Collecting [`Stats`] from a cgroup v2 directory, converted to runc's (v1-shaped) fields.

use std::path::Path;

use crate::error::Result;
use crate::fs;
use crate::stats::{
    hugepage_sizes, parse_dev, read_kv, read_list, read_u64, BlkioEntry, BlkioStats, HugetlbStats,
    MemoryEntry, MemoryStats, PidsStats, Stats,
};

/// Reads the statistics of every controller whose files exist in `dir`.
pub(crate) fn collect(dir: &Path) -> Result<Stats> {
    let mut s = Stats::default();
    let cpu = read_kv(dir, "cpu.stat")?;
    let us = |k: &str| cpu.get(k).copied().unwrap_or(0).saturating_mul(1000);
    s.cpu.usage.total = us("usage_usec");
    s.cpu.usage.user = us("user_usec");
    s.cpu.usage.kernel = us("system_usec");
    s.cpu.throttling.periods = cpu.get("nr_periods").copied().unwrap_or(0);
    s.cpu.throttling.throttled_periods = cpu.get("nr_throttled").copied().unwrap_or(0);
    s.cpu.throttling.throttled_time = us("throttled_usec");
    s.cpuset.cpus = read_list(dir, "cpuset.cpus.effective")?;
    s.cpuset.mems = read_list(dir, "cpuset.mems.effective")?;
    s.memory = memory(dir)?;
    let limit = read_u64(dir, "pids.max")?;
    s.pids = PidsStats {
        current: read_u64(dir, "pids.current")?,
        limit: if limit == u64::MAX { 0 } else { limit },
    };
    if fs::exists(dir, "io.stat") {
        s.blkio = parse_io_stat(&fs::read(dir, "io.stat")?);
    }
    for size in hugepage_sizes() {
        let file = |s: &str| format!("hugetlb.{size}.{s}");
        if !fs::exists(dir, &file("current")) {
            continue;
        }
        let events = read_kv(dir, &file("events"))?;
        let h = HugetlbStats {
            usage: read_u64(dir, &file("current"))?,
            max: 0,
            failcnt: events.get("max").copied().unwrap_or(0),
        };
        s.hugetlb.insert(size, h);
    }
    Ok(s)
}

fn entry(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    let events = read_kv(dir, &format!("{prefix}.events"))?;
    Ok(MemoryEntry {
        usage: read_u64(dir, &format!("{prefix}.current"))?,
        max: read_u64(dir, &format!("{prefix}.peak"))?,
        limit: read_u64(dir, &format!("{prefix}.max"))?,
        failcnt: events.get("max").copied().unwrap_or(0),
    })
}

/// As runc: `swap` is reported as memory+swap (v1's meaning), its max left 0.
fn memory(dir: &Path) -> Result<MemoryStats> {
    if !fs::exists(dir, "memory.current") {
        return Ok(MemoryStats::default());
    }
    let raw = read_kv(dir, "memory.stat")?;
    let usage = entry(dir, "memory")?;
    let mut swap = entry(dir, "memory.swap")?;
    swap.usage = swap.usage.saturating_add(usage.usage);
    if swap.limit != u64::MAX {
        swap.limit = swap.limit.saturating_add(usage.limit);
    }
    swap.max = 0;
    Ok(MemoryStats {
        cache: raw.get("file").copied().unwrap_or(0),
        usage,
        swap,
        raw,
        ..MemoryStats::default()
    })
}

/// `io.stat` lines (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`) as runc maps them:
/// bytes to `ioServiceBytesRecursive`, ios to `ioServicedRecursive`, ops Read/Write/Discard.
pub(crate) fn parse_io_stat(text: &str) -> BlkioStats {
    let mut out = BlkioStats::default();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(parse_dev) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut out.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut out.io_service_bytes_recursive, "Write"),
                "dbytes" => (&mut out.io_service_bytes_recursive, "Discard"),
                "rios" => (&mut out.io_serviced_recursive, "Read"),
                "wios" => (&mut out.io_serviced_recursive, "Write"),
                "dios" => (&mut out.io_serviced_recursive, "Discard"),
                _ => continue,
            };
            let value = v.parse().unwrap_or(0);
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tests::TempDir;

    #[test]
    fn io_stat_is_mapped_like_runc() {
        let s = parse_io_stat("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(s.io_service_bytes_recursive.len(), 3);
        assert_eq!(s.io_service_bytes_recursive[1].op, "Write");
        assert_eq!(s.io_service_bytes_recursive[1].value, 20);
        assert_eq!(s.io_serviced_recursive[0].value, 1);
    }

    #[test]
    fn converts_v2_files() {
        let t = TempDir::new("v2stats");
        let d = t.files("c", &[]);
        let put = |f: &str, v: &str| std::fs::write(d.join(f), v).unwrap();
        put(
            "cpu.stat",
            "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 0\n",
        );
        put("memory.current", "100\n");
        put("memory.max", "1000\n");
        put("memory.swap.current", "10\n");
        put("memory.swap.max", "max\n");
        put("memory.stat", "file 4\nanon 6\n");
        put("pids.current", "1\n");
        put("pids.max", "8\n");
        let s = collect(&d).unwrap();
        assert_eq!(s.cpu.usage.total, 5000);
        assert_eq!(s.cpu.usage.kernel, 2000);
        assert_eq!(s.memory.usage.usage, 100);
        assert_eq!(s.memory.usage.limit, 1000);
        assert_eq!(s.memory.swap.usage, 110);
        assert_eq!(s.memory.swap.limit, u64::MAX);
        assert_eq!(s.memory.cache, 4);
        assert_eq!(s.pids.limit, 8);
    }
}
