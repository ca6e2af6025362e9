//! create / start / state / kill / delete / list / run, as runc does them.

use hull_integration::{hull_only, is_hull, pid_alive, poll, Bundle, Hull};
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// A container that waits forever, with a TERM trap that records the signal in `/got` and exits
/// 0, and a `/ready` file once the trap is in place.
fn trapping(h: &Hull) -> Bundle {
    let mut b = h.bundle();
    b.root_readonly(false).sh(
        "trap 'echo TERM > /got; exit 0' TERM; trap 'echo USR1 >> /got' USR1; touch /ready; \
         while true; do sleep 0.1; done",
    );
    b
}

fn sleeper(h: &Hull) -> Bundle {
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    b
}

fn wait_ready(b: &Bundle) {
    let ready = b.host_path("/ready");
    poll(T, "the container to touch /ready", || {
        ready.exists().then_some(())
    });
}

#[test]
fn create_leaves_a_created_container() {
    let h = Hull::new();
    let mut b = sleeper(&h);
    b.config["annotations"] = serde_json::json!({"org.hull.test": "yes"});
    let id = h.new_id();
    let pid_file = b.dir.join("init.pid");
    b.save();
    h.run(&[
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ])
    .ok();

    let st = h.state(&id);
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], id.as_str(), "{st}");
    assert!(st["ociVersion"].is_string(), "{st}");
    assert_eq!(
        std::path::Path::new(st["bundle"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        b.dir.canonicalize().unwrap(),
        "{st}"
    );
    assert_eq!(st["annotations"]["org.hull.test"], "yes", "{st}");
    assert!(
        st["rootfs"].as_str().unwrap_or("").ends_with("rootfs"),
        "{st}"
    );
    assert!(
        st["created"]
            .as_str()
            .map(|c| c.len() >= 20 && c.as_bytes()[10] == b'T')
            .unwrap_or(false),
        "created is RFC 3339: {st}"
    );
    let pid = st["pid"].as_i64().expect("pid is a number");
    assert!(pid > 0, "{st}");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(pid_alive(pid));
    let in_file = std::fs::read_to_string(&pid_file).expect("pid file written");
    assert_eq!(in_file.trim(), pid.to_string(), "pid file content");
    let fifo = h.state_dir(&id).join("exec.fifo");
    let meta = std::fs::symlink_metadata(&fifo).expect("exec.fifo exists");
    use std::os::unix::fs::FileTypeExt;
    assert!(meta.file_type().is_fifo(), "exec.fifo is a fifo");
    // the program has not started: init waits on the fifo, not running `sleep`
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains("1000"),
        "process already exec'd the program"
    );
}

#[test]
fn missing_root_dir_is_created() {
    let h = Hull::new();
    std::fs::remove_dir(&h.root).unwrap();
    let b = sleeper(&h);
    let id = h.new_id();
    h.create_ok(&id, &b);
    assert!(h.state_dir(&id).is_dir());
    assert_eq!(h.status(&id).as_deref(), Some("created"));
}

#[test]
fn start_runs_the_program() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh_out("echo started; echo $0 $1");
    let id = h.new_id();
    h.create_ok(&id, &b);
    assert!(
        !b.host_path("/out").exists(),
        "the program ran before start"
    );
    h.start(&id).ok();
    let out = b.wait_out();
    assert!(out.contains("started"), "container output: {out}");
    let st = h.wait_stopped(&id);
    assert_eq!(
        st["pid"], 0,
        "a stopped container shows pid 0 (as runc): {st}"
    );
}

#[test]
fn started_container_is_running() {
    let h = Hull::new();
    let b = sleeper(&h);
    let id = h.new_id();
    h.create_start(&id, &b);
    let st = h.state(&id);
    assert_eq!(st["status"], "running", "{st}");
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid_alive(pid));
    let cmdline = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap())
        .replace('\0', " ");
    assert!(
        cmdline.contains("sleep 1000"),
        "init exec'd the program: {cmdline}"
    );
    h.kill(&id, Some("KILL")).ok();
    h.wait_stopped(&id);
}

#[test]
fn start_twice_fails() {
    let h = Hull::new();
    let b = sleeper(&h);
    let id = h.new_id();
    h.create_start(&id, &b);
    h.start(&id).fail();
    assert_eq!(h.status(&id).as_deref(), Some("running"));
}

