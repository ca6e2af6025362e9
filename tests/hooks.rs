//! The six OCI hook points: order, the state on stdin, timeouts and failures.

use hull_integration::{hull_only, leaks, Bundle, Hull};
use serde_json::{json, Value};

/// A hook run by `/bin/sh` (the host's, or for startContainer the container's busybox) that
/// appends one line, `<name> <state from stdin>`, to `log` (an absolute path where the hook
/// runs) in a single write, so hooks that overlap cannot interleave their records.
fn recording_hook(name: &str, log: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("s=$(cat); echo \"{name} $s\" >> {log}")],
        "env": ["HOOK_TEST=1"]
    })
}

/// `(name, state)` pairs from a hook log.
fn parse_log(text: &str) -> Vec<(String, Value)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (name, state) = line.split_once(' ').unwrap_or((line, ""));
            let v: Value = serde_json::from_str(state).unwrap_or_else(|e| {
                panic!("hook {name} got bad state JSON ({e}): {state:?}\n{text}")
            });
            (name.to_string(), v)
        })
        .collect()
}

fn all_hooks(b: &mut Bundle) {
    let log = b.host_path("/hooks.log");
    let log = log.to_str().unwrap();
    for kind in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        b.add_hook(kind, recording_hook(kind, log));
    }
    // startContainer runs inside the container: the busybox shell and the in-container path.
    // It takes its time, so that a poststart hook that does not wait for the program's exec
    // (as the runtime-spec requires) shows up before it.
    let mut start = recording_hook("startContainer", "/hooks.log");
    start["args"][2] = json!(format!("sleep 0.5; {}", start["args"][2].as_str().unwrap()));
    b.add_hook("startContainer", start);
}

#[test]
fn hooks_run_in_order_with_the_state() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh_out("echo main-ran");
    all_hooks(&mut b);
    let id = h.new_id();
    h.create_ok(&id, &b);
    let after_create: Vec<String> = parse_log(&b.read("/hooks.log"))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        after_create,
        ["prestart", "createRuntime", "createContainer"],
        "hooks run by create"
    );
    h.start(&id).ok();
    assert!(b.wait_out().contains("main-ran"));
    h.wait_stopped(&id);
    h.delete(&id, false).ok();

    let log = b.read("/hooks.log");
    let entries = parse_log(&log);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ],
        "{log}"
    );
    let pid = entries[0].1["pid"].as_i64().unwrap_or(0);
    for (name, state) in &entries {
        assert_eq!(state["id"], id.as_str(), "{name} got the id: {state}");
        assert!(state["ociVersion"].is_string(), "{name}: {state}");
        assert!(
            state["bundle"]
                .as_str()
                .map(|s| s.ends_with(b.dir.file_name().unwrap().to_str().unwrap()))
                .unwrap_or(false),
            "{name} got the bundle: {state}"
        );
        if name != "poststop" {
            assert_eq!(
                state["pid"].as_i64(),
                Some(pid),
                "{name} got init's pid: {state}"
            );
        }
    }
    assert!(pid > 0);
    let status = |n: &str| entries.iter().find(|(x, _)| x == n).unwrap().1["status"].clone();
    assert_eq!(status("prestart"), "creating", "{log}");
    assert_eq!(status("createRuntime"), "creating", "{log}");
    // the create operation is not over yet while createContainer hooks run
    assert_eq!(status("createContainer"), "creating", "{log}");
    assert_eq!(status("startContainer"), "created", "{log}");
    assert_eq!(status("poststart"), "running", "{log}");
    assert_eq!(status("poststop"), "stopped", "{log}");
}

#[test]
fn hooks_with_run() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh_out("echo main-ran");
    all_hooks(&mut b);
    let out = h.run_fg(&h.new_id(), &b, &[]);
    assert_eq!(out.code(), Some(0), "{out}");
    let names: Vec<String> = parse_log(&b.read("/hooks.log"))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
}

#[test]
fn hook_timeout_fails_create() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]).add_hook(
        "prestart",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "sleep 5"], "timeout": 1}),
    );
    let id = h.new_id();
    let out = h.create(&id, &b);
    out.assert_error(&["timeout|timed out", hull_only("prestart")]);
    leaks::assert_nothing_left(&h, &id, &b.dir);
    h.run(&["state", &id]).fail();
}

#[test]
fn failing_prestart_hook_fails_create() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]).add_hook(
        "prestart",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "echo bad >&2; exit 7"]}),
    );
    let id = h.new_id();
    let out = h.create(&id, &b);
    out.assert_error(&["hook|prestart"]);
    leaks::assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn failing_create_runtime_hook_fails_create() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"])
        .add_hook("createRuntime", json!({"path": "/bin/false"}));
    let id = h.new_id();
    h.create(&id, &b).assert_error(&["hook|createRuntime"]);
    leaks::assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn hook_gets_its_env() {
    let h = Hull::new();
    let mut b = h.bundle();
    let log = b.host_path("/env.log");
    b.args(&["true"]).root_readonly(false).add_hook(
        "prestart",
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo \"$HOOK_VAR\" > {}", log.display())], "env": ["HOOK_VAR=hello-hook"]}),
    );
    let out = h.run_fg(&h.new_id(), &b, &[]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(std::fs::read_to_string(&log).unwrap().trim(), "hello-hook");
}
