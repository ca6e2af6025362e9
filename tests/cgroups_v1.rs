//! Resource limits on a cgroup v1 (or hybrid) host, seen from inside the container.

#[path = "cgroups_effects.rs"]
mod effects;

use effects::with_resources;
use hull_integration::{cgroup_v2_only, host_cgroup_file, Hull};
use serde_json::json;

/// Skips (returns true) on a host without cgroup v1 hierarchies.
fn no_v1() -> bool {
    if cgroup_v2_only() {
        eprintln!("skipped: this host has no cgroup v1 hierarchies");
        return true;
    }
    false
}

#[test]
fn the_container_sees_its_limits() {
    if no_v1() {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    with_resources(
        &mut b,
        json!({"memory": {"limit": 67108864}, "cpu": {"shares": 512}, "pids": {"limit": 50}}),
    );
    b.sh_out(
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares \
         /sys/fs/cgroup/pids/pids.max",
    );
    let id = h.new_id();
    h.create_start(&id, &b);
    let out = b.wait_out();
    let got: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(got, ["67108864", "512", "50"], "container printed:\n{out}");
}

/// `(major, minor)` of a whole disk (not a loop, ram or zram device), if the host has one.
fn a_disk() -> Option<(u64, u64)> {
    let rd = std::fs::read_dir("/sys/block").ok()?;
    rd.flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            !["loop", "ram", "zram"].iter().any(|p| n.starts_with(p))
        })
        .find_map(|e| {
            let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
            let (a, b) = dev.trim().split_once(':')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
}

#[test]
fn the_host_cgroup_has_the_extra_settings() {
    if no_v1() {
        return;
    }
    let Some(disk) = a_disk() else {
        eprintln!("skipped: no block device to throttle");
        return;
    };
    let h = Hull::new();
    let mut b = h.bundle();
    with_resources(
        &mut b,
        json!({"memory": {"limit": 67108864, "swappiness": 20, "disableOOMKiller": true},
               "cpu": {"quota": 50000, "period": 100000, "burst": 1000, "idle": 0},
               "blockIO": {"throttleReadBpsDevice": [{"major": disk.0, "minor": disk.1, "rate": 1048576}]}}),
    );
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_ok(&id, &b);
    let pid = h.pid(&id);
    let read = |c: &str, f: &str| {
        std::fs::read_to_string(host_cgroup_file(pid, c, f))
            .unwrap_or_else(|e| panic!("read {f}: {e}"))
    };
    assert_eq!(read("memory", "memory.swappiness").trim(), "20");
    assert!(read("memory", "memory.oom_control").contains("oom_kill_disable 1"));
    assert_eq!(read("cpu", "cpu.cfs_quota_us").trim(), "50000");
    assert_eq!(read("cpu", "cpu.cfs_burst_us").trim(), "1000");
    let line = format!("{}:{} 1048576", disk.0, disk.1);
    assert!(read("blkio", "blkio.throttle.read_bps_device").contains(&line));
}

#[test]
fn an_unmounted_controller_is_a_clear_error() {
    if no_v1() || std::path::Path::new("/sys/fs/cgroup/net_cls").exists() {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    with_resources(&mut b, json!({"network": {"classID": 1048577}}));
    let id = h.new_id();
    let out = h.create(&id, &b);
    out.assert_error(&["network.classID", "net_cls"]);
}

#[test]
fn a_one_mib_memory_limit_runs_true() {
    let h = Hull::new();
    let mut b = h.bundle();
    with_resources(&mut b, json!({"memory": {"limit": 1048576}}));
    b.sh_out("/bin/true && echo ok");
    let id = h.new_id();
    h.create_start(&id, &b);
    assert_eq!(b.wait_out().trim(), "ok");
}

#[test]
fn a_fork_bomb_stops_at_the_pids_limit() {
    if no_v1() {
        return;
    }
    effects::fork_bomb_stops_at_pids_limit();
}

#[test]
fn the_devices_cgroup_denies_opening_a_denied_device() {
    if no_v1() {
        return;
    }
    effects::a_denied_device_cannot_be_opened();
}

#[test]
fn a_frozen_cgroup_is_refused() {
    if no_v1() {
        return;
    }
    effects::a_frozen_cgroup_is_refused();
}

/// `linux.resources.unified` on a v1 host is refused in runc's words, before anything is made.
#[test]
fn unified_on_v1_is_an_invalid_configuration() {
    if no_v1() {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    with_resources(&mut b, json!({"unified": {"memory.max": "100000000"}}));
    let id = h.new_id();
    let out = h.create(&id, &b);
    out.assert_error(&["invalid configuration", "unified"]);
    hull_integration::leaks::assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn access_letters_are_read_as_runc_reads_them() {
    if no_v1() {
        return;
    }
    effects::access_letters_are_read_as_runc_reads_them();
}

/// A second container made in a cgroup whose processes run (a shared cgroup) changes its
/// device list only by the difference (runc's minimal transition): the running container
/// never loses `/dev/null`, not even for the moment a rewrite from "deny all" would take.
#[test]
fn a_shared_cgroup_never_loses_its_devices() {
    if no_v1() {
        return;
    }
    let h = Hull::new();
    let path = format!("/hit-devices-{}", hull_integration::unique());
    let mut running = h.bundle();
    running.config["linux"]["cgroupsPath"] = json!(path);
    // two busy loops opening /dev/null, recording any failure (`true`, not the special
    // built-in `:`, whose failed redirection would end the shell)
    running.root_readonly(false).sh(
        "loop() { while :; do if ! true </dev/null; then echo denied >>/denied; fi; done; }; \
         loop 2>/dev/full & loop 2>/dev/full & touch /ready; wait",
    );
    let id = h.new_id();
    h.create_start(&id, &running);
    hull_integration::poll(std::time::Duration::from_secs(30), "the loops", || {
        running.host_path("/ready").exists().then_some(())
    });
    let list = host_cgroup_file(h.pid(&id), "devices", "devices.list");
    let before = std::fs::read_to_string(&list).unwrap();
    for _ in 0..20 {
        let mut b = h.bundle();
        b.config["linux"]["cgroupsPath"] = json!(path);
        b.args(&["true"]);
        let other = h.new_id();
        h.create_ok(&other, &b);
        h.delete(&other, true).ok();
    }
    assert_eq!(h.status(&id).as_deref(), Some("running"));
    assert_eq!(std::fs::read_to_string(&list).unwrap(), before);
    let denied = running.host_path("/denied");
    assert!(
        !denied.exists(),
        "the running container lost /dev/null {} times",
        std::fs::read_to_string(&denied)
            .unwrap_or_default()
            .lines()
            .count()
    );
}