#[test]
fn kill_sends_term_by_default() {
    let h = Hull::new();
    let b = trapping(&h);
    let id = h.new_id();
    h.create_start(&id, &b);
    wait_ready(&b);
    h.kill(&id, None).ok();
    h.wait_stopped(&id);
    assert_eq!(b.read("/got").trim(), "TERM", "the container saw TERM");
}

#[test]
fn kill_sends_the_named_signal() {
    let h = Hull::new();
    let b = trapping(&h);
    let id = h.new_id();
    h.create_start(&id, &b);
    wait_ready(&b);
    h.kill(&id, Some("USR1")).ok();
    let got = hull_integration::wait_file(&b.host_path("/got"), T, |s| s.contains("USR1"));
    assert_eq!(got.trim(), "USR1");
    assert_eq!(
        h.status(&id).as_deref(),
        Some("running"),
        "USR1 is trapped, the container goes on"
    );
    h.kill(&id, Some("SIGTERM")).ok();
    h.wait_stopped(&id);
}

#[test]
fn kill_by_name_prefixed_name_and_number() {
    let h = Hull::new();
    for sig in ["KILL", "SIGKILL", "9"] {
        let b = sleeper(&h);
        let id = h.new_id();
        h.create_start(&id, &b);
        let pid = h.pid(&id);
        h.kill(&id, Some(sig)).ok();
        let st = h.wait_stopped(&id);
        assert_eq!(st["status"], "stopped", "after kill {sig}");
        poll(T, "init to be gone", || (!pid_alive(pid)).then_some(()));
        h.delete(&id, false).ok();
    }
}

/// Without a PID namespace the init's children outlive it; `kill --all` reaches them too.
#[test]
fn kill_all_reaches_every_process() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.remove_namespace("pid")
        .root_readonly(false)
        .sh("sleep 1001 & echo $! > /child; wait");
    let id = h.new_id();
    h.create_start(&id, &b);
    let child: i64 = hull_integration::wait_file(&b.host_path("/child"), T, |s| s.ends_with('\n'))
        .trim()
        .parse()
        .unwrap();
    assert!(pid_alive(child));
    h.run(&["kill", "--all", &id, "KILL"]).ok();
    h.wait_stopped(&id);
    poll(T, "the child to be killed", || {
        (!pid_alive(child)).then_some(())
    });
    let b2 = sleeper(&h);
    let id2 = h.new_id();
    h.create_start(&id2, &b2);
    h.run(&["kill", "-a", &id2, "9"]).ok();
    h.wait_stopped(&id2);
}

/// Without a PID namespace of its own, a container whose init has died still has its other
/// processes: `kill KILL` (without `--all`) reaches them, as runc 1.2's does, instead of
/// "container not running"; other signals to it are still refused.
#[test]
fn kill_after_init_died_without_a_pid_namespace() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.remove_namespace("pid")
        .root_readonly(false)
        .sh("sleep 1002 & echo $! > /child; wait");
    let id = h.new_id();
    h.create_start(&id, &b);
    let child: i64 = hull_integration::wait_file(&b.host_path("/child"), T, |s| s.ends_with('\n'))
        .trim()
        .parse()
        .unwrap();
    let init = h.pid(&id);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    h.wait_stopped(&id);
    assert!(pid_alive(child), "the child outlives init");
    h.kill(&id, Some("TERM"))
        .assert_error(&["container not running"]);
    assert!(pid_alive(child));
    h.kill(&id, Some("KILL")).ok();
    poll(T, "the child to be killed", || {
        (!pid_alive(child)).then_some(())
    });
    h.delete(&id, false).ok();
}

/// Real-time signals go by number, as runc sends them (docker's `SIGRTMIN+3` arrives as 37);
/// a number beyond SIGRTMAX is refused, the container untouched.
#[test]
fn kill_sends_real_time_signals_by_number() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.root_readonly(false).sh(
        "trap 'echo RT37 >> /got' 37; trap 'echo RT64 >> /got' 64; touch /ready; \
         while true; do sleep 0.1; done",
    );
    let id = h.new_id();
    h.create_start(&id, &b);
    wait_ready(&b);
    h.kill(&id, Some("37")).ok();
    hull_integration::wait_file(&b.host_path("/got"), T, |s| s.contains("RT37"));
    h.kill(&id, Some("64")).ok();
    let got = hull_integration::wait_file(&b.host_path("/got"), T, |s| s.contains("RT64"));
    assert_eq!(got.lines().collect::<Vec<_>>(), ["RT37", "RT64"]);
    h.kill(&id, Some("65")).assert_error(&["signal"]);
    assert_eq!(h.status(&id).as_deref(), Some("running"));
}

