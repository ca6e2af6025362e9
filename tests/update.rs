//! update: changing the limits of a live container.

use hull_integration::{cgroup_v2_only, host_cgroup_file, Hull};
use serde_json::json;

fn pids_max(pid: i64) -> String {
    let path = host_cgroup_file(pid, "pids", "pids.max");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

fn memory_limit(pid: i64) -> String {
    let file = if cgroup_v2_only() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    std::fs::read_to_string(host_cgroup_file(pid, "memory", file))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn flags_change_the_live_cgroup_and_the_record() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["linux"]["resources"]["pids"] = json!({"limit": 100});
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let pid = h.pid(&id);
    assert_eq!(pids_max(pid), "100");
    h.run(&["update", "--pids-limit", "42", "--memory", "64m", &id])
        .ok();
    assert_eq!(pids_max(pid), "42");
    assert_eq!(memory_limit(pid), "67108864");
    let record = std::fs::read_to_string(h.state_dir(&id).join("state.json")).unwrap();
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    let res = &record["spec"]["linux"]["resources"];
    assert_eq!(res["pids"]["limit"], 42, "{res}");
    assert_eq!(res["memory"]["limit"], 67108864, "{res}");
    h.run(&["update", "--pids-limit", "-1", &id]).ok();
    assert_eq!(pids_max(pid), "max");
}

#[test]
fn a_resources_file_is_applied() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let file = h.temp_dir().join("resources.json");
    std::fs::write(&file, r#"{"pids": {"limit": 7}}"#).unwrap();
    h.run(&["update", "-r", file.to_str().unwrap(), &id]).ok();
    assert_eq!(pids_max(h.pid(&id)), "7");
    h.run(&["update", "--memory", "lots", &id])
        .assert_error(&["invalid size"]);
}

#[test]
fn a_stopped_container_cannot_be_updated() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["true"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    h.wait_stopped(&id);
    h.run(&["update", "--pids-limit", "5", &id])
        .assert_error(&["stopped"]);
}

/// `--l3-cache-schema` / `--mem-bw-schema` (Intel RDT): without resctrl, one line naming
/// what is missing, and nothing else in the same update changes.
#[test]
fn intel_rdt_schemas_name_what_is_missing() {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    if mountinfo.contains(" - resctrl ") {
        eprintln!("skipping: resctrl is mounted here");
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["linux"]["resources"]["pids"] = json!({"limit": 100});
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let pid = h.pid(&id);
    for (flag, value, feature) in [
        ("--l3-cache-schema", "L3:0=ff", "CAT"),
        ("--mem-bw-schema", "MB:0=70", "MBA"),
    ] {
        let out = h.run(&["update", "--pids-limit", "42", flag, value, &id]);
        out.assert_error(&[
            &format!("Intel RDT/{feature}"),
            hull_integration::hull_only("resctrl"),
            hull_integration::hull_only(&id),
        ]);
        assert_eq!(pids_max(pid), "100", "nothing changed:\n{out}");
    }
}

/// `--memory -1` lifts a limited memory+swap too (runc), instead of a kernel EINVAL; the limit
/// can then go down again.
#[test]
fn memory_minus_one_lifts_the_swap_limit() {
    let v2 = cgroup_v2_only();
    if !v2 && !std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        eprintln!("skipped: no swap accounting");
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    b.config["linux"]["resources"]["memory"] = json!({"limit": 104857600, "swap": 209715200});
    let id = h.new_id();
    h.create_start(&id, &b);
    let pid = h.pid(&id);
    let limit = || memory_limit(pid);
    h.run(&["update", "--memory", "-1", &id]).ok();
    let unlimited = limit();
    assert!(unlimited == "max" || unlimited.len() >= 18, "{unlimited}");
    h.run(&["update", "--memory", "100m", &id]).ok();
    assert_eq!(limit(), "104857600");
}

/// runc 1.2's `--cpu-idle` and `--cpu-burst` (where the kernel has `cpu.idle` and the burst
/// file): 1 and 0 are written, what the kernel refuses fails and changes nothing.
#[test]
fn cpu_idle_and_burst_flags() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let pid = h.pid(&id);
    let (idle, burst) = if cgroup_v2_only() {
        ("cpu.idle", "cpu.max.burst")
    } else {
        ("cpu.idle", "cpu.cfs_burst_us")
    };
    let read = |file: &str| {
        std::fs::read_to_string(host_cgroup_file(pid, "cpu", file))
            .ok()
            .map(|s| s.trim().to_string())
    };
    if read(idle).is_none() || read(burst).is_none() {
        eprintln!("skipped: this kernel has no {idle} or {burst}");
        return;
    }
    for v in ["1", "0", "1"] {
        h.run(&["update", "--cpu-idle", v, &id]).ok();
        assert_eq!(read(idle).as_deref(), Some(v));
    }
    for v in ["-1", "2"] {
        let out = h.run(&["update", "--cpu-idle", v, &id]);
        assert!(!out.success(), "{out}");
        assert_eq!(read(idle).as_deref(), Some("1"));
    }
    h.run(&[
        "update",
        "--cpu-period",
        "900000",
        "--cpu-burst",
        "500000",
        &id,
    ])
    .ok();
    assert_eq!(read(burst).as_deref(), Some("500000"));
    h.run(&["update", "--cpu-burst", "0", &id]).ok();
    assert_eq!(read(burst).as_deref(), Some("0"));
}
