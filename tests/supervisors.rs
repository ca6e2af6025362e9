//! hull under a supervisor (a shell, conmon, containerd-shim): the container never shares a
//! process group or session with whoever ran hull, so `kill 0` in the container reaches only
//! the container.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use hull_integration::{hull_bin, poll, run_to_files, Bundle, Hull, Out};

const T: Duration = Duration::from_secs(30);

/// `(process group, session)` of a host pid, from `/proc/<pid>/stat`.
fn pgrp_and_session(pid: i64) -> (i64, i64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/stat: {e}"));
    let after_comm = stat.rsplit_once(')').expect("stat has a comm").1;
    let fields: Vec<i64> = after_comm
        .split_whitespace()
        .skip(2) // state, ppid
        .take(2)
        .map(|f| f.parse().expect("numeric pgrp and session"))
        .collect();
    (fields[0], fields[1])
}

/// Runs `hull --root <root> <args>` from a shell that leads its own process group, as a
/// supervisor does; the shell prints `caller-saw=<hull's exit status>`, then (after `linger`
/// seconds, time for a detached container to act) `caller-alive`. The container's output goes
/// to the same stdout.
fn as_caller(h: &Hull, args: &[&str], linger: u32) -> Out {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(format!(
            "\"$0\" \"$@\"; echo caller-saw=$?; sleep {linger}; echo caller-alive"
        ))
        .arg(hull_bin())
        .arg("--root")
        .arg(&h.root)
        .args(args)
        .process_group(0);
    run_to_files(cmd, &h.temp_dir(), T)
}

/// Asserts the caller outlived what the container did and saw hull exit with `code`.
#[track_caller]
fn assert_caller_survived(out: &Out, code: i32) {
    assert_eq!(out.code(), Some(0), "the caller was killed:\n{out}");
    assert!(
        out.stdout.contains(&format!("caller-saw={code}\n")),
        "hull should have exited {code}:\n{out}"
    );
    assert!(out.stdout.contains("caller-alive"), "{out}");
}

/// A container that records its own `(pgrp session)` as it sees them in `/ids`, then waits.
fn recording_ids(h: &Hull) -> Bundle {
    let mut b = h.bundle();
    b.root_readonly(false)
        .sh("cut -d' ' -f5,6 /proc/$$/stat > /ids.tmp; mv /ids.tmp /ids; exec sleep 1000");
    b
}

/// Waits for `/ids`, and checks init leads its own session and group, seen from inside (pid 1
/// of its namespace, unless `pid_ns` is false) and from the host.
#[track_caller]
fn assert_init_leads_a_session(h: &Hull, id: &str, b: &Bundle, pid_ns: bool) {
    let inside = poll(T, "the container to write /ids", || {
        std::fs::read_to_string(b.host_path("/ids")).ok()
    });
    let pid = h.pid(id);
    if pid_ns {
        assert_eq!(
            inside.trim(),
            "1 1",
            "pgrp and session inside the container"
        );
    } else {
        assert_eq!(inside.trim(), format!("{pid} {pid}"), "pgrp and session");
    }
    assert_eq!(
        pgrp_and_session(pid),
        (pid, pid),
        "init {pid} seen from the host"
    );
}

#[test]
fn init_leads_its_own_session_after_create_and_start() {
    let h = Hull::new();
    for pid_ns in [true, false] {
        let mut b = recording_ids(&h);
        if !pid_ns {
            b.remove_namespace("pid");
        }
        let id = h.new_id();
        h.create_start(&id, &b);
        assert_init_leads_a_session(&h, &id, &b, pid_ns);
        h.delete(&id, true).ok();
    }
}

#[test]
fn run_detached_and_in_the_foreground_leave_the_callers_group() {
    let h = Hull::new();
    let b = recording_ids(&h);
    b.save();
    let bundle = b.dir.to_str().unwrap();
    let id = h.new_id();
    h.run(&["run", "-d", "--bundle", bundle, &id]).ok();
    assert_init_leads_a_session(&h, &id, &b, true);
    h.delete(&id, true).ok();

    std::fs::remove_file(b.host_path("/ids")).unwrap();
    let id = h.new_id();
    let run = h.spawn(&["run", "--bundle", bundle, &id]);
    assert_init_leads_a_session(&h, &id, &b, true);
    let (hull_group, _) = pgrp_and_session(run.pid() as i64);
    assert_ne!(pgrp_and_session(h.pid(&id)).0, hull_group);
    h.kill(&id, Some("KILL")).ok();
    let out = run.wait(T);
    assert_eq!(out.code(), Some(137), "{out}");
}

#[test]
fn kill_zero_in_a_foreground_container_spares_its_caller() {
    let h = Hull::new();
    let mut b = h.bundle();
    // pid 1 of the namespace ignores the signal; its child dies of it, and sh reports 137
    b.sh("sh -c 'kill -KILL 0'; exit $?");
    b.save();
    let id = h.new_id();
    let out = as_caller(&h, &["run", "--bundle", b.dir.to_str().unwrap(), &id], 0);
    assert_caller_survived(&out, 137);

    let mut b = h.bundle();
    b.sh("trap 'kill 0' EXIT; exit 5");
    b.save();
    let id = h.new_id();
    let out = as_caller(&h, &["run", "--bundle", b.dir.to_str().unwrap(), &id], 0);
    assert_caller_survived(&out, 5);
}

#[test]
fn kill_zero_in_a_detached_container_spares_its_caller() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.root_readonly(false)
        .sh("sleep 0.5; sh -c 'kill -KILL 0'; echo $? > /killed; sleep 1000");
    b.save();
    let id = h.new_id();
    let out = as_caller(
        &h,
        &["run", "-d", "--bundle", b.dir.to_str().unwrap(), &id],
        2,
    );
    assert_caller_survived(&out, 0);
    assert_eq!(b.read("/killed").trim(), "137");
    assert_eq!(h.status(&id).as_deref(), Some("running"));
}

#[test]
fn exec_leads_its_own_process_group() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let out = h
        .run(&[
            "exec",
            &id,
            "sh",
            "-c",
            "echo $$ $(cut -d' ' -f5,6 /proc/$$/stat)",
        ])
        .ok();
    let ids: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(ids.len(), 3, "{out}");
    assert_ne!(
        ids[1], "0",
        "getpgrp() inside is 0: the group is outside the container\n{out}"
    );
    assert_eq!(
        (ids[1], ids[2]),
        (ids[0], ids[0]),
        "pgrp and session are its own\n{out}"
    );

    let out = as_caller(&h, &["exec", &id, "sh", "-c", "kill -KILL 0"], 0);
    assert_caller_survived(&out, 137);
    let out = as_caller(
        &h,
        &["exec", "-d", &id, "sh", "-c", "sleep 0.5; kill -KILL 0"],
        2,
    );
    assert_caller_survived(&out, 0);
    assert_eq!(h.status(&id).as_deref(), Some("running"));
}
