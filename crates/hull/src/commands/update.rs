//! `hull update`: builds the resource change from runc's flags (or `-r` JSON) and applies it.

use std::io::Read;

use hull_runtime::container::intel_rdt;
use hull_runtime::container::state::Container;
use hull_runtime::container::update::{self, parse_bytes};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::cli::{Global, UpdateFlags};

/// Applies the requested change to the live cgroup and the state record; an Intel RDT
/// schema is refused before anything changes.
pub fn run(global: &Global, flags: &UpdateFlags) -> anyhow::Result<i32> {
    Container::load(&global.root, &flags.id)?;
    intel_rdt::check_schemas(
        flags.l3_cache_schema.as_deref(),
        flags.mem_bw_schema.as_deref(),
    )?;
    let patch = match &flags.resources {
        Some(src) => read_resources(src)?,
        None => from_flags(flags)?,
    };
    update::update(&global.root, &flags.id, &patch)?;
    Ok(0)
}

/// Reads OCI `linux.resources` JSON from a file, or stdin for `-`.
fn read_resources(src: &str) -> anyhow::Result<LinuxResources> {
    let mut text = String::new();
    if src == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(src)
            .map_err(|e| anyhow::anyhow!("read resources from {src}: {e}"))?;
    }
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("resources in {src}: {e}"))
}

fn bytes(v: &Option<String>) -> anyhow::Result<Option<i64>> {
    Ok(v.as_deref().map(parse_bytes).transpose()?)
}

/// The change the flags ask for; groups with no flag set stay absent.
fn from_flags(f: &UpdateFlags) -> anyhow::Result<LinuxResources> {
    let mut res = LinuxResources::default();
    let mut mem = LinuxMemory::default();
    mem.set_limit(bytes(&f.memory)?);
    mem.set_swap(bytes(&f.memory_swap)?);
    mem.set_reservation(bytes(&f.memory_reservation)?);
    mem.set_kernel(bytes(&f.kernel_memory)?);
    mem.set_kernel_tcp(bytes(&f.kernel_memory_tcp)?);
    if mem != LinuxMemory::default() {
        res.set_memory(Some(mem));
    }
    let mut cpu = LinuxCpu::default();
    cpu.set_shares(f.cpu_share);
    cpu.set_quota(f.cpu_quota);
    cpu.set_period(f.cpu_period);
    cpu.set_burst(f.cpu_burst);
    cpu.set_idle(f.cpu_idle);
    cpu.set_realtime_period(f.cpu_rt_period);
    cpu.set_realtime_runtime(f.cpu_rt_runtime);
    cpu.set_cpus(f.cpuset_cpus.clone());
    cpu.set_mems(f.cpuset_mems.clone());
    if cpu != LinuxCpu::default() {
        res.set_cpu(Some(cpu));
    }
    if let Some(limit) = f.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(limit);
        res.set_pids(Some(p));
    }
    if let Some(w) = f.blkio_weight {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        res.set_block_io(Some(b));
    }
    Ok(res)
}
