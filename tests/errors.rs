//! Bad input: each fails with one line on stderr naming the problem, and leaves nothing behind.

use hull_integration::{hull_only, leaks::assert_nothing_left, Hull};
use serde_json::json;

#[test]
fn missing_bundle_dir() {
    let h = Hull::new();
    let id = h.new_id();
    let parent = h.temp_dir();
    let bundle = parent.join("no-such-bundle");
    let out = h.run(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    out.assert_error(&[
        "no such file|not found|not exist|bundle",
        hull_only("no-such-bundle"),
    ]);
    assert_nothing_left(&h, &id, &bundle);
}

#[test]
fn missing_config_json() {
    let h = Hull::new();
    let b = h.bundle();
    std::fs::remove_file(b.config_path()).unwrap();
    let id = h.new_id();
    let out = h.run(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    out.assert_error(&["config.json"]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn invalid_json_config() {
    let h = Hull::new();
    let b = h.bundle();
    std::fs::write(
        b.config_path(),
        "{ \"ociVersion\": \"1.0.2\", \"process\": ",
    )
    .unwrap();
    let id = h.new_id();
    let out = h.run(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    out.assert_error(&["json|config|parse|eof"]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn wrongly_typed_config() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]["args"] = json!("sh -c true");
    b.save();
    let id = h.new_id();
    let out = h.run(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    out.assert_error(&["args|json|config|sequence|array|unmarshal"]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn unreadable_config_json() {
    // root reads any file regardless of its mode, so make config.json a directory
    let h = Hull::new();
    let b = h.bundle();
    std::fs::remove_file(b.config_path()).unwrap();
    std::fs::create_dir(b.config_path()).unwrap();
    let id = h.new_id();
    let out = h.run(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    out.assert_error(&["config.json|directory"]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn unknown_namespace_type() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_namespace("bogusns", None).args(&["true"]);
    let id = h.new_id();
    h.create(&id, &b).assert_error(&["bogusns|namespace"]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn duplicate_id() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh_out("echo first-ran");
    let id = h.new_id();
    h.create_ok(&id, &b);
    let pid = h.pid(&id);
    let mut b2 = h.bundle();
    b2.args(&["sleep", "1000"]);
    h.create(&id, &b2)
        .assert_error(&["exist|already|in use", hull_only(&id)]);
    // the first is untouched
    let st = h.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], pid);
    assert!(h.state_dir(&id).join("exec.fifo").exists());
    assert!(hull_integration::leaks::procs_rooted_in(&b2.dir).is_empty());
    h.start(&id).ok();
    assert!(b.wait_out().contains("first-ran"));
}

#[test]
fn program_not_in_rootfs() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["/no/such/program", "arg"]);
    let id = h.new_id();
    h.create(&id, &b).assert_error(&["/no/such/program"]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn program_not_in_path() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["no-such-program-anywhere"]);
    let id = h.new_id();
    let out = h.run_fg(&id, &b, &[]);
    out.assert_error(&["no-such-program-anywhere"]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn mount_of_unknown_type() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_mount(json!({"destination": "/mnt/weird", "type": "nosuchfs", "source": "none"}))
        .args(&["true"]);
    let id = h.new_id();
    h.create(&id, &b)
        .assert_error(&["nosuchfs|no such device|/mnt/weird", hull_only("mounts[")]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn bind_mount_of_missing_source() {
    let h = Hull::new();
    let mut b = h.bundle();
    let src = h.temp_dir().join("missing-source");
    b.add_mount(json!({"destination": "/mnt/data", "type": "bind", "source": src.to_str().unwrap(), "options": ["rbind"]}))
        .args(&["true"]);
    let id = h.new_id();
    h.create(&id, &b)
        .assert_error(&["missing-source|no such file", hull_only("mounts[")]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn hook_timing_out() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["true"]).add_hook(
        "createRuntime",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "sleep 5"], "timeout": 1}),
    );
    let id = h.new_id();
    h.create(&id, &b).assert_error(&["timeout|timed out"]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn invalid_container_id() {
    let h = Hull::new();
    let b = h.bundle();
    b.save();
    for bad in ["../escape", "a/b", ""] {
        let out = h.run(&["create", "--bundle", b.dir.to_str().unwrap(), bad]);
        assert!(!out.success(), "{out}");
        assert_eq!(out.stderr_lines().len(), 1, "{out}");
    }
    assert!(!h.root.parent().unwrap().join("escape").exists());
    assert!(hull_integration::leaks::state_dirs_in(&h.root).is_empty());
}

#[test]
fn commands_on_an_unknown_id() {
    let h = Hull::new();
    let id = h.new_id();
    for args in [
        vec!["state", id.as_str()],
        vec!["start", id.as_str()],
        vec!["kill", id.as_str()],
        vec!["kill", id.as_str(), "KILL"],
        vec!["delete", id.as_str()],
    ] {
        let out = h.run(&args);
        out.assert_error(&["not exist|not found|no such", hull_only(&id)]);
    }
    assert!(!h.state_dir(&id).exists());
}

/// Several creates of one id at once (16 racers, 3 rounds): exactly one wins, the others fail
/// cleanly with one line, and after `delete --force` the id is free for the next round.
#[test]
fn concurrent_creates_of_one_id() {
    let h = Hull::new();
    let mut bundles = Vec::new();
    for _ in 0..16 {
        let mut b = h.bundle();
        b.args(&["sleep", "1000"]);
        b.save();
        bundles.push(b);
    }
    let id = h.new_id();
    for _round in 0..3 {
        let running: Vec<_> = bundles
            .iter()
            .map(|b| h.spawn(&["create", "--bundle", b.dir.to_str().unwrap(), &id]))
            .collect();
        let outs: Vec<_> = running
            .into_iter()
            .map(|r| r.wait(std::time::Duration::from_secs(60)))
            .collect();
        let winners: Vec<usize> = (0..outs.len()).filter(|&i| outs[i].success()).collect();
        assert_eq!(winners.len(), 1, "exactly one create wins: {outs:#?}");
        let st = h.state(&id);
        assert_eq!(st["status"], "created");
        assert!(hull_integration::pid_alive(st["pid"].as_i64().unwrap()));
        for (i, b) in bundles.iter().enumerate() {
            if i != winners[0] {
                assert_eq!(outs[i].stderr_lines().len(), 1, "{}", outs[i]);
                let procs = hull_integration::leaks::procs_rooted_in(&b.dir);
                assert!(procs.is_empty(), "a losing create left {procs:?}");
            }
        }
        h.delete(&id, true).ok();
        assert_nothing_left(&h, &id, &bundles[winners[0]].dir);
    }
}

#[test]
fn time_offsets_without_a_time_namespace() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["linux"]["timeOffsets"] = serde_json::json!({"monotonic": {"secs": 10}});
    b.sh("true");
    let id = h.new_id();
    let out = h.create(&id, &b).fail();
    out.assert_error(&["linux.timeOffsets"]);
    hull_integration::leaks::assert_nothing_left(&h, &id, &b.dir);
}

/// An edit of a config, and what the error must then say.
type Case = (&'static str, fn(&mut serde_json::Value));

/// A config string holding a newline (or another control character) is escaped in the
/// error: the message stays one line on stderr and in the `--log` JSON's `msg`.
#[test]
fn config_strings_with_newlines_stay_one_line() {
    let cases: [Case; 5] = [
        ("/no/such\\nsource", |c| {
            c["mounts"].as_array_mut().unwrap().push(
                json!({"destination": "/mnt", "type": "bind", "source": "/no/such\nsource", "options": ["bind"]}),
            )
        }),
        ("/no\\nhook", |c| {
            c["hooks"] = json!({"createRuntime": [{"path": "/no\nhook"}]})
        }),
        ("no\\nsuch: ", |c| {
            c["linux"]["sysctl"] = json!({"net.no\nsuch": "1"})
        }),
        (
            "RLIMIT_NO\\nSUCH",
            |c| {
                c["process"]["rlimits"] = json!([{"type": "RLIMIT_NO\nSUCH", "hard": 1, "soft": 1}])
            },
        ),
        ("no\\nsuch\\r\\u{1b}", |c| {
            c["process"]["args"] = json!(["no\nsuch\r\u{1b}"])
        }),
    ];
    for (needle, edit) in cases {
        let h = Hull::new();
        let mut b = h.bundle();
        edit(&mut b.config);
        b.save();
        let id = h.new_id();
        let log = h.temp_dir().join("log.json");
        let mut args = vec!["--log", log.to_str().unwrap(), "--log-format", "json"];
        args.extend(["create", "--bundle", b.dir.to_str().unwrap(), &id]);
        let out = h.run(&args);
        out.assert_error(&[hull_only(needle)]);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let last = text.lines().last().unwrap_or_default();
        let line: serde_json::Value = serde_json::from_str(last).unwrap();
        let msg = line["msg"].as_str().unwrap_or_default();
        assert!(!msg.contains('\n') && !msg.contains('\r'), "{line}");
        assert!(msg.contains(hull_only(needle)), "{line}");
        assert_nothing_left(&h, &id, &b.dir);
    }
}

/// After `start` only the container's stderr can tell why init gave up: one line there too.
#[test]
fn a_late_failure_with_a_newline_stays_one_line() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["hooks"] = json!({"startContainer": [{"path": "/no\nhook"}]});
    let id = h.new_id();
    let out = h.run_fg(&id, &b, &[]);
    assert!(!out.success(), "{out}");
    let lines = out.stderr_lines();
    assert!(
        !lines.is_empty() && lines.iter().all(|l| l.starts_with("hull")),
        "{out}"
    );
    assert!(out.stderr.contains(hull_only("/no\\nhook")), "{out}");
}

/// runc's words and exit statuses: a missing container "does not exist", an empty id
/// "cannot be empty", a stopped one is named by its state; exec fails with 255, the rest 1.
#[test]
fn runc_words_for_missing_stopped_and_empty() {
    let h = Hull::new();
    let id = h.new_id();
    for cmd in [
        "state", "start", "kill", "delete", "pause", "resume", "exec",
    ] {
        let mut args = vec![cmd, id.as_str()];
        if cmd == "exec" {
            args.push("true");
        }
        let out = h.run(&args);
        out.assert_error(&["container does not exist"]);
        let want = if cmd == "exec" { 255 } else { 1 };
        assert_eq!(out.code(), Some(want), "{cmd}: {out}");
        let mut args = vec![cmd, ""];
        if cmd == "exec" {
            args.push("true");
        }
        let out = h.run(&args);
        out.assert_error(&["container id cannot be empty"]);
        assert_eq!(out.code(), Some(want), "{cmd} '': {out}");
    }
    let mut b = h.bundle();
    b.args(&["true"]);
    h.create_start(&id, &b);
    h.wait_stopped(&id);
    for (args, words, code) in [
        (vec!["kill", id.as_str()], "container not running", 1),
        (
            vec!["start", id.as_str()],
            "cannot start a container that has stopped",
            1,
        ),
        (vec!["pause", id.as_str()], "container not running", 1),
        (
            vec!["exec", id.as_str(), "true"],
            "cannot exec in a stopped container",
            255,
        ),
    ] {
        let out = h.run(&args);
        out.assert_error(&[words, hull_only("stopped")]);
        assert_eq!(out.code(), Some(code), "{out}");
    }
}

/// An error init reports that is bigger than a datagram (it quotes a 300 KB `args[0]`)
/// reaches the user whole, not as "init exited".
#[test]
fn a_huge_error_from_init_reaches_the_user() {
    let h = Hull::new();
    let mut b = h.bundle();
    let program = "x".repeat(300_000);
    b.args(&[&program]);
    b.save();
    let id = h.new_id();
    let out = h.run(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    out.assert_error(&["executable file not found|no such file"]);
    assert!(out.stderr.contains(&program), "the program's name is cut");
    assert_nothing_left(&h, &id, &b.dir);
}

/// Commands refused for a running or paused container, in runc's words.
#[test]
fn runc_words_for_running_and_paused() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let refused = |args: &[&str], words: &str| {
        let out = h.run(args);
        out.assert_error(&[words]);
        assert_eq!(out.code(), Some(1), "{out}");
    };
    refused(&["start", &id], "cannot start an already running container");
    refused(&["resume", &id], "container not paused");
    refused(&["delete", &id], "not stopped");
    h.run(&["pause", &id]).ok();
    refused(
        &["start", &id],
        "cannot start a container in the paused state",
    );
    refused(&["pause", &id], "container not running");
    h.run(&["resume", &id]).ok();
    assert_eq!(h.status(&id).as_deref(), Some("running"));
}

/// A command line refused (a missing id, an unknown flag, a bad value) exits 1, as runc's
/// usage errors do (clap's own status would be 2); `--help` still exits 0.
#[test]
fn usage_errors_exit_1_as_runc() {
    let h = Hull::new();
    for args in [
        vec!["start"],
        vec!["kill"],
        vec!["--bogus-flag", "list"],
        vec!["list", "--format", "yaml"],
    ] {
        let out = h.run(&args);
        assert_eq!(out.code(), Some(1), "{args:?}:\n{out}");
        assert!(!out.stderr.trim().is_empty(), "{args:?}: says why");
    }
    assert_eq!(h.run(&["--help"]).code(), Some(0));
}
