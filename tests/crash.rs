//! Crash consistency: hull killed with SIGKILL at any moment leaves nothing that
//! `delete --force` cannot remove, and the id can be used again. Half-made containers and
//! damaged state files are seen by `state`, `list` and `delete` for what they are.

use hull_integration::leaks::{self, assert_nothing_left};
use hull_integration::{poll, Bundle, Hull};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn sleeper(h: &Hull) -> Bundle {
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    b
}

/// A hook that touches `marker` and then waits until it is removed (so it never outlives the
/// test): the place where the test holds hull, or init, still.
fn holding_hook(marker: &Path) -> serde_json::Value {
    let m = marker.display();
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("touch {m}; while [ -e {m} ]; do sleep 0.05; done")]})
}

/// Waits (up to 10 s: a process killed by the kernel takes a moment to go) until no process is
/// rooted in the bundle or in a cgroup named after `id`, then asserts nothing at all is left.
#[track_caller]
fn wait_nothing_left(h: &Hull, id: &str, bundle: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && !(leaks::procs_rooted_in(bundle).is_empty()
            && leaks::procs_in_cgroup_named(id).is_empty())
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_nothing_left(h, id, bundle);
}

/// `delete --force` succeeds, nothing is left, and the id can be created (and deleted) again.
#[track_caller]
fn force_delete_then_reuse(h: &Hull, id: &str, b: &Bundle) {
    h.delete(id, true).ok();
    wait_nothing_left(h, id, &b.dir);
    h.create_ok(id, b);
    h.delete(id, true).ok();
    assert_nothing_left(h, id, &b.dir);
}

