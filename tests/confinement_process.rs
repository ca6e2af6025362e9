//! `process.noNewPrivileges`, `process.rlimits`, `process.oomScoreAdj`,
//! `process.user.umask`, `process.cwd` and `process.env`, read back from inside the container.

use hull_integration::{hull_only, leaks::assert_nothing_left, Hull};
use serde_json::json;

/// The `Field:\tvalue` line of /proc/self/status output.
fn status_field<'a>(status: &'a str, field: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {field} in:\n{status}"))
}

#[test]
fn no_new_privileges_true_and_false() {
    let h = Hull::new();
    for (nnp, want) in [(true, "1"), (false, "0")] {
        let mut b = h.bundle();
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.sh("cat /proc/self/status");
        let out = h.run_fg(&h.new_id(), &b, &[]).ok();
        assert_eq!(status_field(&out.stdout, "NoNewPrivs"), want, "{out}");
    }
}

#[test]
fn rlimits_show_in_proc_self_limits() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
        {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400},
    ]);
    b.sh("cat /proc/self/limits; ulimit -n");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let row = |name: &str| -> Vec<String> {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row: {out}"));
        line[name.len()..]
            .split_whitespace()
            .take(2)
            .map(String::from)
            .collect()
    };
    assert_eq!(row("Max open files"), ["512", "1000"]);
    assert_eq!(row("Max core file size"), ["0", "4096"]);
    assert_eq!(row("Max processes"), ["300", "400"]);
    assert!(out.stdout.trim_end().ends_with("512"), "{out}");
}

#[test]
fn unknown_rlimit_is_an_error_naming_it() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NO_SUCH", "soft": 1, "hard": 1}]);
    let id = h.new_id();
    h.create(&id, &b).assert_error(&["RLIMIT_NO_SUCH"]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn rlimit_above_the_runtime_hard_limit_names_both_values() {
    let mut own = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a valid struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut own) };
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let caps = u64::from_str_radix(status_field(&status, "CapEff"), 16).unwrap();
    if caps & (1 << 24) != 0 || own.rlim_max == libc::RLIM_INFINITY {
        eprintln!("skipped: the runtime may raise its hard limit");
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    let want = own.rlim_max + 1000;
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": want}]);
    let id = h.new_id();
    h.create(&id, &b).assert_error(&[
        "RLIMIT_NOFILE",
        &want.to_string(),
        &own.rlim_max.to_string(),
    ]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn oom_score_adj_is_written() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]["oomScoreAdj"] = json!(500);
    b.sh("cat /proc/self/oom_score_adj");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(out.stdout.trim(), "500", "{out}");
}

#[test]
fn umask_is_applied() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]["user"]["umask"] = json!(0o077);
    b.sh_out("umask; touch /tmp/f; stat -c %a /tmp/f");
    h.run_fg(&h.new_id(), &b, &[]).ok();
    let out = b.wait_out();
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["0077", "600"]);
}

#[test]
fn default_umask_is_0022() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh("umask");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(out.stdout.trim(), "0022", "{out}");
}

/// This host has neither AppArmor nor SELinux: as runc, the labels are ignored and the
/// container runs (the attribute stays unconfined).
#[test]
fn lsm_labels_are_ignored_when_the_lsm_is_disabled() {
    if std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
        || std::path::Path::new("/sys/fs/selinux/enforce").exists()
    {
        eprintln!("skipped: an LSM is enabled on this host");
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]["apparmorProfile"] = json!("hull-test-profile");
    b.config["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    b.config["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
    b.sh_out("echo ran");
    h.create_start(&h.new_id(), &b);
    assert_eq!(b.wait_out().trim(), "ran");
}

/// A cwd only root can enter works for another user: entered before the switch (as runc).
#[test]
fn cwd_only_root_can_enter_works_for_a_user() {
    use std::os::unix::fs::PermissionsExt;
    let h = Hull::new();
    let mut b = h.bundle();
    let dir = b.host_path("/private");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    b.user(1000, 1000, &[]).cwd("/private").sh("pwd; id -u");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["/private", "1000"],
        "{out}"
    );
}

