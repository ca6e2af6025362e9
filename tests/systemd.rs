//! `--systemd-cgroup`: the cgroup is a transient systemd unit (asked for over D-Bus).
//!
//! The tests that need systemd as PID 1 run in the systemd guest (`make test-systemd`,
//! tests/vm/run-systemd.sh) and return at once elsewhere; they check the unit with
//! `systemctl show`, the limits in the cgroup files, and that nothing is left in systemd
//! after delete. The error tests run anywhere.

use std::path::PathBuf;
use std::process::Command;

use hull_integration::leaks::assert_nothing_left;
use hull_integration::{Bundle, Hull};
use serde_json::json;

/// Whether systemd is PID 1 here (as runc checks it).
fn systemd_running() -> bool {
    let up = std::path::Path::new("/run/systemd/system").is_dir();
    if !up {
        eprintln!("skipped: systemd is not PID 1 here (run `make test-systemd`)");
    }
    up
}

/// `systemctl show UNIT -p NAME --value`, trimmed.
fn show(unit: &str, property: &str) -> String {
    let out = Command::new("systemctl")
        .args(["show", unit, "-p", property, "--value"])
        .output()
        .expect("run systemctl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `systemctl list-units --all` lines that mention `needle`.
fn units_mentioning(needle: &str) -> Vec<String> {
    let out = Command::new("systemctl")
        .args(["list-units", "--all", "--no-legend", "--plain"])
        .output()
        .expect("run systemctl list-units");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// The container's cgroup directory, from its init's `/proc/<pid>/cgroup` (v2 only).
fn cgroup_of(pid: i64) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("no cgroup2 line in /proc/{pid}/cgroup: {text}"))
        .to_string()
}

fn read(dir: &str, file: &str) -> String {
    let path = PathBuf::from(format!("/sys/fs/cgroup{dir}/{file}"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// A bundle running `sleep` with `cgroupsPath`.
fn sleeper(h: &Hull, cgroups_path: &str) -> Bundle {
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    b.config["linux"]["cgroupsPath"] = json!(cgroups_path);
    b
}

fn create_start(h: &Hull, id: &str, b: &Bundle) {
    b.save();
    let bundle = b.dir.to_str().unwrap();
    h.run(&["--systemd-cgroup", "create", "--bundle", bundle, id])
        .ok();
    h.start(id).ok();
}

/// After delete: no unit, no cgroup, no state.
#[track_caller]
fn assert_gone(h: &Hull, id: &str, b: &Bundle, unit: &str) {
    assert_eq!(units_mentioning(unit), Vec::<String>::new(), "stray unit");
    assert_eq!(show(unit, "LoadState"), "not-found");
    assert_nothing_left(h, id, &b.dir);
}

#[test]
fn a_scope_with_delegate_and_the_limits_as_properties() {
    if !systemd_running() {
        return;
    }
    let h = Hull::new();
    let id = h.new_id();
    let mut b = sleeper(&h, &format!("system.slice:hull:{id}"));
    b.config["linux"]["resources"] = json!({
        "memory": {"limit": 67108864, "reservation": 33554432},
        "pids": {"limit": 42},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
        "blockIO": {"weight": 300},
        "devices": [{"allow": false, "access": "rwm"}],
        // no unit property for memory.high: written to the file
        "unified": {"memory.high": "61440000"}
    });
    create_start(&h, &id, &b);
    let unit = format!("hull-{id}.scope");
    let pid = h.pid(&id);
    let dir = cgroup_of(pid);
    assert_eq!(dir, format!("/system.slice/{unit}"));
    assert_eq!(show(&unit, "ActiveState"), "active");
    assert_eq!(show(&unit, "Delegate"), "yes");
    assert_eq!(show(&unit, "Slice"), "system.slice");
    assert_eq!(show(&unit, "ControlGroup"), dir);
    assert_eq!(show(&unit, "MemoryMax"), "67108864");
    assert_eq!(show(&unit, "MemoryLow"), "33554432");
    assert_eq!(show(&unit, "TasksMax"), "42");
    assert_eq!(show(&unit, "CPUWeight"), "20");
    assert_eq!(show(&unit, "CPUQuotaPerSecUSec"), "500ms");
    assert_eq!(show(&unit, "CPUQuotaPeriodUSec"), "100ms");
    assert_eq!(show(&unit, "AllowedCPUs"), "0");
    assert_eq!(show(&unit, "IOWeight"), "2930");
    assert_eq!(show(&unit, "DevicePolicy"), "strict");
    assert!(show(&unit, "DeviceAllow").contains("/dev/char/1:3 rwm"));
    assert_eq!(read(&dir, "memory.max"), "67108864");
    assert_eq!(read(&dir, "memory.low"), "33554432");
    assert_eq!(read(&dir, "memory.high"), "61440000");
    assert_eq!(read(&dir, "pids.max"), "42");
    assert_eq!(read(&dir, "cpu.weight"), "20");
    assert_eq!(read(&dir, "cpu.max"), "50000 100000");
    assert_eq!(read(&dir, "cpuset.cpus"), "0");
    // The container can still use its default devices (both device filters allow them).
    let out = h
        .run(&[
            "exec",
            &id,
            "sh",
            "-c",
            "echo hi >/dev/null && head -c 1 /dev/zero | wc -c",
        ])
        .ok();
    assert_eq!(out.stdout.trim(), "1");
    h.delete(&id, true).ok();
    assert_gone(&h, &id, &b, &unit);
}

#[test]
fn update_pause_ps_events_and_delete() {
    if !systemd_running() {
        return;
    }
    let h = Hull::new();
    let id = h.new_id();
    // empty cgroupsPath: system.slice:hull:<id>
    let b = sleeper(&h, "");
    create_start(&h, &id, &b);
    let unit = format!("hull-{id}.scope");
    let pid = h.pid(&id);
    let dir = cgroup_of(pid);
    assert_eq!(dir, format!("/system.slice/{unit}"));
    h.run(&["update", "--memory", "32m", "--pids-limit", "7", &id])
        .ok();
    assert_eq!(show(&unit, "MemoryMax"), "33554432");
    assert_eq!(show(&unit, "TasksMax"), "7");
    assert_eq!(read(&dir, "memory.max"), "33554432");
    assert_eq!(read(&dir, "pids.max"), "7");
    h.run(&["pause", &id]).ok();
    assert_eq!(h.status(&id).as_deref(), Some("paused"));
    assert_eq!(read(&dir, "cgroup.freeze"), "1");
    h.run(&["resume", &id]).ok();
    assert_eq!(h.status(&id).as_deref(), Some("running"));
    let ps = h.run(&["ps", "--format", "json", &id]).ok();
    assert_eq!(ps.stdout.trim(), format!("[{pid}]"));
    let ev = h.run(&["events", "--stats", &id]).ok();
    let ev: serde_json::Value = serde_json::from_str(ev.stdout.trim()).expect("events JSON");
    assert_eq!(ev["data"]["pids"]["current"], 1, "{ev}");
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 33554432u64, "{ev}");
    h.kill(&id, Some("KILL")).ok();
    h.wait_stopped(&id);
    h.delete(&id, false).ok();
    assert_gone(&h, &id, &b, &unit);
}

#[test]
fn kubelet_pod_slices_are_expanded() {
    if !systemd_running() {
        return;
    }
    let h = Hull::new();
    let id = h.new_id();
    let pod = format!("pod{}", hull_integration::unique().replace('-', "_"));
    let slice = format!("kubepods-besteffort-{pod}.slice");
    let b = sleeper(&h, &format!("{slice}:cri-containerd:{id}"));
    create_start(&h, &id, &b);
    let unit = format!("cri-containerd-{id}.scope");
    let dir = cgroup_of(h.pid(&id));
    assert_eq!(
        dir,
        format!("/kubepods.slice/kubepods-besteffort.slice/{slice}/{unit}")
    );
    assert_eq!(show(&unit, "Slice"), slice);
    assert_eq!(show(&slice, "Slice"), "kubepods-besteffort.slice");
    assert_eq!(show("kubepods-besteffort.slice", "Slice"), "kubepods.slice");
    h.delete(&id, true).ok();
    assert_gone(&h, &id, &b, &unit);
    let _ = Command::new("systemctl").args(["stop", &slice]).status();
}

#[test]
fn a_slice_as_the_cgroup() {
    if !systemd_running() {
        return;
    }
    let h = Hull::new();
    let id = h.new_id();
    let name = format!(
        "system-hit{}.slice",
        hull_integration::unique().replace('-', "_")
    );
    let b = sleeper(&h, &format!("system.slice::{name}"));
    create_start(&h, &id, &b);
    assert_eq!(cgroup_of(h.pid(&id)), format!("/system.slice/{name}"));
    assert_eq!(show(&name, "ActiveState"), "active");
    h.delete(&id, true).ok();
    assert_eq!(units_mentioning(&name), Vec::<String>::new(), "stray slice");
    assert!(!PathBuf::from(format!("/sys/fs/cgroup/system.slice/{name}")).exists());
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn a_malformed_cgroups_path_is_an_error_naming_it() {
    let h = Hull::new();
    for bad in ["/hull/abs", "system.slice:only-two", "bad/slice.slice:p:n"] {
        let id = h.new_id();
        let b = sleeper(&h, bad);
        b.save();
        let out = h.run(&[
            "--systemd-cgroup",
            "create",
            "--bundle",
            b.dir.to_str().unwrap(),
            &id,
        ]);
        out.assert_error(&[bad, "cgroup"]);
        assert_nothing_left(&h, &id, &b.dir);
    }
}

#[test]
fn without_systemd_the_driver_is_refused() {
    if std::path::Path::new("/run/systemd/system").is_dir() {
        eprintln!("skipped: systemd runs here");
        return;
    }
    let h = Hull::new();
    let id = h.new_id();
    let b = sleeper(&h, "system.slice:hull:x");
    b.save();
    let out = h.run(&[
        "--systemd-cgroup",
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        &id,
    ]);
    out.assert_error(&["systemd not running on this host, cannot use systemd cgroups manager"]);
    assert_nothing_left(&h, &id, &b.dir);
}
