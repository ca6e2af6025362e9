//! Tests against the real cgroup file system. They need root and mounted cgroups; otherwise
//! each prints why and passes. Every test cleans up (kills its child, removes its cgroups)
//! even when an assertion fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use hull_cgroups::{current_mode, new_manager, CgroupConfig, Manager, Mode};
use oci_spec::runtime::{LinuxPidsBuilder, LinuxResourcesBuilder};

/// Why the test cannot run here, if it cannot.
fn skip_reason() -> Option<&'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root");
    }
    if !Path::new("/sys/fs/cgroup/memory").exists() && current_mode() != Mode::Unified {
        return Some("no /sys/fs/cgroup/memory and not a cgroup2 host");
    }
    None
}

macro_rules! require_root {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("hull-cgtest-{tag}-{}-{nanos}", std::process::id())
}

/// Owns everything a test creates; Drop kills the child and removes the cgroups.
struct Fixture {
    manager: Box<dyn Manager>,
    child: Option<Child>,
    /// Extra parent directories to remove after the manager's own, deepest first.
    parents: Vec<PathBuf>,
}

impl Fixture {
    fn new(cfg: CgroupConfig) -> Fixture {
        Fixture {
            manager: new_manager(&cfg).expect("new_manager"),
            child: None,
            parents: Vec::new(),
        }
    }

    fn spawn_sleep(&mut self) -> i32 {
        let child = Command::new("sleep").arg("5").spawn().expect("spawn sleep");
        let pid = child.id() as i32;
        self.child = Some(child);
        pid
    }

    fn kill_child(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = self.manager.thaw();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.kill_child();
        let _ = self.manager.destroy();
        for p in &self.parents {
            let _ = std::fs::remove_dir(p);
        }
    }
}

/// `/proc/<pid>/cgroup` as controller -> path (v1 lines split per controller; `""` = v2).
fn proc_cgroups(pid: i32) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        for c in ctrls.split(',') {
            out.insert(c.to_string(), path.to_string());
        }
    }
    out
}

fn assert_member(m: &dyn Manager, pid: i32) {
    let actual = proc_cgroups(pid);
    for (ctrl, dir) in m.paths() {
        let path = &actual[&ctrl];
        assert!(
            dir.to_string_lossy().ends_with(path.as_str()),
            "{ctrl}: {} is not {path}",
            dir.display()
        );
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn lifecycle_apply_set_freeze_destroy() {
    require_root!();
    let mut fx = Fixture::new(CgroupConfig {
        path: None,
        name: unique("life"),
    });
    let pid = fx.spawn_sleep();
    fx.manager.apply(pid).expect("apply");
    assert_member(fx.manager.as_ref(), pid);
    assert!(fx.manager.pids().unwrap().contains(&pid));

    let res = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
        .build()
        .unwrap();
    fx.manager.set(&res).expect("set pids");
    let paths = fx.manager.paths();
    let pids_dir = paths.get("pids").or(paths.get("")).unwrap();
    assert_eq!(read(pids_dir, "pids.max"), "10");

    fx.manager.freeze().expect("freeze");
    assert!(fx.manager.is_frozen().unwrap());
    if let Some(fz) = paths.get("freezer") {
        assert_eq!(read(fz, "freezer.state"), "FROZEN");
    }
    fx.manager.thaw().expect("thaw");
    assert!(!fx.manager.is_frozen().unwrap());
    if let Some(fz) = paths.get("freezer") {
        assert_eq!(read(fz, "freezer.state"), "THAWED");
    }

    fx.kill_child();
    fx.manager.destroy().expect("destroy");
    for dir in paths.values() {
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
}

#[test]
fn nested_absolute_path_gets_cpuset_values() {
    require_root!();
    let top = unique("nest");
    let mut fx = Fixture::new(CgroupConfig {
        path: Some(format!("/{top}/a/b")),
        name: "ignored".into(),
    });
    for dir in fx.manager.paths().values() {
        let b = dir.as_path();
        fx.parents.push(b.parent().unwrap().to_path_buf());
        fx.parents
            .push(b.parent().unwrap().parent().unwrap().to_path_buf());
    }
    fx.parents
        .sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    fx.parents.dedup();
    let pid = fx.spawn_sleep();
    fx.manager.apply(pid).expect("apply");
    assert_member(fx.manager.as_ref(), pid);
    if let Some(cs) = fx.manager.paths().get("cpuset") {
        assert!(!read(cs, "cpuset.cpus").is_empty());
        assert!(!read(cs, "cpuset.mems").is_empty());
    }
    fx.kill_child();
    fx.manager.destroy().expect("destroy");
    for dir in fx.manager.paths().values() {
        assert!(!dir.exists(), "{} still exists", dir.display());
        assert!(dir.parent().unwrap().exists(), "parents are left alone");
    }
}

#[test]
fn destroy_of_missing_cgroup_is_fine() {
    require_root!();
    let m = new_manager(&CgroupConfig {
        path: Some(format!("/{}", unique("missing"))),
        name: String::new(),
    })
    .unwrap();
    m.destroy().expect("destroy missing");
}

#[test]
fn v1_limits_are_written() {
    require_root!();
    if current_mode() == Mode::Unified {
        eprintln!("skipping: v1 only");
        return;
    }
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder,
    };
    let mut fx = Fixture::new(CgroupConfig {
        path: Some(format!("/{}", unique("limits"))),
        name: String::new(),
    });
    let pid = fx.spawn_sleep();
    fx.manager.apply(pid).expect("apply");
    let deny_all = LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()
        .unwrap();
    let null = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(LinuxDeviceType::C)
        .major(1)
        .minor(3)
        .access("rwm")
        .build()
        .unwrap();
    let res = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .swap(128i64 << 20)
                .reservation(32i64 << 20)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000)
                .period(100_000u64)
                .cpus("0")
                .build()
                .unwrap(),
        )
        .devices(vec![deny_all, null])
        .build()
        .unwrap();
    fx.manager.set(&res).expect("set");
    let p = fx.manager.paths();
    assert_eq!(
        read(&p["memory"], "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    if p["memory"].join("memory.memsw.limit_in_bytes").exists() {
        assert_eq!(
            read(&p["memory"], "memory.memsw.limit_in_bytes"),
            (128u64 << 20).to_string()
        );
    }
    assert_eq!(read(&p["cpu"], "cpu.shares"), "512");
    assert_eq!(read(&p["cpu"], "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(&p["cpuset"], "cpuset.cpus"), "0");
    assert_eq!(read(&p["devices"], "devices.list"), "c 1:3 rwm");
}

#[test]
fn stats_report_the_running_process() {
    require_root!();
    let mut f = Fixture::new(CgroupConfig {
        path: None,
        name: unique("stats"),
    });
    let pid = f.spawn_sleep();
    f.manager.apply(pid).expect("apply");
    let s = f.manager.stats().expect("stats");
    assert_eq!(s.pids.current, 1, "{s:?}");
    assert!(s.memory.usage.limit > 0, "{s:?}");
    let json = serde_json::to_value(&s).expect("stats serialize");
    assert!(json["memory"]["usage"].is_object(), "{json}");
}

#[test]
fn an_oom_watcher_times_out_quietly() {
    require_root!();
    let f = Fixture::new(CgroupConfig {
        path: None,
        name: unique("oom"),
    });
    f.manager.create().expect("create");
    let mut w = f.manager.oom_watcher().expect("oom watcher");
    let n = w.wait(std::time::Duration::from_millis(50)).expect("wait");
    assert_eq!(n, 0);
}
