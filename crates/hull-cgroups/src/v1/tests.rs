//! v1 manager tests over a fake cgroupfs (plain directories and files in a temp dir).

use super::*;
use crate::detect::{parse_mountinfo, parse_proc_cgroup};
use crate::fs::tests::TempDir;
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
};

/// A hybrid layout with the given v1 hierarchies (comma-separated names are comounted),
/// mounted under `root`, plus `root/unified`.
fn layout(root: &Path, hierarchies: &[&str]) -> Layout {
    let mut text = String::new();
    for (i, h) in hierarchies.iter().enumerate() {
        let mp = root.join(h);
        std::fs::create_dir_all(&mp).unwrap();
        text += &format!("{i} 1 0:{i} / {} rw - cgroup cgroup rw,{h}\n", mp.display());
    }
    std::fs::create_dir_all(root.join("unified")).unwrap();
    text += &format!(
        "99 1 0:99 / {}/unified rw - cgroup2 cgroup2 rw\n",
        root.display()
    );
    parse_mountinfo(&text).unwrap()
}

fn manager(root: &Path, hierarchies: &[&str]) -> V1Manager {
    let own = parse_proc_cgroup(
        "4:memory:/process_api/X\n1:cpu,cpuacct:/\n2:pids:/\n3:freezer:/\n5:blkio:/\n0::/\n",
    )
    .unwrap();
    let cfg = CgroupConfig {
        path: None,
        name: "t1".into(),
    };
    V1Manager::new(&layout(root, hierarchies), &own, &cfg, Mode::Hybrid).unwrap()
}

#[test]
fn paths_follow_runc_rules_and_share_comounted_dirs() {
    let t = TempDir::new("v1paths");
    let m = manager(&t.0, &["cpu,cpuacct", "memory"]);
    let p = m.paths();
    assert_eq!(p["cpu"], t.0.join("cpu,cpuacct/t1"));
    assert_eq!(p["cpuacct"], p["cpu"]);
    assert_eq!(p["memory"], t.0.join("memory/process_api/X/t1"));
    assert_eq!(p[""], t.0.join("unified/t1"));
    assert_eq!(m.unique_dirs().len(), 2);
}

#[test]
fn create_then_destroy_leaves_nothing() {
    let t = TempDir::new("v1life");
    let m = manager(&t.0, &["cpu,cpuacct", "memory"]);
    m.create().unwrap();
    for dir in m.paths().values() {
        assert!(dir.is_dir(), "{}", dir.display());
    }
    m.destroy().unwrap();
    for dir in m.paths().values() {
        assert!(!dir.exists(), "{}", dir.display());
    }
    assert!(
        t.0.join("memory/process_api/X").is_dir(),
        "parents are kept"
    );
    m.destroy().unwrap();
}

#[test]
fn load_round_trips_paths() {
    let t = TempDir::new("v1load");
    let m = manager(&t.0, &["pids", "memory"]);
    let l = layout(&t.0, &["pids", "memory"]);
    let again = V1Manager::load(&l, &m.paths(), Mode::Hybrid);
    assert_eq!(again.paths(), m.paths());
}

#[test]
fn set_writes_pids_and_memory() {
    let t = TempDir::new("v1set");
    let m = manager(&t.0, &["pids", "memory"]);
    t.files("pids/t1", &["pids.max"]);
    let mem = t.files(
        "memory/process_api/X/t1",
        &["memory.limit_in_bytes", "memory.soft_limit_in_bytes"],
    );
    let res = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
        .memory(
            LinuxMemoryBuilder::default()
                .limit(1 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    m.set(&res).unwrap();
    assert_eq!(fs::read(&t.0.join("pids/t1"), "pids.max").unwrap(), "10");
    assert_eq!(fs::read(&mem, "memory.limit_in_bytes").unwrap(), "1048576");
}

#[test]
fn unsupported_field_or_missing_controller_is_named() {
    let t = TempDir::new("v1unsup");
    let m = manager(&t.0, &["pids"]);
    let res = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .swappiness(10u64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let err = m.set(&res).unwrap_err().to_string();
    assert!(err.contains("memory cgroup is not mounted"), "{err}");
    let mut map = std::collections::HashMap::new();
    map.insert("pids.max".to_string(), "3".to_string());
    let res = LinuxResourcesBuilder::default()
        .unified(map)
        .build()
        .unwrap();
    let err = m.set(&res).unwrap_err().to_string();
    assert!(err.contains("linux.resources.unified"), "{err}");
    let res = LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(100u16)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let err = m.set(&res).unwrap_err().to_string();
    assert!(err.contains("blkio cgroup is not mounted"), "{err}");
}

#[test]
fn freezer_and_pids_on_fake_files() {
    let t = TempDir::new("v1freeze");
    let m = manager(&t.0, &["freezer", "pids"]);
    let fz = t.files("freezer/t1", &["freezer.state"]);
    let pd = t.files("pids/t1", &["cgroup.procs"]);
    std::fs::write(pd.join("cgroup.procs"), "12\n34\n").unwrap();
    m.freeze().unwrap();
    assert!(m.is_frozen().unwrap());
    assert_eq!(fs::read(&fz, "freezer.state").unwrap(), "FROZEN");
    m.thaw().unwrap();
    assert!(!m.is_frozen().unwrap());
    assert_eq!(m.pids().unwrap(), vec![12, 34]);
}

#[test]
fn no_freezer_is_a_clear_error() {
    let t = TempDir::new("v1nofreeze");
    let m = manager(&t.0, &["pids"]);
    let err = m.freeze().unwrap_err().to_string();
    assert!(err.contains("freezer cgroup is not mounted"), "{err}");
}
