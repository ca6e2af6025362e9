//! Resource limits on a cgroup v2 (unified-only) host: the cgroup2 files, from inside the
//! container and from the host; cgroup.freeze; live updates; the eBPF device filter; bad
//! values refused at create time.
//!
//! Every test skips on a host that is not v2-only. This machine is hybrid, so these run in
//! the cgroup-v2 guest of `tests/vm/run-v2.sh` (`make test-v2`).

#[path = "cgroups_effects.rs"]
mod effects;

use effects::with_resources;
use hull_integration::{cgroup_v2_only, host_cgroup_file, leaks::assert_nothing_left, Hull};
use serde_json::json;

/// Skips (returns true) on a host that is not cgroup-v2-only.
fn no_v2() -> bool {
    if !cgroup_v2_only() {
        eprintln!("skipped: this host is not cgroup-v2-only (run `make test-v2`)");
        return true;
    }
    false
}

/// The content of `file` in the host-side cgroup directory of process `pid`, trimmed.
fn host_file(pid: i64, file: &str) -> String {
    let path = host_cgroup_file(pid, "", file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

const LIMITS_SCRIPT: &str = "cd /sys/fs/cgroup && for f in memory.max cpu.max cpu.weight pids.max; \
                             do echo \"$f=$(cat $f)\"; done; echo \"self=$(cat /proc/self/cgroup)\"";

/// 64 MiB, quota 50 ms per 100 ms, 512 shares (weight 20), 50 pids.
fn limits() -> serde_json::Value {
    json!({"memory": {"limit": 67108864},
           "cpu": {"shares": 512, "quota": 50000, "period": 100000},
           "pids": {"limit": 50}})
}

fn assert_limits(out: &str) {
    for want in [
        "memory.max=67108864",
        "cpu.max=50000 100000",
        "cpu.weight=20",
        "pids.max=50",
    ] {
        assert!(
            out.lines().any(|l| l.trim() == want),
            "missing {want:?}; container printed:\n{out}"
        );
    }
}

#[test]
fn the_container_sees_its_limits_in_cgroup2_files() {
    if no_v2() {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    with_resources(&mut b, limits());
    b.sh_out(LIMITS_SCRIPT);
    let id = h.new_id();
    h.create_start(&id, &b);
    assert_limits(&b.wait_out());
}

#[test]
fn with_a_cgroup_namespace_its_cgroup_is_the_root() {
    if no_v2() {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_namespace("cgroup", None);
    with_resources(&mut b, limits());
    b.sh_out(LIMITS_SCRIPT);
    let id = h.new_id();
    h.create_start(&id, &b);
    let out = b.wait_out();
    assert_limits(&out);
    assert!(out.lines().any(|l| l.trim() == "self=0::/"), "{out}");
}

#[test]
fn the_host_cgroup_has_the_converted_settings() {
    if no_v2() {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    with_resources(
        &mut b,
        json!({"memory": {"limit": 67108864, "swap": 100663296, "reservation": 33554432},
               "cpu": {"shares": 2048, "period": 50000},
               "pids": {"limit": -1},
               "unified": {"memory.high": "60000000", "pids.max": "77"}}),
    );
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_ok(&id, &b);
    let pid = h.pid(&id);
    assert_eq!(host_file(pid, "memory.max"), "67108864");
    assert_eq!(
        host_file(pid, "memory.swap.max"),
        "33554432",
        "swap is memory+swap"
    );
    assert_eq!(host_file(pid, "memory.low"), "33554432");
    assert_eq!(host_file(pid, "cpu.weight"), "79");
    assert_eq!(host_file(pid, "cpu.max"), "max 50000");
    assert_eq!(
        host_file(pid, "memory.high"),
        "59998208",
        "rounded to pages"
    );
    assert_eq!(
        host_file(pid, "pids.max"),
        "77",
        "unified wins over pids.limit"
    );
    let procs = host_file(pid, "cgroup.procs");
    assert_eq!(procs, pid.to_string(), "init is alone in its cgroup");
    h.delete(&id, true).ok();
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn pause_and_resume_use_cgroup_freeze() {
    if no_v2() {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let pid = h.pid(&id);
    assert_eq!(host_file(pid, "cgroup.freeze"), "0");
    h.run(&["pause", &id]).ok();
    assert_eq!(host_file(pid, "cgroup.freeze"), "1");
    assert!(host_file(pid, "cgroup.events").contains("frozen 1"));
    assert_eq!(h.state(&id)["status"], "paused");
    h.run(&["resume", &id]).ok();
    assert_eq!(host_file(pid, "cgroup.freeze"), "0");
    assert!(host_file(pid, "cgroup.events").contains("frozen 0"));
    assert_eq!(h.state(&id)["status"], "running");
}

#[test]
fn update_changes_cpu_and_memory_files() {
    if no_v2() {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    with_resources(&mut b, json!({"pids": {"limit": 100}}));
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let pid = h.pid(&id);
    h.run(&[
        "update",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        "--cpu-shares",
        "2048",
        "--memory",
        "32m",
        "--memory-swap",
        "64m",
        "--pids-limit",
        "9",
        &id,
    ])
    .ok();
    assert_eq!(host_file(pid, "cpu.max"), "20000 100000");
    assert_eq!(host_file(pid, "cpu.weight"), "79");
    assert_eq!(host_file(pid, "memory.max"), "33554432");
    assert_eq!(host_file(pid, "memory.swap.max"), "33554432");
    assert_eq!(host_file(pid, "pids.max"), "9");
}

#[test]
fn a_fork_bomb_stops_at_the_pids_limit() {
    if no_v2() {
        return;
    }
    effects::fork_bomb_stops_at_pids_limit();
}

#[test]
fn the_ebpf_device_filter_denies_opening_a_denied_device() {
    if no_v2() {
        return;
    }
    effects::a_denied_device_cannot_be_opened();
}

/// `create` with `resources` fails with one line naming every one of `needles`, and leaves
/// no state dir, cgroup, mount or process behind.
fn refused(resources: serde_json::Value, needles: &[&str]) {
    let h = Hull::new();
    let mut b = h.bundle();
    with_resources(&mut b, resources);
    let id = h.new_id();
    h.create(&id, &b).assert_error(needles);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn bad_values_are_refused_at_create_naming_the_field() {
    if no_v2() {
        return;
    }
    refused(json!({"cpu": {"shares": -2}}), &["cpu.shares"]);
    refused(json!({"blockIO": {"weight": -1}}), &["blockIO.weight"]);
    refused(
        json!({"unified": {"memory.no_such_file": "1"}}),
        &["unified", "memory.no_such_file"],
    );
    refused(
        json!({"unified": {"nosuchctl.max": "1"}}),
        &["unified", "nosuchctl"],
    );
    refused(
        json!({"unified": {"cpu.weight": "0"}}),
        &["unified", "cpu.weight"],
    );
    refused(
        json!({"devices": [{"allow": true, "type": "x", "access": "rwm"}]}),
        &["devices"],
    );
    refused(
        json!({"devices": [{"allow": true, "type": "c", "access": "xyz"}]}),
        &["devices[0].access"],
    );
}

#[test]
fn a_frozen_cgroup_is_refused() {
    if no_v2() {
        return;
    }
    effects::a_frozen_cgroup_is_refused();
}

#[test]
fn access_letters_are_read_as_runc_reads_them() {
    if no_v2() {
        return;
    }
    effects::access_letters_are_read_as_runc_reads_them();
}