#[test]
fn kill_unknown_signal_fails() {
    let h = Hull::new();
    let b = sleeper(&h);
    let id = h.new_id();
    h.create_start(&id, &b);
    h.kill(&id, Some("NOTASIGNAL"))
        .assert_error(&["signal|NOTASIGNAL"]);
    assert_eq!(h.status(&id).as_deref(), Some("running"));
}

#[test]
fn delete_removes_the_container() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh("exit 0");
    let id = h.new_id();
    h.create_start(&id, &b);
    h.wait_stopped(&id);
    h.delete(&id, false).ok();
    assert!(!h.state_dir(&id).exists(), "state dir removed");
    h.run(&["state", &id])
        .assert_error(&["not exist|not found|no such|unknown", hull_only(&id)]);
    hull_integration::leaks::assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn delete_running_needs_force() {
    let h = Hull::new();
    let b = sleeper(&h);
    let id = h.new_id();
    h.create_start(&id, &b);
    let pid = h.pid(&id);
    h.delete(&id, false)
        .assert_error(&["running", hull_only(&id)]);
    assert_eq!(
        h.status(&id).as_deref(),
        Some("running"),
        "a refused delete leaves it running"
    );
    assert!(pid_alive(pid));
    h.delete(&id, true).ok();
    poll(T, "init to be killed", || (!pid_alive(pid)).then_some(()));
    assert!(!h.state_dir(&id).exists());
    h.run(&["state", &id]).fail();
    hull_integration::leaks::assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn delete_created_container_kills_init() {
    let h = Hull::new();
    let b = sleeper(&h);
    let id = h.new_id();
    h.create_ok(&id, &b);
    let pid = h.pid(&id);
    h.delete(&id, false).ok();
    poll(T, "init to be killed", || (!pid_alive(pid)).then_some(()));
    assert!(!h.state_dir(&id).exists());
    hull_integration::leaks::assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn list_shows_containers() {
    let h = Hull::new();
    let empty = h.run(&["list", "--format", "json"]).ok();
    assert_eq!(
        empty.stdout.trim(),
        "null",
        "an empty list in JSON is `null`, as runc prints"
    );

    let b1 = sleeper(&h);
    let b2 = sleeper(&h);
    let created = h.new_id();
    let running = h.new_id();
    h.create_ok(&created, &b1);
    h.create_start(&running, &b2);

    let table = h.run(&["list"]).ok();
    let mut lines = table.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{table}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    let row = |id: &str| {
        rows.iter()
            .find(|r| r.first() == Some(&id))
            .unwrap_or_else(|| panic!("no row for {id}:\n{table}"))
            .clone()
    };
    assert_eq!(row(&created)[2], "created", "{table}");
    assert_eq!(row(&running)[2], "running", "{table}");
    assert_eq!(row(&running)[1], h.pid(&running).to_string(), "{table}");
    assert_eq!(rows.len(), 2, "{table}");

    let json = h.run(&["list", "--format", "json"]).ok();
    let v: Value = serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("{e}: {json}"));
    let arr = v.as_array().expect("list json is an array");
    assert_eq!(arr.len(), 2, "{json}");
    let entry = |id: &str| {
        arr.iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("no {id}: {json}"))
    };
    assert_eq!(entry(&created)["status"], "created");
    assert_eq!(entry(&running)["status"], "running");
    assert_eq!(entry(&running)["pid"], h.pid(&running));
    for key in ["ociVersion", "bundle", "rootfs", "created", "owner"] {
        assert!(
            entry(&running).get(key).is_some(),
            "list json entry lacks {key}: {json}"
        );
    }

    let quiet = h.run(&["list", "-q"]).ok();
    let mut ids: Vec<&str> = quiet
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    ids.sort();
    let mut want = vec![created.as_str(), running.as_str()];
    want.sort();
    assert_eq!(ids, want, "{quiet}");
    let quiet_long = h.run(&["list", "--quiet"]).ok();
    assert_eq!(quiet_long.stdout, quiet.stdout);
}

