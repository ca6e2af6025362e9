//! `hull exec`: a second process in a running container, as runc's nsenter path starts it.
//! Every check is what the exec'd process itself reports (its namespaces, cgroup, ids,
//! capabilities, environment...), compared with what the container's init sees.

use hull_integration::{ns_link, pid_alive, poll, Bundle, Hull, Out};
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// A running container (created and started) whose init made `/tmp/made` and `/ready`, then
/// sleeps; its hostname is `exec-host`, its rootfs writable.
fn running(h: &Hull) -> (Bundle, String) {
    let mut b = h.bundle();
    b.root_readonly(false)
        .hostname("exec-host")
        .env("FROM_SPEC", "spec")
        .sh("echo made-by-init > /tmp/made; touch /ready; exec sleep 1000");
    let id = h.new_id();
    h.create_start(&id, &b);
    let ready = b.host_path("/ready");
    poll(T, "the container to touch /ready", || {
        ready.exists().then_some(())
    });
    (b, id)
}

/// `hull exec <flags...> <id> <cmd...>` to completion.
#[track_caller]
fn exec(h: &Hull, id: &str, flags: &[&str], cmd: &[&str]) -> Out {
    let mut args = vec!["exec"];
    args.extend_from_slice(flags);
    args.push(id);
    args.extend_from_slice(cmd);
    h.run(&args)
}

/// `exec id sh -c script`, asserted to succeed; its stdout.
#[track_caller]
fn exec_sh(h: &Hull, id: &str, flags: &[&str], script: &str) -> String {
    exec(h, id, flags, &["sh", "-c", script]).ok().stdout
}

/// The value of `Key:` in a `/proc/<pid>/status` text.
fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in status:\n{status}"))
        .trim()
}

fn cap_bit(status: &str, set: &str, bit: u32) -> bool {
    let hex = status_field(status, set);
    let v = u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("{set} {hex:?}: {e}"));
    v & (1 << bit) != 0
}

const CAP_SYS_ADMIN: u32 = 21;

#[test]
fn exec_joins_every_namespace() {
    let h = Hull::new();
    let (_b, id) = running(&h);
    let init = h.pid(&id).to_string();
    let out = exec_sh(
        &h,
        &id,
        &[],
        "echo pid=$$; hostname; cat /tmp/made; \
         for ns in mnt uts ipc net pid cgroup; do \
           echo self:$ns=$(readlink /proc/self/ns/$ns); echo init:$ns=$(readlink /proc/1/ns/$ns); \
         done; ps -o pid,args",
    );
    let pid_line = out.lines().find_map(|l| l.strip_prefix("pid=")).unwrap();
    assert_ne!(pid_line, "1", "the exec'd process is not pid 1:\n{out}");
    assert!(
        pid_line.parse::<u32>().is_ok(),
        "the exec'd process has a pid in the container:\n{out}"
    );
    assert!(
        out.lines().any(|l| l == "exec-host"),
        "same hostname:\n{out}"
    );
    assert!(
        out.contains("made-by-init"),
        "sees a file the container made (same mount ns):\n{out}"
    );
    for ns in ["mnt", "uts", "ipc", "net", "pid", "cgroup"] {
        let get = |who: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{who}:{ns}=")))
                .unwrap_or_else(|| panic!("no {who}:{ns} in:\n{out}"))
                .to_string()
        };
        let host_view = ns_link(&init, ns);
        assert_eq!(get("self"), get("init"), "{ns} namespace:\n{out}");
        assert_eq!(
            get("self"),
            host_view,
            "{ns} namespace is init's as the host sees it"
        );
    }
    let init_row = out
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap_or_else(|| panic!("ps shows no pid 1:\n{out}"));
    assert!(
        init_row.contains("sleep 1000"),
        "pid 1 in the exec'd process's view is the container's init:\n{out}"
    );
}

#[test]
fn exec_joins_the_container_cgroup() {
    let h = Hull::new();
    let (_b, id) = running(&h);
    let out = exec_sh(
        &h,
        &id,
        &[],
        "cat /proc/self/cgroup; echo ----; cat /proc/1/cgroup",
    );
    let (mine, inits) = out.split_once("----\n").unwrap();
    assert!(!mine.trim().is_empty(), "{out}");
    assert_eq!(mine.trim(), inits.trim(), "same cgroup as init:\n{out}");
}

