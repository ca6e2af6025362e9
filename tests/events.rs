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
