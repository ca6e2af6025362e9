//! pause / resume, and what still works on a paused container (ps, kill, delete --force).

use hull_integration::{poll, Bundle, Hull};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// A container that counts as fast as it can into /count.
fn counter(h: &Hull) -> Bundle {
    let mut b = h.bundle();
    b.root_readonly(false)
        .sh("i=0; while true; do i=$((i+1)); echo $i > /count.tmp; mv /count.tmp /count; done");
    b
}

fn count(b: &Bundle) -> u64 {
    let path = b.host_path("/count");
    poll(T, "the container to write /count", || {
        std::fs::read_to_string(&path).ok()?.trim().parse().ok()
    })
}

#[test]
fn pause_stops_progress_and_resume_restarts_it() {
    let h = Hull::new();
    let b = counter(&h);
    let id = h.new_id();
    h.create_start(&id, &b);
    count(&b);
    h.run(&["pause", &id]).ok();
    assert_eq!(h.state(&id)["status"], "paused");
    let before = count(&b);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&b), before, "the paused container made progress");
    h.run(&["pause", &id]).assert_error(&["not running"]);
    h.run(&["resume", &id]).ok();
    assert_eq!(h.state(&id)["status"], "running");
    poll(T, "the counter to move after resume", || {
        (count(&b) > before).then_some(())
    });
    h.run(&["resume", &id]).assert_error(&["not paused"]);
}

#[test]
fn ps_lists_the_init_pid() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let pid = h.pid(&id);
    let out = h.run(&["ps", "--format", "json", &id]).ok();
    let pids: Vec<i64> = serde_json::from_str(out.stdout.trim()).expect("a JSON array");
    assert_eq!(pids, vec![pid], "{out}");
    let table = h.run(&["ps", &id]).ok();
    let mut lines = table.stdout.lines();
    assert!(lines.next().unwrap_or("").contains("PID"), "{table}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert!(
        rows[0].split_whitespace().any(|f| f == pid.to_string()),
        "{table}"
    );
    let custom = h.run(&["ps", &id, "--", "-o", "pid,comm"]).ok();
    assert!(custom.stdout.contains("sleep"), "{custom}");
}

#[test]
fn a_paused_container_can_be_killed_and_force_deleted() {
    let h = Hull::new();
    let b = counter(&h);
    let id = h.new_id();
    h.create_start(&id, &b);
    count(&b);
    h.run(&["pause", &id]).ok();
    h.kill(&id, Some("KILL")).ok();
    h.delete(&id, true).ok();
    hull_integration::leaks::assert_nothing_left(&h, &id, &b.dir);

    let id = h.new_id();
    std::fs::remove_file(b.host_path("/count")).ok();
    h.create_start(&id, &b);
    count(&b);
    h.run(&["pause", &id]).ok();
    h.delete(&id, true).ok();
    hull_integration::leaks::assert_nothing_left(&h, &id, &b.dir);
}
