//! hull under a supervisor (a shell, conmon, containerd-shim): the container never shares a
//! process group or session with whoever ran hull, so `kill 0` in the container reaches only
//! the container; and a cgroup shared with others (two containers given one `cgroupsPath`, a
//! cgroup with processes already in it) is warned about, and `kill --all` and `delete --force`
//! reach only the container's own processes.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use hull_integration::{
    host_cgroup_file, hull_bin, hull_only, pid_alive, poll, run_to_files, unique, Bundle, Hull, Out,
};

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

/// A container sleeping in the cgroup `path` (`cgroupsPath`), with or without a PID namespace.
fn in_cgroup(h: &Hull, path: &str, pid_ns: bool, script: &str) -> Bundle {
    let mut b = h.bundle();
    b.sh(script);
    b.config["linux"]["cgroupsPath"] = serde_json::json!(path);
    if !pid_ns {
        b.remove_namespace("pid");
    }
    b
}

/// The pids in the `pids` cgroup (the unified one on a v2 host) that `pid` is in.
fn cgroup_procs_of(pid: i64) -> Vec<i64> {
    let file = host_cgroup_file(pid, "pids", "cgroup.procs");
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

#[test]
fn containers_sharing_a_cgroup_kill_and_delete_only_their_own() {
    for pid_ns in [true, false] {
        let h = Hull::new();
        let path = format!("/hit-shared-{}", unique());
        let other = in_cgroup(&h, &path, pid_ns, "exec sleep 1000");
        let other_id = h.new_id();
        h.create_start(&other_id, &other);
        let other_pid = h.pid(&other_id);
        let cgroup_dir = host_cgroup_file(other_pid, "pids", "");

        // a second container in the same cgroup: warned about, as runc does
        let b = in_cgroup(&h, &path, pid_ns, "sleep 1000 & exec sleep 1000");
        let id = h.new_id();
        let created = h.create_ok(&id, &b);
        assert!(
            created.stderr.contains("container's cgroup is not empty"),
            "{created}"
        );
        h.start(&id).ok();
        let pid = h.pid(&id);
        let exec_pid_file = h.temp_dir().join("exec.pid");
        h.run(&[
            "exec",
            "-d",
            "--pid-file",
            exec_pid_file.to_str().unwrap(),
            &id,
            "sleep",
            "1000",
        ])
        .ok();
        let exec_pid: i64 = std::fs::read_to_string(&exec_pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mine = poll(T, "the container's 3 processes in the cgroup", || {
            let procs = cgroup_procs_of(pid);
            (procs.len() == 4).then_some(procs)
        });
        assert!(
            mine.contains(&exec_pid) && mine.contains(&other_pid),
            "{mine:?}"
        );

        h.run(&["kill", "--all", &id, "KILL"]).ok();
        h.wait_stopped(&id);
        poll(T, "the container's processes to be gone", || {
            (cgroup_procs_of(other_pid) == [other_pid]).then_some(())
        });
        assert!(!pid_alive(exec_pid) && !pid_alive(pid));
        assert_eq!(
            h.status(&other_id).as_deref(),
            Some("running"),
            "pid ns {pid_ns}"
        );

        h.delete(&id, true).ok();
        assert!(
            pid_alive(other_pid),
            "delete --force killed another container"
        );
        assert!(
            cgroup_dir.exists(),
            "the cgroup the other container uses was removed"
        );

        // init gone, one of its children still there (no PID namespace to take it down)
        let b = in_cgroup(&h, &path, pid_ns, "sleep 1000 & exit 0");
        let id = h.new_id();
        h.create_start(&id, &b);
        h.wait_stopped(&id);
        if !pid_ns {
            poll(T, "the orphan in the cgroup", || {
                (cgroup_procs_of(other_pid).len() == 2).then_some(())
            });
        }
        let out = h.delete(&id, true).ok();
        assert!(
            out.stderr.contains(hull_only("not empty")),
            "delete warns that the cgroup stays: {out}"
        );
        assert_eq!(cgroup_procs_of(other_pid), [other_pid], "pid ns {pid_ns}");

        h.delete(&other_id, true).ok();
        assert!(
            !cgroup_dir.exists(),
            "the last container removes the cgroup"
        );
    }
}

#[test]
fn a_cgroup_with_a_process_of_the_host_keeps_it() {
    let h = Hull::new();
    let path = format!("/hit-busy-{}", unique());
    let b = in_cgroup(&h, &path, true, "exec sleep 1000");
    let id = h.new_id();
    h.create_start(&id, &b);
    let dir = host_cgroup_file(h.pid(&id), "pids", "");
    h.delete(&id, true).ok();
    assert!(!dir.exists());

    // the same cgroup, made beforehand and holding a process of the host
    let host = HostProcessIn::new(&dir);
    let id = h.new_id();
    let created = h.create_ok(&id, &b);
    assert!(
        created
            .stderr
            .contains("container's cgroup is not empty: 1 process"),
        "{created}"
    );
    h.start(&id).ok();
    h.run(&["kill", "--all", &id, "KILL"]).ok();
    h.wait_stopped(&id);
    h.delete(&id, true).ok();
    assert!(
        pid_alive(host.pid()),
        "delete --force killed a process of the host"
    );
    assert_eq!(cgroup_procs_of(host.pid()), [host.pid()]);
}

/// A `sleep` of the host in the cgroup `dir` (made for it); killed, and `dir` removed, on drop.
struct HostProcessIn {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl HostProcessIn {
    fn new(dir: &std::path::Path) -> HostProcessIn {
        std::fs::create_dir(dir).unwrap();
        let child = Command::new("sleep").arg("1000").spawn().unwrap();
        let me = HostProcessIn {
            child,
            dir: dir.to_path_buf(),
        };
        std::fs::write(dir.join("cgroup.procs"), me.child.id().to_string()).unwrap();
        me
    }

    fn pid(&self) -> i64 {
        self.child.id() as i64
    }
}

impl Drop for HostProcessIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // never panics (a panic while a failed test unwinds would abort)
        let deadline = std::time::Instant::now() + T;
        while std::fs::remove_dir(&self.dir).is_err() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