#[test]
fn flags_before_and_after_the_id() {
    let h = Hull::new();
    let b = sleeper(&h);
    b.save();
    let bundle = b.dir.to_str().unwrap();
    let a = h.new_id();
    let pid_a = b.dir.join("a.pid");
    h.run(&[
        "create",
        &a,
        "--bundle",
        bundle,
        "--pid-file",
        pid_a.to_str().unwrap(),
    ])
    .ok();
    let c = h.new_id();
    let pid_c = b.dir.join("c.pid");
    h.run(&[
        "create",
        "--pid-file",
        pid_c.to_str().unwrap(),
        "--bundle",
        bundle,
        &c,
    ])
    .ok();
    for (id, pf) in [(&a, &pid_a), (&c, &pid_c)] {
        let st = h.state(id);
        assert_eq!(st["status"], "created");
        assert_eq!(
            std::fs::read_to_string(pf).unwrap().trim(),
            st["pid"].to_string()
        );
    }
    h.run(&["delete", &a, "--force"]).ok();
    h.run(&["delete", "-f", &c]).ok();
    let k = h.new_id();
    h.run(&["create", "--no-new-keyring", "--bundle", bundle, &k])
        .ok();
    assert_eq!(h.status(&k).as_deref(), Some("created"));
    assert!(!h.state_dir(&a).exists() && !h.state_dir(&c).exists());
}

#[test]
fn run_returns_the_exit_status() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh("echo hello-from-run; exit 3");
    let id = h.new_id();
    let out = h.run_fg(&id, &b, &[]);
    assert_eq!(out.code(), Some(3), "{out}");
    assert!(
        out.stdout.contains("hello-from-run"),
        "container stdout reaches hull's stdout: {out}"
    );
    // run deletes the container afterwards
    assert!(
        !h.state_dir(&id).exists(),
        "run without --keep deletes the container"
    );
    h.run(&["state", &id]).fail();
}

#[test]
fn run_returns_128_plus_signal_when_killed() {
    // Without a PID namespace the shell is not a namespace init, so it can kill itself.
    let h = Hull::new();
    let mut b = h.bundle();
    b.remove_namespace("pid").sh("kill -9 $$; sleep 10");
    let id = h.new_id();
    let out = h.run_fg(&id, &b, &[]);
    assert_eq!(out.code(), Some(137), "{out}");
}

#[test]
fn run_returns_137_when_killed_from_outside() {
    let h = Hull::new();
    let b = sleeper(&h);
    b.save();
    let id = h.new_id();
    let run = h.spawn(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    h.wait_status(&id, "running", T);
    h.kill(&id, Some("KILL")).ok();
    let out = run.wait(T);
    assert_eq!(out.code(), Some(137), "{out}");
}

#[test]
fn run_detach() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh_out("echo detached; sleep 1000");
    let id = h.new_id();
    let out = h.run_fg(&id, &b, &["--detach"]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(h.status(&id).as_deref(), Some("running"));
    hull_integration::wait_file(&b.host_path("/out"), T, |s| s.contains("detached"));
    let id2 = h.new_id();
    let pid_file = b.dir.join("run.pid");
    h.run_fg(&id2, &b, &["-d", "--pid-file", pid_file.to_str().unwrap()])
        .ok();
    assert_eq!(h.status(&id2).as_deref(), Some("running"));
    let pid = std::fs::read_to_string(&pid_file).expect("run -d wrote the pid file");
    assert_eq!(pid.trim(), h.pid(&id2).to_string());
}

#[test]
fn run_keep_leaves_a_stopped_container() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh("exit 0");
    let id = h.new_id();
    let out = h.run_fg(&id, &b, &["--keep"]);
    assert_eq!(out.code(), Some(0), "{out}");
    let st = h.state(&id);
    assert_eq!(st["status"], "stopped", "{st}");
    h.delete(&id, false).ok();
    assert!(!h.state_dir(&id).exists());
}