/// hull is killed while it runs a createRuntime hook (init waits for it on the channel): init,
/// which keeps only its own end of the channel, sees hull go and exits; `state` says stopped.
#[test]
fn create_killed_in_a_runtime_hook_leaves_no_init() {
    let h = Hull::new();
    let mut b = sleeper(&h);
    let marker = h.temp_dir().join("in-hook");
    b.add_hook("createRuntime", holding_hook(&marker));
    b.save();
    let id = h.new_id();
    let create = h.spawn(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    poll(T, "the createRuntime hook to run", || {
        marker.exists().then_some(())
    });
    assert_eq!(h.status(&id).as_deref(), Some("creating"));
    create.signal(libc::SIGKILL);
    create.wait(T);
    std::fs::remove_file(&marker).unwrap();
    poll(T, "init to exit once hull is gone", || {
        leaks::procs_rooted_in(&b.dir).is_empty().then_some(())
    });
    assert_eq!(h.status(&id).as_deref(), Some("stopped"));
    b.config["hooks"] = json!({});
    force_delete_then_reuse(&h, &id, &b);
}

/// hull is killed while init runs a createContainer hook (hull waits on the channel): init
/// dies with hull (PR_SET_PDEATHSIG), and its hook with it.
#[test]
fn create_killed_in_a_container_hook_leaves_no_init() {
    let h = Hull::new();
    let mut b = sleeper(&h);
    let marker = h.temp_dir().join("in-hook");
    b.add_hook("createContainer", holding_hook(&marker));
    b.save();
    let id = h.new_id();
    let create = h.spawn(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    poll(T, "the createContainer hook to run", || {
        marker.exists().then_some(())
    });
    create.signal(libc::SIGKILL);
    create.wait(T);
    poll(T, "init and its hook to die with hull", || {
        leaks::procs_rooted_in(&b.dir).is_empty().then_some(())
    });
    let _ = std::fs::remove_file(&marker);
    let st = h.state(&id);
    assert_eq!(
        (st["status"].as_str(), st["pid"].as_i64()),
        (Some("stopped"), Some(0))
    );
    b.config["hooks"] = json!({});
    force_delete_then_reuse(&h, &id, &b);
}

/// What a `delete` (or `create`) killed at the wrong moment leaves: a state dir without a
/// record, or with only `exec.fifo` in it. It does not block the id: `state` says it does not
/// exist, `create` takes it over, and `delete --force` removes it.
#[test]
fn a_state_dir_without_a_record_does_not_block_the_id() {
    let h = Hull::new();
    let b = sleeper(&h);
    b.save();
    let id = h.new_id();
    for leftover in [None, Some("exec.fifo")] {
        std::fs::create_dir_all(h.state_dir(&id)).unwrap();
        if let Some(name) = leftover {
            std::fs::write(h.state_dir(&id).join(name), "").unwrap();
        }
        h.run(&["state", &id]).assert_error(&["not exist"]);
        h.create_ok(&id, &b);
        assert_eq!(h.status(&id).as_deref(), Some("created"));
        h.delete(&id, true).ok();
        assert_nothing_left(&h, &id, &b.dir);
    }
    std::fs::create_dir_all(h.state_dir(&id)).unwrap();
    h.delete(&id, true).ok();
    assert!(!h.state_dir(&id).exists());
}

/// Cut `state.json` of `id` to `len` bytes.
fn truncate_state(h: &Hull, id: &str, len: usize) -> PathBuf {
    let path = h.state_dir(id).join("state.json");
    let text = std::fs::read(&path).unwrap();
    std::fs::write(&path, &text[..len.min(text.len())]).unwrap();
    path
}

/// A truncated `state.json`: `list` still lists the other containers and names the bad one
/// on stderr; `state` fails with one line; `delete --force` kills its init and removes its
/// cgroups and dir from what the truncated record still says.
#[test]
fn a_truncated_state_file_hides_nothing_else_and_is_force_deleted() {
    let h = Hull::new();
    let (good_b, bad_b) = (sleeper(&h), sleeper(&h));
    let (good, bad) = (h.new_id(), h.new_id());
    h.create_ok(&good, &good_b);
    h.create_ok(&bad, &bad_b);
    let bad_pid = h.pid(&bad);
    let path = h.state_dir(&bad).join("state.json");
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    truncate_state(&h, &bad, len / 2);
    let out = h.run(&["list", "--quiet"]).ok();
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [good.as_str()],
        "{out}"
    );
    let lines = out.stderr_lines();
    assert!(lines.len() == 1 && lines[0].contains(&bad), "{out}");
    let json = h.run(&["list", "--format", "json"]).ok();
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{json}");
    h.run(&["state", &bad]).assert_error(&["corrupt", &bad]);
    h.delete(&bad, false).assert_error(&["corrupt"]);
    h.delete(&bad, true).ok();
    assert!(
        !hull_integration::pid_alive(bad_pid),
        "delete --force left init {bad_pid}"
    );
    wait_nothing_left(&h, &bad, &bad_b.dir);
    assert_eq!(h.status(&good).as_deref(), Some("created"));
    h.delete(&good, true).ok();
    assert_nothing_left(&h, &good, &good_b.dir);
}

/// A record whose spec is damaged in one part: the commands that read that part fail with
/// one line naming the container before they do anything (`start` leaves init blocked,
/// `delete` leaves it all), the others work; `delete --force` removes it all.
#[test]
fn a_damaged_part_of_the_spec_is_corrupt_where_it_is_read() {
    if !hull_integration::is_hull() {
        return;
    }
    let h = Hull::new();
    let mut b = sleeper(&h);
    b.config["annotations"] = json!({"org.example.kept": "yes"});
    let id = h.new_id();
    h.create_ok(&id, &b);
    let pid = h.pid(&id);
    let path = h.state_dir(&id).join("state.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    record["spec"]["hooks"] = json!({"poststart": "no list", "poststop": 7});
    std::fs::write(&path, record.to_string()).unwrap();
    assert_eq!(h.state(&id)["annotations"]["org.example.kept"], "yes");
    h.start(&id).assert_error(&["corrupt", &id]);
    h.delete(&id, false).assert_error(&["corrupt", &id]);
    assert_eq!(h.status(&id).as_deref(), Some("created"));
    assert!(hull_integration::pid_alive(pid), "init {pid} is gone");

    record["spec"]["annotations"] = json!(["no map"]);
    std::fs::write(&path, record.to_string()).unwrap();
    h.run(&["state", &id]).assert_error(&["corrupt", &id]);
    let out = h.run(&["list", "--quiet"]).ok();
    assert!(
        !out.stdout.contains(&id) && out.stderr.contains(&id),
        "{out}"
    );
    h.delete(&id, true).ok();
    assert!(
        !hull_integration::pid_alive(pid),
        "delete --force left init {pid}"
    );
    wait_nothing_left(&h, &id, &b.dir);
}

/// A `state.json` that is not JSON at all: `list` lists the rest, `delete --force` removes
/// the state dir (there is nothing left to read the init or cgroups from).
#[test]
fn a_garbage_state_file_is_force_deleted() {
    let h = Hull::new();
    let b = sleeper(&h);
    let id = h.new_id();
    h.create_ok(&id, &b);
    let pid = h.pid(&id);
    std::fs::write(h.state_dir(&id).join("state.json"), "\0\0garbage").unwrap();
    let out = h.run(&["list"]).ok();
    assert!(
        !out.stdout.contains(&id) && out.stderr.contains(&id),
        "{out}"
    );
    // The test plays the part of whoever has to find the init another way, and waits for it
    // to be gone: a dying init still in the cgroup would keep the next container's cgroup
    // (the same path) from being removed, since delete leaves a cgroup others still use.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    poll(
        Duration::from_secs(10),
        "the killed init to be gone",
        || (!hull_integration::pid_alive(pid)).then_some(()),
    );
    h.delete(&id, true).ok();
    assert!(!h.state_dir(&id).exists());
    h.create_ok(&id, &b);
    h.delete(&id, true).ok();
    wait_nothing_left(&h, &id, &b.dir);
}

/// How long one `hull <args> <new id>` takes here (the fastest of three), for spreading the
/// kills.
fn create_time(h: &Hull, args: &[&str]) -> Duration {
    (0..3)
        .map(|_| {
            let id = h.new_id();
            let mut full = args.to_vec();
            full.push(&id);
            let start = Instant::now();
            h.run(&full).ok();
            let took = start.elapsed();
            h.delete(&id, true).ok();
            took
        })
        .min()
        .unwrap()
}

/// Kills `hull <args> <id>` with SIGKILL at 50 moments spread over one run of it; after each,
/// `delete --force` leaves nothing and the id is free again.
fn killed_at_50_moments(args: &[&str]) {
    let h = Hull::new();
    let b = sleeper(&h);
    b.save();
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--bundle", b.dir.to_str().unwrap()]);
    let took = create_time(&h, &full);
    let id = h.new_id();
    full.push(&id);
    let mut interrupted = 0;
    for i in 0..50u32 {
        let at = took.mul_f64(f64::from(i) / 50.0);
        let cmd = h.spawn(&full);
        std::thread::sleep(at);
        cmd.signal(libc::SIGKILL);
        let out = cmd.wait(T);
        if out.code().is_none() {
            interrupted += 1;
        }
        h.delete(&id, true).ok();
        wait_nothing_left(&h, &id, &b.dir);
    }
    eprintln!("{args:?}: {interrupted} of 50 killed before they finished (one run takes {took:?})");
    assert!(
        interrupted >= 10,
        "too few kills landed mid-way: {interrupted}"
    );
    h.run(&full).ok();
    h.delete(&id, true).ok();
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn create_killed_at_50_moments_leaves_nothing() {
    killed_at_50_moments(&["create"]);
}

#[test]
fn run_detached_killed_at_50_moments_leaves_nothing() {
    killed_at_50_moments(&["run", "--detach"]);
}

// ---- fault points: hull killed at every named step (the `failpoints` build) ----

/// hull built with its fault points (`--features failpoints`, into `target/failpoints`; `make
/// test` builds it first, so this is then only cargo's check that it is up to date), copied
/// into one of `h`'s temp dirs: another test's cargo may relink the built one at any time
/// (the build script watches git's HEAD). Build and copy hold a lock all tests take.
fn failpoints_hull(h: &Hull) -> PathBuf {
    static COPY: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut copy = COPY.lock().unwrap();
    if let Some(path) = copy.as_ref().filter(|p| p.exists()) {
        return path.clone();
    }
    let ws = hull_integration::workspace_dir();
    let target = ws.join("target/failpoints");
    std::fs::create_dir_all(&target).unwrap();
    let lock = std::fs::File::create(target.join(".crash-tests.lock")).unwrap();
    let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .expect("lock target/failpoints");
    let out = std::process::Command::new(env!("CARGO"))
        .current_dir(&ws)
        .args(["build", "--quiet", "-p", "hull", "--features", "failpoints"])
        .arg("--target-dir")
        .arg(&target)
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "build hull with fault points: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = h.temp_dir().join("hull");
    std::fs::copy(target.join("debug/hull"), &path).expect("copy the fault-point hull");
    *copy = Some(path.clone());
    path
}

/// Every fault point in hull-runtime's source (`fault::point("…")`), so that a new one
/// cannot go untested.
fn all_points() -> Vec<String> {
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, found);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for part in text.split("fault::point(\"").skip(1) {
                    found.push(part.split('"').next().unwrap().to_string());
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(
        &hull_integration::workspace_dir().join("crates/hull-runtime/src"),
        &mut found,
    );
    found.sort();
    found.dedup();
    found
}

/// `hull <args>` from the fault-point build, killed by SIGKILL at `point`; asserts it was.
#[track_caller]
fn killed_at(h: &Hull, point: &str, args: &[&str]) {
    use std::os::unix::process::ExitStatusExt;
    let mut cmd = std::process::Command::new(failpoints_hull(h));
    cmd.arg("--root")
        .arg(&h.root)
        .args(args)
        .env("FAILPOINTS", format!("{point}=return"));
    let out = hull_integration::run_to_files(cmd, &h.temp_dir(), T);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "hull should have been killed at {point}:\n{out}"
    );
}

const CREATE_POINTS: [&str; 10] = [
    "create::reserved",
    "create::recorded",
    "create::fifo",
    "create::cgroup-target",
    "create::spawned",
    "create::pid-recorded",
    "create::in-cgroup",
    "create::ready",
    "create::saved",
    "create::released",
];
const START_POINTS: [&str; 4] = [
    "start::locked",
    "start::read-fifo",
    "start::removed-fifo",
    "start::released",
];
const RUN_POINTS: [&str; 3] = ["run::created", "run::started", "run::exited"];
/// Up to `exec::in-cgroup` the new process is still hull's code: it must die with hull.
const EXEC_POINTS: [&str; 4] = [
    "exec::spawned",
    "exec::in-cgroup",
    "exec::proceeded",
    "exec::started",
];
const DELETE_POINTS: [&str; 5] = [
    "delete::locked",
    "delete::stopped",
    "delete::poststop",
    "delete::cgroup-removed",
    "state::dir-cleared",
];

#[test]
fn every_fault_point_is_tested() {
    let mut tested: Vec<String> = [
        &CREATE_POINTS[..],
        &START_POINTS,
        &RUN_POINTS,
        &EXEC_POINTS,
        &DELETE_POINTS,
    ]
    .concat()
    .iter()
    .map(|s| s.to_string())
    .collect();
    tested.sort();
    assert_eq!(all_points(), tested);
}

/// `create` of `b` killed at each of its steps: `state` shows the half-made container as
/// stopped (as created only when killed after releasing init; as not existing before its first
/// record), and `delete --force` leaves nothing.
fn create_killed_at_every_point(h: &Hull, b: &Bundle) {
    b.save();
    let id = h.new_id();
    let bundle = b.dir.to_str().unwrap();
    for point in CREATE_POINTS {
        killed_at(h, point, &["create", "--bundle", bundle, &id]);
        // Before its first record the id's dir is empty: no container yet.
        let expected = match point {
            "create::reserved" => None,
            "create::released" => Some("created"),
            _ => Some("stopped"),
        };
        poll(
            T,
            &format!("status {expected:?} after a kill at {point}"),
            || (h.status(&id).as_deref() == expected).then_some(()),
        );
        force_delete_then_reuse(h, &id, b);
    }
}

#[test]
fn create_killed_at_every_fault_point() {
    if !hull_integration::is_hull() {
        return;
    }
    let h = Hull::new();
    create_killed_at_every_point(&h, &sleeper(&h));
}

/// The same with a new user namespace (the parent writes the id maps while init waits).
#[test]
fn create_with_a_user_namespace_killed_at_every_fault_point() {
    if !hull_integration::is_hull() {
        return;
    }
    let h = Hull::new();
    let mut b = sleeper(&h);
    hull_integration::userns::with_userns(&mut b, &[(0, hull_integration::userns::BASE, 65536)]);
    create_killed_at_every_point(&h, &b);
}

/// The same when a namespace is joined by path: an intermediate process clones init.
#[test]
fn create_joining_a_namespace_killed_at_every_fault_point() {
    if !hull_integration::is_hull() {
        return;
    }
    let h = Hull::new();
    let owner_b = sleeper(&h);
    let owner = h.new_id();
    h.create_ok(&owner, &owner_b);
    let net = format!("/proc/{}/ns/net", h.pid(&owner));
    let mut b = sleeper(&h);
    b.add_namespace("network", Some(&net));
    create_killed_at_every_point(&h, &b);
    h.delete(&owner, true).ok();
    assert_nothing_left(&h, &owner, &owner_b.dir);
}

/// `run` (detached and in the foreground) killed at each of its steps.
#[test]
fn run_killed_at_every_fault_point() {
    if !hull_integration::is_hull() {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "0.2"]);
    b.save();
    let id = h.new_id();
    let bundle = b.dir.to_str().unwrap();
    for point in RUN_POINTS {
        killed_at(&h, point, &["run", "--bundle", bundle, &id]);
        force_delete_then_reuse(&h, &id, &b);
    }
    for point in CREATE_POINTS {
        killed_at(&h, point, &["run", "--detach", "--bundle", bundle, &id]);
        force_delete_then_reuse(&h, &id, &b);
    }
}

