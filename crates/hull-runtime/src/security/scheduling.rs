//! How the process is scheduled: `process.ioPriority` (ioprio_set), `process.scheduler`
//! (sched_setattr, every policy and flag) and `process.execCPUAffinity` (initial and final CPU
//! sets). libc has no wrapper for ioprio_set or sched_attr, so both are written out here.

use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler,
};

use crate::error::{Context, Error, Result};

const IOPRIO_WHO_PROCESS: libc::c_long = 1;
const IOPRIO_CLASS_SHIFT: i64 = 13;

/// Set the I/O scheduling class and priority of this process.
pub fn set_io_priority(prio: &LinuxIOPriority) -> Result<()> {
    let class = match prio.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..8).contains(&prio.priority()) {
        return Err(Error::Msg(format!(
            "process.ioPriority.priority {} is not in 0..7",
            prio.priority()
        )));
    }
    let value = (class << IOPRIO_CLASS_SHIFT) | prio.priority();
    // SAFETY: ioprio_set takes three integers; no memory is involved.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    nix::errno::Errno::result(r)
        .ctx(|| "process.ioPriority: ioprio_set")
        .map(drop)
}

/// The kernel's `struct sched_attr` (version 1, with utilization clamps).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

fn policy_number(p: LinuxSchedulerPolicy) -> u32 {
    match p {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    }
}

fn flag_bit(f: &LinuxSchedulerFlag) -> u64 {
    match f {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

/// runtime-spec's names for the `process.scheduler.flags` oci-spec spells otherwise, with
/// oci-spec's spelling: the raw config JSON is rewritten before it is parsed.
const SPEC_FLAG_NAMES: [(&str, &str); 2] = [
    ("SCHED_FLAG_RESET_ON_FORK", "SCHED_RESET_ON_FORK"),
    ("SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_D_L_OVERRUN"),
];

/// Accept runtime-spec's flag names in `scheduler.flags` of a raw `process` object.
pub fn accept_spec_flag_names(process: &mut serde_json::Value) {
    let Some(flags) = process
        .pointer_mut("/scheduler/flags")
        .and_then(|f| f.as_array_mut())
    else {
        return;
    };
    for flag in flags {
        let ours = SPEC_FLAG_NAMES
            .iter()
            .find(|(spec, _)| flag.as_str() == Some(spec));
        if let Some((_, ours)) = ours {
            *flag = serde_json::Value::from(*ours);
        }
    }
}

/// Apply `process.scheduler` with sched_setattr.
pub fn set_scheduler(s: &Scheduler) -> Result<()> {
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: policy_number(*s.policy()),
        flags: s
            .flags()
            .iter()
            .flatten()
            .map(flag_bit)
            .fold(0, |a, b| a | b),
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        ..SchedAttr::default()
    };
    // SAFETY: sched_setattr reads `size` bytes from a valid, initialised sched_attr.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    nix::errno::Errno::result(r)
        .ctx(|| format!("process.scheduler: sched_setattr {:?}", s.policy()))
        .map(drop)
}

/// Parse a CPU list such as `0-3,7`.
pub fn parse_cpus(list: &str) -> Result<CpuSet> {
    let bad = || {
        Error::Msg(format!(
            "process.execCPUAffinity: invalid CPU list {list:?}"
        ))
    };
    let mut set = CpuSet::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (
                a.parse::<usize>().map_err(|_| bad())?,
                b.parse::<usize>().map_err(|_| bad())?,
            ),
            None => {
                let n = part.parse::<usize>().map_err(|_| bad())?;
                (n, n)
            }
        };
        for cpu in lo..=hi {
            set.set(cpu).map_err(|_| bad())?;
        }
    }
    Ok(set)
}

/// Pin this process to the CPUs of `list`.
pub fn set_affinity(list: &str) -> Result<()> {
    let set = parse_cpus(list)?;
    sched_setaffinity(Pid::from_raw(0), &set)
        .ctx(|| format!("process.execCPUAffinity: sched_setaffinity {list}"))
}

/// Let the process run on every CPU its cpuset allows (the kernel intersects the full mask
/// with the cgroup's cpuset), not only on those hull itself was started on (`taskset`, a
/// pinned supervisor): runc 1.2's reset, for processes without `execCPUAffinity`. A failure
/// only leaves the inherited affinity, so it is not an error.
pub fn reset_affinity() {
    let mut all = CpuSet::new();
    for cpu in 0..CpuSet::count() {
        let _ = all.set(cpu);
    }
    if let Err(e) = sched_setaffinity(Pid::from_raw(0), &all) {
        tracing::debug!("reset the CPU affinity: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_flag_name_parses() {
        let names = [
            "SCHED_FLAG_RESET_ON_FORK",
            "SCHED_FLAG_RECLAIM",
            "SCHED_FLAG_DL_OVERRUN",
            "SCHED_FLAG_KEEP_POLICY",
            "SCHED_FLAG_KEEP_PARAMS",
            "SCHED_FLAG_UTIL_CLAMP_MIN",
            "SCHED_FLAG_UTIL_CLAMP_MAX",
        ];
        let mut p = serde_json::json!({"scheduler": {"policy": "SCHED_OTHER", "flags": names}});
        accept_spec_flag_names(&mut p);
        let s: Scheduler = serde_json::from_value(p["scheduler"].clone()).unwrap();
        assert_eq!(s.flags().as_ref().map(Vec::len), Some(7));
    }

    #[test]
    fn cpu_lists() {
        let set = parse_cpus("0-2,5").unwrap();
        assert!(set.is_set(0).unwrap() && set.is_set(2).unwrap() && set.is_set(5).unwrap());
        assert!(!set.is_set(3).unwrap());
        assert!(parse_cpus("a-b").is_err());
    }
}