#[test]
fn run_forwards_signals() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.root_readonly(false).sh(
        "for s in USR1 USR2 HUP INT QUIT; do trap \"echo $s >> /got\" $s; done; \
         trap 'exit 42' TERM; touch /ready; while true; do sleep 0.1; done",
    );
    b.save();
    let id = h.new_id();
    let run = h.spawn(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    wait_ready(&b);
    for (sig, name) in [
        (libc::SIGUSR1, "USR1"),
        (libc::SIGUSR2, "USR2"),
        (libc::SIGHUP, "HUP"),
        (libc::SIGINT, "INT"),
        (libc::SIGQUIT, "QUIT"),
    ] {
        run.signal(sig);
        hull_integration::wait_file(&b.host_path("/got"), T, |s| s.lines().any(|l| l == name));
    }
    assert_eq!(
        h.status(&id).as_deref(),
        Some("running"),
        "trapped signals do not stop it"
    );
    run.signal(libc::SIGTERM);
    let out = run.wait(T);
    assert_eq!(out.code(), Some(42), "{out}");
}

/// A caller's signal state for [`the_program_starts_with_no_signal_ignored_or_blocked`]: what
/// a job in the background of a non-interactive shell ignores (SIGINT, SIGQUIT), what Rust
/// ignores (SIGPIPE), and two blocked signals.
fn ignore_and_block() -> std::io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGPIPE, libc::SIGUSR2] {
        // SAFETY: SIG_IGN installs no handler; this child only execs hull afterwards.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGUSR1);
    set.add(nix::sys::signal::Signal::SIGTERM);
    nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    Ok(())
}

/// The container's program starts with every signal at its default action and none blocked,
/// whatever hull inherited (an ignored signal survives execve: a shell cannot trap it then),
/// init and an exec'd process alike (runc clears the ignores a shell or Rust leaves, not all).
#[test]
fn the_program_starts_with_no_signal_ignored_or_blocked() {
    use std::os::unix::process::CommandExt;
    let h = Hull::new();
    let mut b = h.bundle();
    b.root_readonly(false)
        .sh("grep -E '^Sig(Ign|Blk)' /proc/self/status > /init.sig; touch /ready; exec sleep 1000");
    b.save();
    let id = h.new_id();
    let inheriting = |args: &[&str]| {
        let mut c = h.command(args);
        // SAFETY: the hook only changes signal dispositions and the mask before exec.
        unsafe { c.pre_exec(ignore_and_block) };
        c
    };
    let status = inheriting(&["create", "--bundle", b.dir.to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "create: {status}");
    h.start(&id).ok();
    wait_ready(&b);
    let clean = "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n";
    assert_eq!(b.read("/init.sig"), clean, "init's program");
    let out = inheriting(&[
        "exec",
        &id,
        "grep",
        "-E",
        "^Sig(Ign|Blk)",
        "/proc/self/status",
    ])
    .stdin(std::process::Stdio::null())
    .output()
    .unwrap();
    assert!(out.status.success(), "exec: {out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        clean,
        "an exec'd process"
    );
    h.kill(&id, Some("KILL")).ok();
    h.wait_stopped(&id);
}

#[test]
fn containerd_shim_invocation() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh_out("echo shim-ok");
    b.save();
    let id = h.new_id();
    let bundle = b.dir.to_str().unwrap().to_string();
    let log = format!("{bundle}/log.json");
    let pid_file = format!("{bundle}/init.pid");
    let g = |rest: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec![
            "--log".into(),
            log.clone(),
            "--log-format".into(),
            "json".into(),
        ];
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };
    h.run(&g(&[
        "create",
        "--bundle",
        &bundle,
        "--pid-file",
        &pid_file,
        &id,
    ]))
    .ok();
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(h.pid(&id), pid);
    h.run(&g(&["start", &id])).ok();
    assert!(b.wait_out().contains("shim-ok"));
    h.wait_stopped(&id);
    h.run(&g(&["delete", &id])).ok();
    h.run(&g(&["delete", "--force", &id])).ok();
    assert!(!h.state_dir(&id).exists());
    if let Ok(text) = std::fs::read_to_string(&log) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            assert_ne!(
                v["level"], "error",
                "no error logged on the happy path: {line}"
            );
        }
    }
}

#[test]
fn init_killed_from_the_host_shows_stopped() {
    let h = Hull::new();
    let b = sleeper(&h);
    let id = h.new_id();
    h.create_start(&id, &b);
    let pid = h.pid(&id);
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let st = h.wait_stopped(&id);
    assert_eq!(st["pid"], 0, "{st}");
    h.delete(&id, false).ok();
    assert!(!h.state_dir(&id).exists());
}