#[test]
fn exec_returns_the_exit_status() {
    let h = Hull::new();
    let (_b, id) = running(&h);
    let out = exec(&h, &id, &[], &["sh", "-c", "exit 7"]);
    assert_eq!(out.code(), Some(7), "{out}");
    let out = exec(&h, &id, &[], &["sh", "-c", "kill -KILL $$"]);
    assert_eq!(out.code(), Some(128 + 9), "killed by SIGKILL:\n{out}");
    let out = exec(&h, &id, &[], &["sh", "-c", "kill -USR1 $$"]);
    assert_eq!(out.code(), Some(128 + 10), "killed by SIGUSR1:\n{out}");
    exec(&h, &id, &[], &["true"]).ok();
}

#[test]
fn exec_env_adds_and_overrides() {
    let h = Hull::new();
    let (_b, id) = running(&h);
    let out = exec(
        &h,
        &id,
        &["--env", "ADDED=yes", "--env", "FROM_SPEC=overridden"],
        &["env"],
    )
    .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.contains(&"ADDED=yes"), "{out}");
    assert!(lines.contains(&"FROM_SPEC=overridden"), "{out}");
    assert!(!lines.contains(&"FROM_SPEC=spec"), "{out}");
    assert!(
        lines.iter().any(|l| l.starts_with("PATH=")),
        "the container's env is kept:\n{out}"
    );
    let short = exec(&h, &id, &["-e", "SHORT=1"], &["env"]).ok();
    assert!(short.stdout.lines().any(|l| l == "SHORT=1"), "{short}");
    let plain = exec(&h, &id, &[], &["env"]).ok();
    assert!(
        plain.stdout.lines().any(|l| l == "FROM_SPEC=spec"),
        "{plain}"
    );
}

#[test]
fn exec_cwd() {
    let h = Hull::new();
    let (_b, id) = running(&h);
    assert_eq!(exec_sh(&h, &id, &["--cwd", "/tmp"], "pwd").trim(), "/tmp");
    assert_eq!(exec_sh(&h, &id, &[], "pwd").trim(), "/");
}

/// `exec --cwd` never creates the directory: a missing one fails on chdir.
#[test]
fn exec_cwd_missing_fails_on_chdir() {
    let h = Hull::new();
    let (b, id) = running(&h);
    let out = exec(&h, &id, &["--cwd", "/no/such/dir"], &["pwd"]);
    out.assert_error(&["/no/such/dir"]);
    // runc's words
    assert!(out.stderr.contains("chdir to cwd"), "{out}");
    assert_eq!(out.code(), Some(255), "{out}");
    assert!(!b.host_path("/no").exists(), "exec created its cwd");
}

#[test]
fn exec_user_and_additional_gids() {
    let h = Hull::new();
    let (_b, id) = running(&h);
    let status = exec_sh(
        &h,
        &id,
        &[
            "--user",
            "1000:1000",
            "--additional-gids",
            "10",
            "--additional-gids",
            "20",
        ],
        "cat /proc/self/status",
    );
    assert_eq!(
        status_field(&status, "Uid").split_whitespace().next(),
        Some("1000")
    );
    assert_eq!(
        status_field(&status, "Gid").split_whitespace().next(),
        Some("1000")
    );
    let mut groups: Vec<&str> = status_field(&status, "Groups").split_whitespace().collect();
    groups.sort();
    assert_eq!(groups, ["10", "20"], "{status}");
}

#[test]
fn exec_cap_adds_a_capability() {
    let h = Hull::new();
    let (_b, id) = running(&h);
    let without = exec_sh(&h, &id, &[], "cat /proc/self/status");
    assert!(
        !cap_bit(&without, "CapEff", CAP_SYS_ADMIN),
        "the default process has no CAP_SYS_ADMIN:\n{without}"
    );
    let with = exec_sh(
        &h,
        &id,
        &["--cap", "CAP_SYS_ADMIN"],
        "cat /proc/self/status",
    );
    assert!(cap_bit(&with, "CapEff", CAP_SYS_ADMIN), "{with}");
    assert!(cap_bit(&with, "CapBnd", CAP_SYS_ADMIN), "{with}");
    assert!(cap_bit(&with, "CapPrm", CAP_SYS_ADMIN), "{with}");
    // as runc: never inheritable or ambient
    assert!(!cap_bit(&with, "CapInh", CAP_SYS_ADMIN), "{with}");
    assert!(!cap_bit(&with, "CapAmb", CAP_SYS_ADMIN), "{with}");
}

