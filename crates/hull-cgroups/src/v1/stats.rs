//! Collecting [`Stats`] from the v1 controllers (each one optional: a hierarchy that is not
//! mounted leaves its part zero).

use std::path::Path;

use crate::error::Result;
use crate::fs;
use crate::stats::{
    hugepage_sizes, parse_dev, read_i64, read_kv, read_list, read_u64, BlkioEntry, BlkioStats,
    CpuStats, CpusetStats, HugetlbStats, MemoryEntry, MemoryStats, PidsStats, Stats,
};

/// The directory of a controller, if mounted.
pub(crate) type DirOf<'a> = &'a dyn Fn(&str) -> Option<&'a Path>;

/// Reads every mounted controller's statistics.
pub(crate) fn collect(dir: DirOf<'_>) -> Result<Stats> {
    let mut s = Stats::default();
    if let Some(d) = dir("cpuacct") {
        cpuacct(d, &mut s.cpu)?;
    }
    if let Some(d) = dir("cpu") {
        let st = read_kv(d, "cpu.stat")?;
        let t = &mut s.cpu.throttling;
        t.periods = st.get("nr_periods").copied().unwrap_or(0);
        t.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        t.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(d) = dir("cpuset") {
        s.cpuset = cpuset(d)?;
    }
    if let Some(d) = dir("memory") {
        s.memory = memory(d)?;
    }
    if let Some(d) = dir("pids") {
        s.pids = pids(d)?;
    }
    if let Some(d) = dir("blkio") {
        s.blkio = blkio(d)?;
    }
    if let Some(d) = dir("hugetlb") {
        for size in hugepage_sizes() {
            let h = HugetlbStats {
                usage: read_u64(d, &format!("hugetlb.{size}.usage_in_bytes"))?,
                max: read_u64(d, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
                failcnt: read_u64(d, &format!("hugetlb.{size}.failcnt"))?,
            };
            s.hugetlb.insert(size, h);
        }
    }
    Ok(s)
}

fn cpuset(d: &Path) -> Result<CpusetStats> {
    let flag = |name: &str| read_u64(d, &format!("cpuset.{name}"));
    Ok(CpusetStats {
        cpus: read_list(d, "cpuset.cpus")?,
        cpu_exclusive: flag("cpu_exclusive")?,
        mems: read_list(d, "cpuset.mems")?,
        mem_hardwall: flag("mem_hardwall")?,
        mem_exclusive: flag("mem_exclusive")?,
        memory_migrate: flag("memory_migrate")?,
        memory_spread_page: flag("memory_spread_page")?,
        memory_spread_slab: flag("memory_spread_slab")?,
        memory_pressure: flag("memory_pressure")?,
        sched_load_balance: flag("sched_load_balance")?,
        sched_relax_domain_level: read_i64(d, "cpuset.sched_relax_domain_level")?,
    })
}

/// Nanoseconds per USER_HZ tick (`cpuacct.stat` counts ticks).
fn ns_per_tick() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    1_000_000_000 / u64::try_from(hz).ok().filter(|h| *h > 0).unwrap_or(100)
}

fn cpuacct(d: &Path, cpu: &mut CpuStats) -> Result<()> {
    let u = &mut cpu.usage;
    u.total = read_u64(d, "cpuacct.usage")?;
    if fs::exists(d, "cpuacct.usage_percpu") {
        u.percpu = numbers(&fs::read(d, "cpuacct.usage_percpu")?);
    }
    let st = read_kv(d, "cpuacct.stat")?;
    let tick = ns_per_tick();
    u.user = st.get("user").copied().unwrap_or(0).saturating_mul(tick);
    u.kernel = st.get("system").copied().unwrap_or(0).saturating_mul(tick);
    if fs::exists(d, "cpuacct.usage_all") {
        let (k, us) = usage_all(&fs::read(d, "cpuacct.usage_all")?);
        u.percpu_kernel = k;
        u.percpu_user = us;
    }
    Ok(())
}

fn numbers(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// `cpuacct.usage_all`: a header `cpu user system`, then one line per CPU. Returns the
/// per-CPU (kernel, user) lists.
pub(crate) fn usage_all(text: &str) -> (Vec<u64>, Vec<u64>) {
    let mut kernel = Vec::new();
    let mut user = Vec::new();
    for line in text.lines().skip(1) {
        if let [_, u, s] = numbers(line)[..] {
            user.push(u);
            kernel.push(s);
        }
    }
    (kernel, user)
}

fn entry(d: &Path, prefix: &str) -> Result<MemoryEntry> {
    let file = |s: &str| format!("{prefix}.{s}");
    Ok(MemoryEntry {
        usage: read_u64(d, &file("usage_in_bytes"))?,
        max: read_u64(d, &file("max_usage_in_bytes"))?,
        failcnt: read_u64(d, &file("failcnt"))?,
        limit: read_u64(d, &file("limit_in_bytes"))?,
    })
}

fn memory(d: &Path) -> Result<MemoryStats> {
    let raw = read_kv(d, "memory.stat")?;
    Ok(MemoryStats {
        cache: raw.get("cache").copied().unwrap_or(0),
        usage: entry(d, "memory")?,
        swap: entry(d, "memory.memsw")?,
        kernel: entry(d, "memory.kmem")?,
        kernel_tcp: entry(d, "memory.kmem.tcp")?,
        raw,
    })
}

fn pids(d: &Path) -> Result<PidsStats> {
    let limit = read_u64(d, "pids.max")?;
    Ok(PidsStats {
        current: read_u64(d, "pids.current")?,
        limit: if limit == u64::MAX { 0 } else { limit },
    })
}

/// The first of CFQ's, BFQ's and the throttle policy's recursive counters that has data.
fn blkio(d: &Path) -> Result<BlkioStats> {
    for prefix in ["blkio", "blkio.bfq", "blkio.throttle"] {
        let bytes = blkio_file(d, &format!("{prefix}.io_service_bytes_recursive"))?;
        let ops = blkio_file(d, &format!("{prefix}.io_serviced_recursive"))?;
        if !bytes.is_empty() || !ops.is_empty() || prefix == "blkio.throttle" {
            return Ok(BlkioStats {
                io_service_bytes_recursive: bytes,
                io_serviced_recursive: ops,
            });
        }
    }
    Ok(BlkioStats::default())
}

fn blkio_file(d: &Path, file: &str) -> Result<Vec<BlkioEntry>> {
    if !fs::exists(d, file) {
        return Ok(Vec::new());
    }
    Ok(parse_blkio(&fs::read(d, file)?))
}

/// `8:0 Read 4096` lines; `Total` lines and anything else are skipped.
pub(crate) fn parse_blkio(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, value] = f[..] else {
                return None;
            };
            let (major, minor) = parse_dev(dev)?;
            Some(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tests::TempDir;

    #[test]
    fn parses_usage_all_and_blkio() {
        let (k, u) = usage_all("cpu user system\n0 10 20\n1 30 40\n");
        assert_eq!(k, vec![20, 40]);
        assert_eq!(u, vec![10, 30]);
        let e = parse_blkio("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].major, e[0].minor, e[0].op.as_str()), (8, 0, "Read"));
        assert_eq!(e[0].value, 4096);
    }

    #[test]
    fn collects_from_fake_files() {
        let t = TempDir::new("v1stats");
        let mem = t.files("memory", &[]);
        std::fs::write(mem.join("memory.usage_in_bytes"), "4096\n").unwrap();
        std::fs::write(mem.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        std::fs::write(mem.join("memory.stat"), "cache 7\nrss 9\n").unwrap();
        let pids = t.files("pids", &[]);
        std::fs::write(pids.join("pids.current"), "3\n").unwrap();
        std::fs::write(pids.join("pids.max"), "max\n").unwrap();
        let dirs = [("memory", mem), ("pids", pids)];
        let lookup = |c: &str| dirs.iter().find(|(n, _)| *n == c).map(|(_, d)| d.as_path());
        let s = collect(&lookup).unwrap();
        assert_eq!(s.memory.usage.usage, 4096);
        assert_eq!(s.memory.cache, 7);
        assert_eq!(s.memory.raw["rss"], 9);
        assert_eq!(s.pids.current, 3);
        assert_eq!(s.pids.limit, 0);
    }
}
