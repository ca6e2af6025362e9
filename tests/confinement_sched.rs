//! `process.ioPriority`, `process.scheduler`, `linux.personality` and
//! `process.execCPUAffinity`, read back from inside the container.

use hull_integration::{leaks::assert_nothing_left, Hull};
use serde_json::json;
use std::time::Duration;

/// Field `n` (1-based, as proc(5) numbers them) of /proc/self/stat output.
fn stat_field(stat: &str, n: usize) -> String {
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    rest.split_whitespace()
        .nth(n - 3)
        .expect("field")
        .to_string()
}

#[test]
fn io_priority_is_set() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    b.sh("ionice -p $$");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.contains("best-effort: prio 6"), "{out}");
}

#[test]
fn scheduler_policy_and_nice_are_set() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
    b.sh("cat /proc/self/stat");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(stat_field(&out.stdout, 19), "7", "nice: {out}");
    assert_eq!(
        stat_field(&out.stdout, 41),
        "3",
        "policy SCHED_BATCH: {out}"
    );
}

#[test]
fn personality_linux32_reports_i686() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    b.sh("uname -m");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(out.stdout.trim(), "i686", "{out}");
}

#[test]
fn exec_cpu_affinity_final_is_what_the_program_gets() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "1"});
    b.sh("grep Cpus_allowed_list /proc/self/status");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.trim().ends_with("\t1"), "{out}");
}

#[test]
fn bad_cpu_list_is_an_error_and_leaves_nothing() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]["execCPUAffinity"] = json!({"final": "x-y"});
    b.sh("true");
    let id = h.new_id();
    let out = h.create(&id, &b).fail();
    out.assert_error(&["execCPUAffinity"]);
    assert_nothing_left(&h, &id, &b.dir);
}

/// runtime-spec's flag names (`SCHED_FLAG_RESET_ON_FORK`): sched_getscheduler shows the
/// reset-on-fork bit.
#[test]
fn scheduler_flags_by_the_spec_names() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]["scheduler"] =
        json!({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
    b.add_sysc("/sysc", 0o755).args(&["/sysc", "145", "0"]);
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(
        out.stdout.contains(&format!("ret={} ", 0x4000_0000)),
        "{out}"
    );
}

/// `exec`'d processes get the container's personality too.
#[test]
fn personality_linux32_for_exec() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let out = h.run(&["exec", &id, "uname", "-m"]).ok();
    assert_eq!(out.stdout.trim(), "i686", "{out}");
    h.kill(&id, Some("KILL")).ok();
    h.wait_status(&id, "stopped", Duration::from_secs(10));
}

/// Without `execCPUAffinity`, the container's processes may run on every CPU of its cpuset,
/// not only on the one hull was started on (`taskset -c 0 hull run`): runc 1.2's reset, for
/// init and for exec.
#[test]
fn cpu_affinity_is_reset_to_the_cpuset() {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let own = sched_getaffinity(Pid::from_raw(0)).unwrap();
    let cpus: Vec<usize> = (0..CpuSet::count())
        .filter(|c| own.is_set(*c).unwrap_or(false))
        .collect();
    if cpus.len() < 2 {
        eprintln!("skipped: needs two CPUs");
        return;
    }
    let allowed = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no Cpus_allowed_list in {out}"))
    };
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["grep", "Cpus_allowed_list", "/proc/self/status"]);
    let mut sleeper = h.bundle();
    sleeper.args(&["sleep", "1000"]);
    let id = h.new_id();
    // this test's thread (so hull, its child) pinned to the first CPU only
    let mut first = CpuSet::new();
    first.set(cpus[0]).unwrap();
    sched_setaffinity(Pid::from_raw(0), &first).unwrap();
    let run = h.run_fg(&h.new_id(), &b, &[]);
    h.create_start(&id, &sleeper);
    let exec = h.run(&[
        "exec",
        &id,
        "grep",
        "Cpus_allowed_list",
        "/proc/self/status",
    ]);
    sched_setaffinity(Pid::from_raw(0), &own).unwrap();
    let (run, exec) = (run.ok(), exec.ok());
    let want = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_eq!(allowed(&run.stdout), allowed(&want), "run:\n{run}");
    assert_eq!(allowed(&exec.stdout), allowed(&want), "exec:\n{exec}");
}