/// `--cap` with a name the kernel lacks is left out with runc's warning (as in a config);
/// the process still runs, with the known one added.
#[test]
fn exec_cap_unknown_is_ignored_with_a_warning() {
    let h = Hull::new();
    let (_b, id) = running(&h);
    let out = exec(
        &h,
        &id,
        &["--cap", "CAP_NO_SUCH_THING", "--cap", "CAP_SYS_ADMIN"],
        &["cat", "/proc/self/status"],
    )
    .ok();
    assert!(
        out.stderr
            .contains("ignoring unknown or unavailable capabilities: [CAP_NO_SUCH_THING]"),
        "{out}"
    );
    assert!(cap_bit(&out.stdout, "CapEff", CAP_SYS_ADMIN), "{out}");
}

#[test]
fn exec_no_new_privs() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]["noNewPrivileges"] = json!(false);
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let off = exec_sh(&h, &id, &[], "cat /proc/self/status");
    assert_eq!(status_field(&off, "NoNewPrivs"), "0", "{off}");
    let on = exec_sh(&h, &id, &["--no-new-privs"], "cat /proc/self/status");
    assert_eq!(status_field(&on, "NoNewPrivs"), "1", "{on}");
}

#[test]
fn exec_process_json() {
    let h = Hull::new();
    let (b, id) = running(&h);
    let process = json!({
        "terminal": false,
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [30]},
        "args": ["sh", "-c", "echo args-ran; pwd; echo $ONLY_HERE; cat /proc/self/status; exit 4"],
        "env": ["PATH=/bin:/usr/bin", "ONLY_HERE=from-process-json"],
        "cwd": "/tmp",
        "capabilities": {
            "bounding": ["CAP_SYS_ADMIN"],
            "effective": ["CAP_SYS_ADMIN"],
            "permitted": ["CAP_SYS_ADMIN"]
        },
        "noNewPrivileges": true
    });
    let path = b.dir.join("process.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&process).unwrap()).unwrap();
    let out = exec(&h, &id, &["--process", path.to_str().unwrap()], &[]);
    assert_eq!(out.code(), Some(4), "{out}");
    let text = &out.stdout;
    assert!(text.contains("args-ran"), "{out}");
    assert!(text.lines().any(|l| l == "/tmp"), "cwd:\n{out}");
    assert!(text.contains("from-process-json"), "env:\n{out}");
    assert!(
        !text.contains("FROM_SPEC"),
        "the container's env is not merged into process.json's:\n{out}"
    );
    assert_eq!(
        status_field(text, "Uid").split_whitespace().next(),
        Some("1000")
    );
    assert_eq!(status_field(text, "Groups"), "30", "{out}");
    assert_eq!(status_field(text, "NoNewPrivs"), "1", "{out}");
    assert!(cap_bit(text, "CapBnd", CAP_SYS_ADMIN), "{out}");
}

#[test]
fn exec_detach_writes_a_pid_file() {
    let h = Hull::new();
    let (b, id) = running(&h);
    let pid_file = b.dir.join("exec.pid");
    let out = exec(
        &h,
        &id,
        &["--detach", "--pid-file", pid_file.to_str().unwrap()],
        &["sleep", "777"],
    )
    .ok();
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("pid file: {e}\n{out}"))
        .trim()
        .parse()
        .expect("the pid file holds a number");
    assert!(pid_alive(pid), "the detached process is alive");
    let cmdline =
        String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
            .replace('\0', " ");
    assert!(cmdline.contains("sleep 777"), "{cmdline}");
    let init = h.pid(&id);
    let cg = |p: i64| std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    assert_eq!(
        cg(pid),
        cg(init),
        "the detached process is in the container's cgroup"
    );
    assert_eq!(
        ns_link(&pid.to_string(), "pid"),
        ns_link(&init.to_string(), "pid")
    );
    let ps = h.run(&["ps", "--format", "json", &id]).ok();
    let pids: Vec<i64> = serde_json::from_str(ps.stdout.trim()).expect("ps json");
    assert!(pids.contains(&pid), "ps lists the exec'd process: {ps}");
}

#[test]
fn exec_forwards_signals_in_the_foreground() {
    let h = Hull::new();
    let (b, id) = running(&h);
    let fg = h.spawn(&[
        "exec",
        &id,
        "sh",
        "-c",
        "trap 'echo TERM > /tmp/got; exit 3' TERM; touch /tmp/trapping; \
         while true; do sleep 0.1; done",
    ]);
    let trapping = b.host_path("/tmp/trapping");
    poll(T, "the exec'd process to set its trap", || {
        trapping.exists().then_some(())
    });
    fg.signal(libc::SIGTERM);
    let out = fg.wait(T);
    assert_eq!(out.code(), Some(3), "the trap's exit status:\n{out}");
    assert_eq!(b.read("/tmp/got").trim(), "TERM");
}

