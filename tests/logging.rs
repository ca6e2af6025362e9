//! `--log` / `--log-format`: what containerd reads when a command fails.

use hull_integration::Hull;
use serde_json::Value;

fn log_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

/// `2026-11-29T09:21:40Z`, `2026-11-29T09:21:40.123456789+00:00`…
fn looks_rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && (t.ends_with('Z') || t[19..].contains('+') || t[19..].contains('-'))
}

#[test]
fn json_log_gets_the_error_of_a_failing_create() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_mount(
        serde_json::json!({"destination": "/mnt/weird", "type": "nosuchfs", "source": "none"}),
    )
    .args(&["true"]);
    b.save();
    let log = h.temp_dir().join("log.json");
    std::fs::write(
        &log,
        "{\"level\":\"info\",\"msg\":\"an earlier line\",\"time\":\"2020-01-01T00:00:00Z\"}\n",
    )
    .unwrap();
    let id = h.new_id();
    let out = h.run(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        &id,
    ]);
    assert!(!out.success(), "{out}");
    let lines = log_lines(&log);
    assert_eq!(
        lines[0],
        "{\"level\":\"info\",\"msg\":\"an earlier line\",\"time\":\"2020-01-01T00:00:00Z\"}",
        "the log is appended to, not truncated"
    );
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))
        })
        .collect();
    // containerd shows the msg of the last line whose level is error
    let err = parsed
        .iter()
        .rev()
        .find(|v| v["level"] == "error")
        .unwrap_or_else(|| panic!("no error line in {lines:?}"));
    let msg = err["msg"].as_str().expect("msg is a string");
    assert!(
        msg.contains("nosuchfs") || msg.contains("/mnt/weird") || msg.contains("no such device"),
        "msg names the problem: {msg}"
    );
    let time = err["time"].as_str().expect("time is a string");
    assert!(looks_rfc3339(time), "time is RFC 3339: {time}");
    assert!(!h.state_dir(&id).exists());
}

#[test]
fn json_log_for_an_unknown_container() {
    let h = Hull::new();
    let log = h.temp_dir().join("log.json");
    let id = h.new_id();
    let out = h.run(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        &id,
    ]);
    assert!(!out.success(), "{out}");
    let lines = log_lines(&log);
    let last_error = lines
        .iter()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["level"] == "error")
        .unwrap_or_else(|| panic!("no error line in {lines:?}"));
    let msg = last_error["msg"].as_str().unwrap_or("");
    assert!(
        msg.contains("not exist") || msg.contains("not found") || msg.contains(&id),
        "{msg}"
    );
}

#[test]
fn text_log_gets_the_error() {
    let h = Hull::new();
    let b = h.bundle();
    std::fs::write(b.config_path(), "not json at all").unwrap();
    let log = h.temp_dir().join("log.txt");
    let id = h.new_id();
    let out = h.run(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "text",
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        &id,
    ]);
    assert!(!out.success(), "{out}");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.to_lowercase().contains("error"),
        "text log has the error: {text:?}"
    );
}

#[test]
fn successful_commands_log_valid_json() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["true"]);
    b.save();
    let log = h.temp_dir().join("log.json");
    let l = log.to_str().unwrap();
    let id = h.new_id();
    h.run(&[
        "--log",
        l,
        "--log-format",
        "json",
        "--debug",
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        &id,
    ])
    .ok();
    h.run(&["--log", l, "--log-format", "json", "--debug", "start", &id])
        .ok();
    h.wait_stopped(&id);
    h.run(&["--log", l, "--log-format", "json", "--debug", "delete", &id])
        .ok();
    for line in log_lines(&log) {
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["msg"].is_string() && v["time"].is_string(),
            "{line}"
        );
        assert_ne!(v["level"], "error", "{line}");
    }
}

#[test]
fn accepted_global_flags() {
    let h = Hull::new();
    h.run(&["--debug", "list"]).ok();
    h.run(&["--systemd-cgroup", "list", "-q"]).ok();
    h.run(&["--criu", "/usr/sbin/criu", "list"]).ok();
}

/// The one JSON error line a failed command printed on stderr (runc's `--log-format json`
/// without `--log`).
#[track_caller]
fn stderr_json_error(out: &hull_integration::Out) -> Value {
    assert!(!out.success(), "{out}");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "one line on stderr:\n{out}");
    let v: Value = serde_json::from_str(lines[0])
        .unwrap_or_else(|e| panic!("stderr is not a JSON line ({e}):\n{out}"));
    assert_eq!(v["level"], "error", "{out}");
    assert!(v["msg"].is_string(), "{out}");
    assert!(looks_rfc3339(v["time"].as_str().unwrap_or("")), "{out}");
    v
}