/// A missing cwd is made, on a read-only root too (as runc: before the root is made
/// read-only), and the root is read-only all the same.
#[test]
fn missing_cwd_is_made_even_on_a_read_only_root() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.root_readonly(false).cwd("/made/here").sh("pwd");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(out.stdout.trim(), "/made/here", "{out}");
    let mut b = h.bundle();
    b.root_readonly(true)
        .cwd("/not/there")
        .sh("pwd; touch /not/there/x 2>/dev/null && echo writable || echo read-only");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["/not/there", "read-only"],
        "{out}"
    );
    assert!(b.host_path("/not/there").is_dir());
}

/// `process.env` as runc makes it (runc's env tests): a name given twice is set once, to its
/// last value; an empty `HOME` is the user's home; for `exec -e` too.
#[test]
fn env_as_runc_builds_it() {
    let h = Hull::new();
    let run = |env: &[&str], script: &str| {
        let mut b = h.bundle();
        b.config["process"]["env"] = json!(env);
        b.sh(script);
        h.run_fg(&h.new_id(), &b, &[]).ok().stdout
    };
    let path = "PATH=/usr/bin:/bin";
    assert_eq!(run(&[path, "HOME="], "echo $HOME").trim(), "/root");
    assert_eq!(
        run(&[path, "HOME=/override", "HOME="], "echo $HOME").trim(),
        "/root"
    );
    assert_eq!(
        run(&[path, "HOME=/override"], "echo $HOME").trim(),
        "/override"
    );
    // `exec env` under the test's `sh -c`: nothing of the shell's own is left
    let env = run(&["ONE=two", "ONE=", path], "exec env");
    let mut lines: Vec<&str> = env
        .lines()
        .filter(|l| !l.starts_with("SHLVL=") && !l.starts_with("PWD="))
        .collect();
    lines.sort();
    assert_eq!(lines, ["HOME=/root", "ONE=", path], "{env}");
    assert_eq!(
        run(&[path, "ONE=two", "ONE=three"], "echo ONE=$ONE").trim(),
        "ONE=three"
    );

    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let out = h
        .run(&["exec", "-e", "HOME=", &id, "sh", "-c", "echo $HOME"])
        .ok();
    assert_eq!(out.stdout.trim(), "/root", "{out}");
}

/// An environment entry without `=`, or with an empty name, is refused naming it, before
/// anything is made (runc refuses it too, from init).
#[test]
fn env_entries_without_a_name_are_refused() {
    let h = Hull::new();
    for bad in ["FOO", "=x"] {
        let mut b = h.bundle();
        b.config["process"]["env"] = json!(["PATH=/bin", bad]);
        let id = h.new_id();
        h.create(&id, &b)
            .assert_error(&[hull_only("process.env[1]"), hull_only(bad)]);
        assert_nothing_left(&h, &id, &b.dir);
    }
}

/// The container's program, and an exec'd one, start with SIGPIPE's default action and no
/// signal blocked, as runc's: hull itself ignores SIGPIPE, and an ignored signal would stay
/// ignored across execve. (So are those the caller ignores: lifecycle.rs checks them.)
#[test]
fn sigpipe_is_not_ignored_and_no_signal_blocked() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh("cat /proc/self/status");
    let init = h.run_fg(&h.new_id(), &b, &[]).ok().stdout;
    b.sh("exec sleep 1000");
    let id = h.new_id();
    h.create_start(&id, &b);
    let exec = h
        .run(&["exec", &id, "cat", "/proc/self/status"])
        .ok()
        .stdout;
    h.delete(&id, true).ok();
    for status in [init, exec] {
        let ignored = u64::from_str_radix(status_field(&status, "SigIgn"), 16).unwrap();
        assert_eq!(
            ignored & (1 << (libc::SIGPIPE - 1)),
            0,
            "SIGPIPE ignored:\n{status}"
        );
        assert_eq!(
            status_field(&status, "SigBlk"),
            "0000000000000000",
            "{status}"
        );
    }
}
