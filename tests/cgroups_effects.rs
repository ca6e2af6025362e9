//! Effects of cgroup limits seen from inside the container, the same on cgroup v1 and v2.
//!
//! Not a test target of its own: `cgroups_v1.rs` and `cgroups_v2.rs` include it with
//! `#[path = "cgroups_effects.rs"] mod effects;` and call these from tests that skip on the
//! other cgroup version, so each version's run says which one it exercised.

use hull_integration::{Bundle, Hull};
use serde_json::json;

/// Sets `linux.resources.<k>` for every key of `res`.
pub fn with_resources(b: &mut Bundle, res: serde_json::Value) {
    let linux = &mut b.config["linux"]["resources"];
    for (k, v) in res.as_object().unwrap() {
        linux[k] = v.clone();
    }
}

/// A fork bomb stops at `pids.limit`: the container's shell starts `sleep`s in the
/// background, recording each pid, until a fork fails (busybox sh then exits, which ends
/// the container). With the shell itself counted, at most `limit - 1` sleeps start.
pub fn fork_bomb_stops_at_pids_limit() {
    const LIMIT: usize = 12;
    let h = Hull::new();
    let mut b = h.bundle();
    with_resources(&mut b, json!({"pids": {"limit": LIMIT}}));
    b.root_readonly(false).sh(
        "exec 2>/err; i=0; while [ $i -lt 200 ]; do sleep 1000 & echo $! >>/pids; \
         i=$((i+1)); done; echo 'never stopped' >>/err",
    );
    let id = h.new_id();
    h.create_start(&id, &b);
    h.wait_stopped(&id);
    let pids = std::fs::read_to_string(b.host_path("/pids")).unwrap_or_default();
    let err = std::fs::read_to_string(b.host_path("/err")).unwrap_or_default();
    let started = pids.lines().count();
    assert!(
        started < LIMIT && started + 3 >= LIMIT,
        "{started} sleeps started with pids.limit {LIMIT}; stderr: {err}"
    );
    assert!(
        err.contains("fork") && !err.contains("never stopped"),
        "the shell should have failed to fork: {err}"
    );
}

/// Device access: with the default deny rule (from `hull spec`), an allowed device works,
/// a node of a denied device can be made (mknod of any node is allowed, as in runc) but
/// opening it fails with EPERM, while a node of an allowed device opens fine.
pub fn a_denied_device_cannot_be_opened() {
    let h = Hull::new();
    let mut b = h.bundle();
    let caps = json!([
        "CAP_AUDIT_WRITE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_MKNOD",
        "CAP_DAC_OVERRIDE"
    ]);
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set] = caps.clone();
    }
    b.sh_out(
        "echo zero=$(head -c1 /dev/zero | wc -c)\n\
         mknod /tmp/null3 c 1 3 && echo null-made\n\
         head -c1 /tmp/null3 >/dev/null && echo null-opened\n\
         mknod /tmp/sda b 8 0 && echo sda-made\n\
         head -c1 /tmp/sda >/dev/null || echo sda-refused",
    );
    let id = h.new_id();
    h.create_start(&id, &b);
    let out = b.wait_out();
    for want in [
        "zero=1",
        "null-made",
        "null-opened",
        "sda-made",
        "sda-refused",
    ] {
        assert!(
            out.lines().any(|l| l.trim() == want),
            "missing {want:?}; container printed:\n{out}"
        );
    }
    assert!(
        out.contains("Operation not permitted"),
        "opening /tmp/sda should fail with EPERM; container printed:\n{out}"
    );
}

/// A `cgroupsPath` naming an existing frozen cgroup is refused with runc's words, at once
/// (init would never run there).
pub fn a_frozen_cgroup_is_refused() {
    let h = Hull::new();
    let name = format!(
        "{}frozen-{}",
        hull_integration::ID_PREFIX,
        hull_integration::unique()
    );
    let v2 = hull_integration::cgroup_v2_only();
    let dir = if v2 {
        std::path::PathBuf::from("/sys/fs/cgroup").join(&name)
    } else {
        std::path::PathBuf::from("/sys/fs/cgroup/freezer").join(&name)
    };
    std::fs::create_dir(&dir).unwrap();
    let (file, frozen, thawed) = if v2 {
        ("cgroup.freeze", "1", "0")
    } else {
        ("freezer.state", "FROZEN", "THAWED")
    };
    std::fs::write(dir.join(file), frozen).unwrap();
    let mut b = h.bundle();
    b.config["linux"]["cgroupsPath"] = json!(format!("/{name}"));
    b.args(&["true"]);
    let id = h.new_id();
    let started = std::time::Instant::now();
    let out = h.create(&id, &b);
    let _ = std::fs::write(dir.join(file), thawed);
    let _ = std::fs::remove_dir(&dir);
    out.assert_error(&["container's cgroup unexpectedly frozen"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{out}"
    );
    hull_integration::leaks::assert_nothing_left(&h, &id, &b.dir);
}

/// Device access letters as runc reads them: `rwa` is `rw` (the unknown letter ignored), so
/// the container can write /dev/null under a deny-all list.
pub fn access_letters_are_read_as_runc_reads_them() {
    let h = Hull::new();
    let mut b = h.bundle();
    with_resources(
        &mut b,
        json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwa"}
        ]}),
    );
    b.sh("echo x > /dev/null && echo wrote");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(out.stdout.trim(), "wrote", "{out}");
}
