//! events: runc's JSON stats events, and OOM events.

use hull_integration::{poll, Hull};
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn stats_has_memory_and_pids() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let out = h.run(&["events", "--stats", &id]).ok();
    let ev: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON event");
    assert_eq!(ev["type"], "stats", "{ev}");
    assert_eq!(ev["id"], id.as_str(), "{ev}");
    let usage = ev["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0);
    assert!(usage > 0, "no memory usage: {ev}");
    assert!(
        ev["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "{ev}"
    );
    assert!(ev["data"]["cpu"]["usage"].is_object(), "{ev}");
    assert!(ev["data"]["hugetlb"].is_object(), "{ev}");
}

#[test]
fn the_stream_reports_stats_and_ooms_and_ends_with_the_container() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["linux"]["resources"]["memory"] = json!({"limit": 8388608, "swap": 8388608});
    b.root_readonly(false)
        .sh("while [ ! -e /go ]; do sleep 0.1; done; tail /dev/zero; sleep 1");
    let id = h.new_id();
    h.create_start(&id, &b);
    let ev = h.spawn(&["events", "--interval", "200ms", &id]);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(b.host_path("/go"), "").unwrap();
    poll(Duration::from_secs(30), "the container to stop", || {
        (h.status(&id).as_deref() == Some("stopped")).then_some(())
    });
    let out = ev.wait(Duration::from_secs(10));
    assert!(out.success(), "{out}");
    let events: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert!(events.iter().any(|e| e["type"] == "stats"), "{out}");
    assert!(events.iter().any(|e| e["type"] == "oom"), "{out}");
}

/// runc's `types.Stats` has `cpuset`, `intel_rdt` and `network_interfaces` besides the
/// cgroup controllers; hull reports the interfaces of the container's network namespace.
#[test]
fn stats_has_cpuset_intel_rdt_and_network_interfaces() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    // a veth pair inside the container's network namespace (gone with it), and traffic on it
    let net = format!("--net=/proc/{}/ns/net", h.pid(&id));
    // iproute2's ip by path: busybox's (first in some PATHs) ignores `peer name`
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("iproute2's ip");
    let setup = std::process::Command::new("nsenter")
        .args([net.as_str(), "sh", "-c"])
        .arg(format!(
            "{ip} link add hitv0 type veth peer name hitv1 && {ip} link set hitv0 up && \
             {ip} link set hitv1 up && {ip} addr add 10.99.0.1/24 dev hitv0 && \
             {{ /bin/busybox ping -c 1 -W 1 10.99.0.2 >/dev/null 2>&1; true; }}"
        ))
        .output()
        .expect("run nsenter");
    // a kernel without veth (the v2 guest's, no modules to load): the container has only
    // lo then, which is left out, so network_interfaces is null
    let stderr = String::from_utf8_lossy(&setup.stderr);
    let veth = setup.status.success();
    assert!(
        veth || stderr.contains("No such device") || stderr.contains("Unknown device type"),
        "{setup:?}"
    );
    if !veth {
        eprintln!("no veth in this kernel: only a null network_interfaces is checked");
    }
    let out = h.run(&["events", "--stats", &id]).ok();
    let ev: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON event");
    let data = &ev["data"];
    let keys: Vec<&str> = data
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for key in [
        "cpu",
        "cpuset",
        "memory",
        "pids",
        "blkio",
        "hugetlb",
        "intel_rdt",
    ] {
        assert!(keys.contains(&key), "no {key}: {ev}");
    }
    assert!(
        data.get("network_interfaces").is_some(),
        "network_interfaces is always there: {ev}"
    );
    let cpuset = &data["cpuset"];
    for flag in ["cpu_exclusive", "mem_exclusive", "sched_load_balance"] {
        assert!(cpuset[flag].is_u64(), "cpuset.{flag}: {ev}");
    }
    assert!(cpuset["sched_relax_domain_level"].is_i64(), "{ev}");
    if std::path::Path::new("/sys/fs/cgroup/cpuset/cpuset.cpus").exists() {
        let cpus = cpuset["cpus"].as_array().cloned().unwrap_or_default();
        let online = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert!(!cpus.is_empty() && cpus.len() <= online, "cpus: {ev}");
        assert!(
            !cpuset["mems"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .is_empty(),
            "{ev}"
        );
    }
    assert!(data["intel_rdt"].is_object(), "{ev}");
    if hull_integration::is_hull() && !veth {
        assert!(data["network_interfaces"].is_null(), "lo only: {ev}");
    } else if hull_integration::is_hull() {
        let ifaces = data["network_interfaces"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let v0 = ifaces
            .iter()
            .find(|i| i["Name"] == "hitv0")
            .unwrap_or_else(|| panic!("no hitv0: {ev}"));
        assert!(v0["TxPackets"].as_u64().unwrap_or(0) >= 1, "{ev}");
        assert!(v0["TxBytes"].as_u64().unwrap_or(0) > 0, "{ev}");
        assert!(v0["RxErrors"].is_u64() && v0["TxDropped"].is_u64(), "{ev}");
        assert!(ifaces.iter().all(|i| i["Name"] != "lo"), "{ev}");
    }

    // without a network namespace of its own, the host's interfaces are not reported
    let mut shared = h.bundle();
    shared.args(&["sleep", "1000"]).remove_namespace("network");
    let id2 = h.new_id();
    h.create_start(&id2, &shared);
    let out = h.run(&["events", "--stats", &id2]).ok();
    let ev: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON event");
    assert!(ev["data"]["network_interfaces"].is_null(), "{ev}");
}