#[test]
fn exec_into_a_stopped_container_fails() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["true"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    h.wait_stopped(&id);
    exec(&h, &id, &[], &["true"]).assert_error(&["stopped", hull_integration::hull_only(&id)]);
}

#[test]
fn exec_into_a_paused_container_needs_ignore_paused() {
    let h = Hull::new();
    let (b, id) = running(&h);
    h.run(&["pause", &id]).ok();
    let refused = exec(&h, &id, &[], &["sh", "-c", "touch /tmp/refused"]);
    refused.assert_error(&["paused"]);
    assert_eq!(refused.code(), Some(255), "{refused}");
    assert!(!b.host_path("/tmp/refused").exists());
    // Allowed with --ignore-paused; the process joins the frozen cgroup, so it may only get to
    // run once the container is resumed.
    let allowed = h.spawn(&[
        "exec",
        "--ignore-paused",
        &id,
        "sh",
        "-c",
        "echo ran > /tmp/allowed",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    h.run(&["resume", &id]).ok();
    let out = allowed.wait(T);
    assert!(out.success(), "exec --ignore-paused:\n{out}");
    assert_eq!(b.read("/tmp/allowed").trim(), "ran");
}

#[test]
fn exec_of_a_missing_program_fails_cleanly() {
    let h = Hull::new();
    let (_b, id) = running(&h);
    let init = h.pid(&id);
    let out = exec(&h, &id, &[], &["no-such-program-xyz"]);
    out.assert_error(&["no-such-program-xyz"]);
    assert_eq!(out.code(), Some(255), "a failure of exec itself:\n{out}");
    let out = exec(&h, &id, &[], &["/bin/no-such-program-abs"]);
    out.assert_error(&["/bin/no-such-program-abs"]);
    let ps = h.run(&["ps", "--format", "json", &id]).ok();
    let pids: Vec<i64> = serde_json::from_str(ps.stdout.trim()).expect("ps json");
    assert_eq!(pids, vec![init], "only init is left in the container: {ps}");
    assert_eq!(h.status(&id).as_deref(), Some("running"));
}

/// A failing execve (here a script whose interpreter is missing) is one line in runc's
/// (Go's) words, which suites match on case by case: `exec /run.sh: no such file or
/// directory`; for exec and for the container's own process.
#[test]
fn a_failed_execve_is_worded_as_runc() {
    use std::os::unix::fs::PermissionsExt;
    let h = Hull::new();
    let (b, id) = running(&h);
    let script = b.host_path("/run.sh");
    std::fs::write(&script, "#!/mmnnttbb foo bar\nsh\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = exec(&h, &id, &[], &["/run.sh"]);
    out.assert_error(&[]);
    assert!(
        out.stderr
            .contains("exec /run.sh: no such file or directory"),
        "{out}"
    );
    let mut b = h.bundle();
    b.args(&["/run.sh"]);
    let script = b.host_path("/run.sh");
    std::fs::write(&script, "#!/mmnnttbb foo bar\nsh\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = h.run_fg(&h.new_id(), &b, &[]);
    out.assert_error(&[]);
    assert!(
        out.stderr
            .contains("exec /run.sh: no such file or directory"),
        "{out}"
    );
}

#[test]
fn exec_process_json_without_args_is_an_error() {
    let h = Hull::new();
    let (b, id) = running(&h);
    let path = b.dir.join("process.json");
    let process = json!({"user": {"uid": 0, "gid": 0}, "args": [], "cwd": "/"});
    std::fs::write(&path, serde_json::to_vec(&process).unwrap()).unwrap();
    let out = exec(&h, &id, &["--process", path.to_str().unwrap()], &[]);
    assert_ne!(out.code(), Some(0), "{out}");
    out.assert_error(&["process.args"]);
}

/// A process.json without `user` runs as uid 0, gid 0 (runc).
#[test]
fn exec_process_json_without_user() {
    let h = Hull::new();
    let (b, id) = running(&h);
    let path = b.dir.join("process.json");
    let process = json!({"args": ["/bin/sh", "-c", "id -u; id -g"], "cwd": "/"});
    std::fs::write(&path, serde_json::to_vec(&process).unwrap()).unwrap();
    let out = exec(&h, &id, &["--process", path.to_str().unwrap()], &[]).ok();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), ["0", "0"], "{out}");
}

/// `exec --cgroup [CONTROLLER:]PATH` runs the process in an existing sub-cgroup of the
/// container's; a missing one is an error (255) and is not made. On v2 the exec enables no
/// controller in the container's cgroup (threaded ones there, beside init, would make it a
/// thread root and the sub-cgroup an invalid domain: clone3 CLONE_INTO_CGROUP EOPNOTSUPP).
#[test]
fn exec_cgroup_runs_in_a_sub_cgroup() {
    use hull_integration::{cgroup_v2_only, host_cgroup_file};
    let h = Hull::new();
    let (_b, id) = running(&h);
    let pid = h.pid(&id);
    let (flag, controller) = if cgroup_v2_only() {
        ("sub", "")
    } else {
        ("memory:sub", "memory")
    };
    let dir = host_cgroup_file(pid, controller, "sub");
    std::fs::create_dir(&dir).unwrap();
    let subtree = || std::fs::read_to_string(host_cgroup_file(pid, "", "cgroup.subtree_control"));
    let before = cgroup_v2_only().then(subtree);
    let out = exec(&h, &id, &["--cgroup", flag], &["cat", "/proc/self/cgroup"]);
    let after = cgroup_v2_only().then(subtree);
    let sub_type = cgroup_v2_only().then(|| std::fs::read_to_string(dir.join("cgroup.type")));
    let _ = std::fs::remove_dir(&dir);
    let out = out.ok();
    let line = out
        .stdout
        .lines()
        .find(|l| {
            if controller.is_empty() {
                l.starts_with("0::")
            } else {
                l.split(':').nth(1) == Some(controller)
            }
        })
        .unwrap_or_else(|| panic!("no {controller:?} line:\n{out}"));
    assert!(line.ends_with("/sub"), "{line}\n{out}");
    if let (Some(before), Some(after), Some(sub_type)) = (before, after, sub_type) {
        let (before, after) = (before.unwrap(), after.unwrap());
        assert_eq!(
            before, after,
            "exec changed the container's subtree_control"
        );
        assert_eq!(sub_type.unwrap().trim(), "domain");
    }
    let missing = if controller.is_empty() {
        "nope"
    } else {
        "memory:nope"
    };
    let out = exec(&h, &id, &["--cgroup", missing], &["true"]);
    out.assert_error(&["nope", "does not exist|no such file"]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert!(!host_cgroup_file(pid, controller, "nope").exists());
}

/// `exec --cgroup` errors in the words runc's tests match on ("bad sub cgroup path",
/// " adding pid " ... "no such file or directory", "unknown controller "), and `/` is the
/// container's own cgroup, as runc joins it.
#[test]
fn exec_cgroup_errors_in_runc_words_and_slash_is_the_top() {
    use hull_integration::cgroup_v2_only;
    let h = Hull::new();
    let (_b, id) = running(&h);
    let init = exec(&h, &id, &[], &["cat", "/proc/self/cgroup"])
        .ok()
        .stdout;
    let top = exec(&h, &id, &["--cgroup", "/"], &["cat", "/proc/self/cgroup"]).ok();
    assert_eq!(
        top.stdout, init,
        "--cgroup / is where exec goes without it:\n{top}"
    );
    let out = exec(&h, &id, &["--cgroup", ".."], &["true"]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert!(out.stderr.contains("bad sub cgroup path"), "{out}");
    let out = exec(&h, &id, &["--cgroup", "nonexistent"], &["true"]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert!(
        out.stderr.contains(" adding pid ") && out.stderr.contains("no such file or directory"),
        "{out}"
    );
    if !cgroup_v2_only() {
        let out = exec(&h, &id, &["--cgroup", "whaaat:/"], &["true"]);
        assert_eq!(out.code(), Some(255), "{out}");
        assert!(out.stderr.contains("unknown controller "), "{out}");
        exec(&h, &id, &["--cgroup", "cpu,cpuacct:/"], &["true"]).ok();
    }
}

/// exec's own failures are exit 255 with the OS reason in runc's (Go's) words, which suites
/// match on case by case: a pid file in a missing directory, a missing `--process` file,
/// a missing `--cwd`.
#[test]
fn exec_failures_give_the_os_reason_in_runc_words() {
    let h = Hull::new();
    let (_b, id) = running(&h);
    for flags in [
        vec!["--pid-file", "/non-existent/directory/pid"],
        vec!["--process", "/non-existent/process.json"],
        vec!["--cwd", "/non-existent"],
    ] {
        let out = exec(&h, &id, &flags, &["true"]);
        assert_eq!(out.code(), Some(255), "{flags:?}:\n{out}");
        assert!(
            out.stderr.contains("no such file or directory"),
            "{flags:?}:\n{out}"
        );
    }
}