#[test]
fn json_errors_go_to_stderr_without_log_and_name_the_container() {
    let h = Hull::new();
    let id = h.new_id();
    let commands: Vec<Vec<&str>> = vec![
        vec!["state", &id],
        vec!["start", &id],
        vec!["kill", &id, "KILL"],
        vec!["delete", &id],
        vec!["pause", &id],
        vec!["resume", &id],
        vec!["ps", &id],
        vec!["events", "--stats", &id],
        vec!["update", "--pids-limit", "10", &id],
        vec!["exec", &id, "true"],
        vec!["create", "--bundle", "/nonexistent-bundle", &id],
    ];
    for args in commands {
        let mut full = vec!["--log-format", "json"];
        full.extend(&args);
        let out = h.run(&full);
        let v = stderr_json_error(&out);
        let msg = v["msg"].as_str().unwrap();
        assert!(
            msg.contains(hull_integration::hull_only(&id)),
            "the message names the container:\n{out}"
        );
        assert!(out.stdout.trim().is_empty(), "{out}");
    }
    // a command line clap refuses is reported the same way
    let out = h.run(&["--log-format", "json", "list", "--format", "bogus"]);
    let v = stderr_json_error(&out);
    let msg = v["msg"].as_str().unwrap();
    assert!(msg.contains(hull_integration::hull_only("bogus")), "{out}");
}

#[test]
fn text_errors_without_log_stay_one_hull_line() {
    let h = Hull::new();
    let id = h.new_id();
    let out = h.run(&["state", &id]);
    out.assert_error(&["does not exist|not exist", hull_integration::hull_only(&id)]);
}

/// `--log` to a path that cannot be opened fails at once, naming it, and does nothing.
#[test]
fn unopenable_log_fails_at_once() {
    let h = Hull::new();
    let b = h.bundle();
    b.save();
    let id = h.new_id();
    let log = h.temp_dir().join("no-such-dir/hull.log");
    let log = log.to_str().unwrap();
    let out = h.run(&[
        "--log",
        log,
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        &id,
    ]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("no-such-dir/hull.log"), "{out}");
    hull_integration::leaks::assert_nothing_left(&h, &id, &b.dir);
    h.run(&["--log", log, "list"]).fail();
}

/// What init itself prints once `start` has released it (no hull command listens any more)
/// names the container too.
#[test]
fn an_error_after_start_names_the_container() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["true"])
        .add_hook("startContainer", serde_json::json!({"path": "/bin/false"}));
    let id = h.new_id();
    let out = h.run_fg(&id, &b, &[]);
    assert!(!out.success(), "{out}");
    let line = out
        .stderr_lines()
        .into_iter()
        .find(|l| l.contains("startContainer"))
        .unwrap_or_else(|| panic!("no startContainer error:\n{out}"))
        .to_string();
    assert!(
        line.contains(hull_integration::hull_only(&id)),
        "names the container: {line}"
    );
}

/// `--debug` marks the stages in runc's words, which runc's debug tests look for: on stderr
/// without `--log`, only in the log with it (text and JSON), for `run` and for `exec`.
#[test]
fn debug_marks_the_stages_in_runc_words() {
    let run_marks = [
        "nsexec container setup",
        "child process in init()",
        "init: closing the pipe to signal completion",
    ];
    let exec_marks = [
        "nsexec container setup",
        "child process in init()",
        "setns_init: about to exec",
    ];
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["/bin/echo", "Hello World"]);
    b.save();
    let bundle = b.dir.to_str().unwrap().to_string();
    let out = h
        .run(&["--debug", "run", "--bundle", &bundle, &h.new_id()])
        .ok();
    assert!(out.stdout.contains("Hello World"), "{out}");
    assert!(out.stderr.contains("level=debug"), "{out}");
    for mark in run_marks {
        assert!(out.stderr.contains(mark), "{mark:?}:\n{out}");
    }
    for format in ["text", "json"] {
        let log = h.temp_dir().join(format!("debug-{format}.log"));
        let log_arg = log.to_str().unwrap().to_string();
        let out = h
            .run(&[
                "--log",
                &log_arg,
                "--log-format",
                format,
                "--debug",
                "run",
                "--bundle",
                &bundle,
                &h.new_id(),
            ])
            .ok();
        assert!(!out.stderr.contains("level=debug"), "{out}");
        let text = std::fs::read_to_string(&log).unwrap();
        let level = if format == "json" {
            r#""level":"debug""#
        } else {
            "level=debug"
        };
        assert!(text.contains(level), "{format}:\n{text}");
        for mark in run_marks {
            assert!(text.contains(mark), "{format} {mark:?}:\n{text}");
        }
    }
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let out = h.run(&["--debug", "exec", &id, "true"]).ok();
    for mark in exec_marks {
        assert!(out.stderr.contains(mark), "exec {mark:?}:\n{out}");
    }
}