#[test]
fn env_reaches_the_program() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.env("HULL_TEST_VAR", "some value=with equals")
        .sh("echo \"[$HULL_TEST_VAR]\"; echo \"path=$PATH\"");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.contains("[some value=with equals]"), "{out}");
    assert!(out.stdout.contains("path=/usr/local/sbin:"), "{out}");
}

#[test]
fn list_json_includes_annotations() {
    let h = Hull::new();
    let mut annotated = sleeper(&h);
    annotated.config["annotations"] = serde_json::json!({"org.hull.test": "yes", "k": "v"});
    let plain = sleeper(&h);
    let (a, p) = (h.new_id(), h.new_id());
    h.create_ok(&a, &annotated);
    h.create_ok(&p, &plain);
    let json = h.run(&["list", "--format", "json"]).ok();
    let v: Value = serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("{e}: {json}"));
    let entry = |id: &str| {
        v.as_array()
            .and_then(|a| a.iter().find(|e| e["id"] == id))
            .unwrap_or_else(|| panic!("no {id}: {json}"))
            .clone()
    };
    assert_eq!(
        entry(&a)["annotations"],
        serde_json::json!({"org.hull.test": "yes", "k": "v"}),
        "{json}"
    );
    // runc: `annotations,omitempty`
    assert!(entry(&p).get("annotations").is_none(), "{json}");
}

/// What dockerd does with `<runtime> --version` (daemon/info_unix.go parseRuntimeVersion):
/// the line containing `version` split on it gives name and version, `commit:` the commit.
fn docker_parse(out: &str) -> (String, String, String) {
    let (mut name, mut version, mut commit) = (String::new(), String::new(), String::new());
    for line in out.trim().lines() {
        if line.contains("version") {
            let parts: Vec<&str> = line.split("version").collect();
            name = parts[0].trim().to_string();
            version = parts[parts.len() - 1].trim().to_string();
        } else if let Some(c) = line.strip_prefix("commit:") {
            commit = c.trim().to_string();
        }
    }
    (name, version, commit)
}

#[test]
fn version_has_runcs_shape() {
    let h = Hull::new();
    let long = h.run(&["--version"]).ok();
    let short = h.run(&["-v"]).ok();
    assert_eq!(long.stdout, short.stdout, "-v and --version agree");
    let (name, version, commit) = docker_parse(&long.stdout);
    let semver = |v: &str, major: &str| {
        let parts: Vec<&str> = v.split(['.', '+', '-']).collect();
        parts.len() >= 3
            && parts[0] == major
            && parts[1..3].iter().all(|p| p.parse::<u32>().is_ok())
    };
    let field = |key: &str| {
        long.stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no `{key}` line: {long}"))
            .to_string()
    };
    if is_hull() {
        assert_eq!(name, "hull", "{long}");
        assert!(semver(&version, "0"), "version 0.x.y: {long}");
        assert!(field("rust:").starts_with("1."), "{long}");
    }
    assert!(!name.is_empty() && !version.is_empty(), "{long}");
    assert!(!commit.is_empty() && !commit.contains(' '), "{long}");
    assert!(semver(&field("spec:"), "1"), "{long}");
    assert!(semver(&field("libseccomp:"), "2"), "{long}");
    // only the first line contains `version`, or docker would take a later one
    let with_version = long
        .stdout
        .lines()
        .filter(|l| l.contains("version"))
        .count();
    assert_eq!(with_version, 1, "{long}");
}

/// Kubernetes allows 256 KiB of annotations, and engines write configs of several MiB: none
/// of it is limited by what one datagram of the bootstrap channel holds.
#[test]
fn annotations_of_256_kib_and_a_config_of_several_mib() {
    let h = Hull::new();
    let big = "a".repeat(256 * 1024);
    let mut b = h.bundle();
    b.root_readonly(false).args(&["sleep", "1000"]);
    b.config["annotations"] = serde_json::json!({ "org.hull.big": big });
    let hook_saw = b.dir.join("hook-saw");
    b.add_hook(
        "createRuntime",
        serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", format!("wc -c > {}", hook_saw.display())]}),
    );
    let id = h.new_id();
    h.create_start(&id, &b);
    let st = h.state(&id);
    assert_eq!(
        st["annotations"]["org.hull.big"].as_str(),
        Some(big.as_str())
    );
    let hook_bytes: usize = std::fs::read_to_string(&hook_saw)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        hook_bytes > big.len(),
        "the hook got the whole state: {hook_bytes} bytes"
    );
    let out = h.run(&["exec", &id, "echo", "exec-ok"]).ok();
    assert_eq!(out.stdout, "exec-ok\n", "{out}");
    h.delete(&id, true).ok();

    // 6 MiB of config: 24 annotations of 256 KiB
    let mut b = h.bundle();
    b.sh("echo run-ok");
    let annotations: serde_json::Map<String, Value> = (0..24)
        .map(|i| (format!("org.hull.big.{i}"), Value::from(big.clone())))
        .collect();
    b.config["annotations"] = Value::Object(annotations);
    let id = h.new_id();
    let out = h.run_fg(&id, &b, &[]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout, "run-ok\n", "{out}");
    assert!(std::fs::metadata(b.config_path()).unwrap().len() > 6 << 20);
}