/// `start` killed at each of its steps: the container is left created, running or stopped,
/// never stuck, and `delete --force` leaves nothing.
#[test]
fn start_killed_at_every_fault_point() {
    if !hull_integration::is_hull() {
        return;
    }
    let h = Hull::new();
    let b = sleeper(&h);
    let id = h.new_id();
    for point in START_POINTS {
        h.create_ok(&id, &b);
        killed_at(&h, point, &["start", &id]);
        let status = h.status(&id);
        assert!(
            matches!(status.as_deref(), Some("created" | "running")),
            "after a kill at {point}: {status:?}"
        );
        force_delete_then_reuse(&h, &id, &b);
    }
}

/// `exec` killed at each of its steps: until the process has been let go (`Proceed`), it dies
/// with hull instead of staying blocked; after that it is the container's; `delete --force`
/// leaves nothing either way.
#[test]
fn exec_killed_at_every_fault_point() {
    if !hull_integration::is_hull() {
        return;
    }
    let h = Hull::new();
    let b = sleeper(&h);
    let id = h.new_id();
    for (i, point) in EXEC_POINTS.into_iter().enumerate() {
        h.create_start(&id, &b);
        let init = h.pid(&id) as u32;
        killed_at(&h, point, &["exec", &id, "sleep", "1234"]);
        if i < 2 {
            poll(
                T,
                &format!("the exec'd process to die with hull at {point}"),
                || {
                    let procs = leaks::procs_rooted_in(&b.dir);
                    (procs.iter().all(|(pid, _)| *pid == init)).then_some(())
                },
            );
        }
        assert_eq!(h.status(&id).as_deref(), Some("running"));
        force_delete_then_reuse(&h, &id, &b);
    }
}

/// `delete` killed at each of its steps: another `delete --force` finishes the job and the id
/// is free.
#[test]
fn delete_killed_at_every_fault_point() {
    if !hull_integration::is_hull() {
        return;
    }
    let h = Hull::new();
    let b = sleeper(&h);
    let id = h.new_id();
    for point in DELETE_POINTS {
        h.create_start(&id, &b);
        killed_at(&h, point, &["delete", "--force", &id]);
        force_delete_then_reuse(&h, &id, &b);
    }
}
