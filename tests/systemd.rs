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

/// The uid and gid of the rootless tests' user `hulltest` (made if missing).
fn test_user() -> (u32, u32) {
    let lookup = || {
        let text = std::fs::read_to_string("/etc/passwd").unwrap();
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[0] == "hulltest")
                .then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        })
    };
    if let Some(u) = lookup() {
        return u;
    }
    let _ = Command::new("useradd")
        .args(["-m", "-s", "/bin/sh", "hulltest"])
        .status();
    lookup().expect("useradd hulltest")
}

/// `program args` as `uid`, with the user manager's environment; stdout and stderr go to
/// files (a container inherits them and would hold a pipe open).
fn as_user(h: &Hull, uid: u32, gid: u32, program: &str, args: &[&str]) -> hull_integration::Out {
    let run = format!("/run/user/{uid}");
    let io = h.temp_dir();
    let (out, err) = (io.join("out"), io.join("err"));
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", "40", "setpriv"]);
    cmd.args([
        &format!("--reuid={uid}"),
        &format!("--regid={gid}"),
        "--clear-groups",
        "--",
    ])
    .arg(program)
    .args(args)
    .env("XDG_RUNTIME_DIR", &run)
    .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={run}/bus"))
    .stdin(std::process::Stdio::null())
    .stdout(std::fs::File::create(&out).unwrap())
    .stderr(std::fs::File::create(&err).unwrap());
    let cmdline = format!("{cmd:?}");
    let status = cmd.status().expect("run setpriv");
    hull_integration::Out {
        cmdline,
        status,
        stdout: std::fs::read_to_string(out).unwrap_or_default(),
        stderr: std::fs::read_to_string(err).unwrap_or_default(),
    }
}

#[test]
fn unprivileged_the_users_own_manager() {
    if !systemd_running() {
        return;
    }
    let (uid, gid) = test_user();
    let manager = format!("user@{uid}.service");
    let started = Command::new("timeout")
        .args(["60", "systemctl", "start", &manager])
        .status()
        .expect("systemctl start user@");
    assert!(started.success(), "systemctl start {manager}: {started}");
    let h = Hull::new();
    let id = h.new_id();
    let mut b = h.bundle();
    let root = h.temp_dir();
    std::os::unix::fs::chown(&b.dir, Some(uid), Some(gid)).unwrap();
    std::os::unix::fs::chown(&root, Some(uid), Some(gid)).unwrap();
    std::fs::remove_file(b.config_path()).unwrap();
    let hull = hull_integration::hull_bin();
    let hull = hull.to_str().unwrap();
    let bundle_dir = b.dir.clone();
    let (bundle, root) = (bundle_dir.to_str().unwrap(), root.to_str().unwrap());
    as_user(
        &h,
        uid,
        gid,
        hull,
        &["spec", "--rootless", "--bundle", bundle],
    )
    .ok();
    b.config = serde_json::from_str(&std::fs::read_to_string(b.config_path()).unwrap()).unwrap();
    b.args(&["sleep", "1000"]).terminal(false);
    b.save();
    let hull_as_user = |args: &[&str]| {
        let mut all = vec!["--root", root];
        all.extend_from_slice(args);
        as_user(&h, uid, gid, hull, &all)
    };
    eprintln!("{manager} started");
    hull_as_user(&["--systemd-cgroup", "create", "--bundle", bundle, &id]).ok();
    hull_as_user(&["start", &id]).ok();
    let state: serde_json::Value =
        serde_json::from_str(&hull_as_user(&["state", &id]).ok().stdout).unwrap();
    let unit = format!("hull-{id}.scope");
    let dir = cgroup_of(state["pid"].as_i64().unwrap());
    assert_eq!(
        dir,
        format!("/user.slice/user-{uid}.slice/{manager}/user.slice/{unit}")
    );
    let show = |property: &str| {
        let out = as_user(
            &h,
            uid,
            gid,
            "systemctl",
            &["--user", "show", &unit, "-p", property, "--value"],
        );
        out.stdout.trim().to_string()
    };
    assert_eq!(show("ActiveState"), "active");
    assert_eq!(show("Delegate"), "yes");
    hull_as_user(&["delete", "--force", &id]).ok();
    assert_eq!(show("LoadState"), "not-found");
    assert!(!PathBuf::from(format!("/sys/fs/cgroup{dir}")).exists());
    let _ = Command::new("systemctl").args(["stop", &manager]).status();
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