/// Signal 0 checks the container's processes are there, as kill(2) does, with and without
/// `--all`; a stopped container is "not running".
#[test]
fn kill_with_signal_0() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    h.kill(&id, Some("0")).ok();
    h.run(&["kill", "-a", &id, "0"]).ok();
    assert_eq!(h.status(&id).as_deref(), Some("running"));
    h.kill(&id, Some("KILL")).ok();
    h.wait_stopped(&id);
    h.kill(&id, Some("0")).assert_error(&["not running"]);
}

#[test]
fn no_subreaper_is_accepted_by_create_and_run() {
    let h = Hull::new();
    let b = sleeper(&h);
    let id = h.new_id();
    b.save();
    let bundle = b.dir.to_str().unwrap();
    // runc 1.1 has the flag on run only
    if is_hull() {
        h.run(&["create", "--no-subreaper", "--bundle", bundle, &id])
            .ok();
        assert_eq!(h.status(&id).as_deref(), Some("created"));
    }
    let mut t = h.bundle();
    t.args(&["true"]);
    let id2 = h.new_id();
    let out = h.run_fg(&id2, &t, &["--no-subreaper"]);
    assert_eq!(out.code(), Some(0), "{out}");
}

/// The resident size of process `pid`'s executable mappings (its code), in KiB.
fn resident_code_kib(pid: i64) -> u64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    // Header lines are `start-end perms offset dev inode [path]`, then `Field: value kB` lines.
    let (mut code_kib, mut executable) = (0u64, false);
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["Rss:", kib, "kB"] if executable => code_kib += kib.parse::<u64>().unwrap(),
            [range, perms, ..] if range.contains('-') && perms.len() == 4 => {
                executable = perms.contains('x')
            }
            _ => {}
        }
    }
    code_kib
}

/// Fails unless `code_kib` (of `who`) is under 3 MiB: a fraction of what hull maps.
#[track_caller]
fn assert_little_code(code_kib: u64, who: &str) {
    assert!(code_kib < 3 * 1024, "{who} holds {code_kib} KiB of code");
}

/// A foreground `run` waits as long as its container runs, holding (almost) none of the code
/// it ran to create and start it (without dropping it, more than 3 MiB of a debug build's
/// code stayed resident); the container's exit status still comes back.
#[test]
fn a_foreground_run_holds_little_code_while_it_waits() {
    if !is_hull() {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    b.root_readonly(false)
        .sh("touch /ready; while [ ! -e /go ]; do sleep 0.05; done; exit 7");
    b.save();
    let id = h.new_id();
    let run = h.spawn(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    wait_ready(&b);
    let code_kib = resident_code_kib(run.pid().into());
    std::fs::write(b.host_path("/go"), "").unwrap();
    let out = run.wait(T);
    assert_eq!(out.code(), Some(7), "{out}");
    assert_little_code(code_kib, "the waiting run");
}

/// A created container's init, waiting for `start`, holds (almost) none of the code it ran to
/// get there: its resident code is a fraction of what it had mapped (8.5 MiB for a debug
/// build, 2.6 MiB for a release one, before init dropped it). `start` then runs it normally.
#[test]
fn a_created_init_holds_little_code_until_start() {
    if !is_hull() {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh_out("echo started");
    let id = h.new_id();
    h.create_ok(&id, &b);
    let pid = h.pid(&id);
    assert_little_code(resident_code_kib(pid), "the blocked init");
    h.start(&id).ok();
    h.wait_status(&id, "stopped", T);
    assert_eq!(b.read("/out").trim(), "started");
    h.delete(&id, false).ok();
}
