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

/// A hook that never reads its stdin still times out when the state is bigger than a pipe
/// holds (256 KiB of annotations): hull does not block writing it.
#[test]
fn hook_timeout_holds_with_a_state_bigger_than_a_pipe() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["annotations"] = json!({"org.hull.big": "a".repeat(256 * 1024)});
    b.args(&["sleep", "1000"]).add_hook(
        "createRuntime",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "exec sleep 10"], "timeout": 1}),
    );
    let id = h.new_id();
    let started = std::time::Instant::now();
    let out = h.create(&id, &b);
    out.assert_error(&["timeout|timed out", hull_only("createRuntime")]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the 1 s timeout took {:?}",
        started.elapsed()
    );
    leaks::assert_nothing_left(&h, &id, &b.dir);
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

/// A hook without `env` inherits runc's environment: hull's own (PATH included) for the
/// hooks the runtime runs, the process's for createContainer and startContainer (with
/// HOME for startContainer); createContainer hooks run in the rootfs directory.
#[test]
fn hooks_without_env_and_their_cwd() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.root_readonly(false)
        .args(&["true"])
        .env("FROM_PROCESS", "yes");
    let rootfs = b.rootfs();
    let report = |file: &str| {
        format!("{{ echo \"path=$PATH\"; echo \"proc=$FROM_PROCESS\"; echo \"home=$HOME\"; echo \"cwd=$(pwd)\"; }} > {file}")
    };
    let host_log = |name: &str| b.dir.join(name).display().to_string();
    let (pre, post, cc) = (host_log("pre"), host_log("post"), host_log("cc"));
    b.add_hook(
        "prestart",
        json!({"path": "/bin/sh", "args": ["sh", "-c", report(&pre)]}),
    );
    b.add_hook(
        "poststart",
        json!({"path": "/bin/sh", "args": ["sh", "-c", report(&post)]}),
    );
    b.add_hook(
        "createContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", report(&cc)]}),
    );
    b.add_hook(
        "startContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", report("/sc")]}),
    );
    let out = h.run_fg(&h.new_id(), &b, &[]);
    assert_eq!(out.code(), Some(0), "{out}");
    let field = |text: &str, key: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .to_string()
    };
    let ours = std::env::var("PATH").unwrap();
    for file in [&pre, &post] {
        let text = std::fs::read_to_string(file).unwrap();
        assert_eq!(field(&text, "path"), ours, "{file}: hull's PATH:\n{text}");
        assert_eq!(field(&text, "proc"), "", "{file}:\n{text}");
    }
    let process_path = b.config["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e.as_str().unwrap().strip_prefix("PATH="))
        .unwrap()
        .to_string();
    let text = std::fs::read_to_string(&cc).unwrap();
    assert_eq!(
        field(&text, "path"),
        process_path,
        "createContainer:\n{text}"
    );
    assert_eq!(field(&text, "proc"), "yes", "createContainer:\n{text}");
    assert_eq!(
        field(&text, "cwd"),
        rootfs.canonicalize().unwrap().display().to_string(),
        "createContainer runs in the rootfs:\n{text}"
    );
    let text = b.read("/sc");
    assert_eq!(
        field(&text, "path"),
        process_path,
        "startContainer:\n{text}"
    );
    assert_eq!(field(&text, "proc"), "yes", "startContainer:\n{text}");
    assert_eq!(field(&text, "home"), "/root", "startContainer:\n{text}");
}

/// As runc, a failing poststart hook fails `start`, and the container is killed and deleted
/// (its poststop hooks run).
#[test]
fn failing_poststart_fails_start_and_deletes_the_container() {
    let h = Hull::new();
    let mut b = h.bundle();
    let log = b.dir.join("poststop.ran");
    b.args(&["sleep", "1000"])
        .add_hook(
            "poststart",
            json!({"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}),
        )
        .add_hook(
            "poststop",
            json!({"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}", log.display())]}),
        );
    let id = h.new_id();
    h.create_ok(&id, &b);
    let pid = h.pid(&id);
    h.start(&id).assert_error(&["poststart"]);
    assert!(!h.state_dir(&id).exists(), "the container is deleted");
    assert!(!hull_integration::pid_alive(pid), "init is killed");
    assert!(log.exists(), "poststop hooks ran");
    h.run(&["state", &id]).fail();
    leaks::assert_nothing_left(&h, &id, &b.dir);
}

/// Poststop failures are warnings: the remaining poststop hooks still run (runtime-spec,
/// runtime-tools' poststop_fail), delete goes on and succeeds.
#[test]
fn failing_poststop_is_a_warning() {
    let h = Hull::new();
    let mut b = h.bundle();
    let after = b.dir.join("after-the-failure");
    b.args(&["true"])
        .add_hook("poststop", json!({"path": "/bin/false"}))
        .add_hook(
            "poststop",
            json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo ran >> {}", after.display())]}),
        );
    let id = h.new_id();
    h.create_start(&id, &b);
    h.wait_stopped(&id);
    let out = h.delete(&id, false).ok();
    assert!(
        out.stderr.contains("poststop"),
        "a warning names it:\n{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&after).unwrap_or_default(),
        "ran\n",
        "the next poststop hook ran once:\n{out}"
    );
    leaks::assert_nothing_left(&h, &id, &b.dir);
}

/// A failing hook at any point but poststop fails `run` in runc's words, which its tests
/// match on: `error running <point> hook #<index>:`.
#[test]
fn a_failing_hook_is_named_as_runc_names_it() {
    let h = Hull::new();
    for point in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
    ] {
        let mut b = h.bundle();
        b.args(&["/bin/echo", "Hello World"])
            .add_hook(point, json!({"path": "/bin/true"}))
            .add_hook(point, json!({"path": "/bin/false"}));
        let id = h.new_id();
        let out = h.run_fg(&id, &b, &[]);
        assert!(!out.success(), "{point}:\n{out}");
        // runc 1.2's words (runc 1.1.5 says "error running hook #1:")
        let words = format!("error running {point} hook #1:");
        assert!(out.stderr.contains(hull_only(&words)), "{point}:\n{out}");
        assert!(out.stderr.contains("exit status 1"), "{point}:\n{out}");
        let _ = h.delete(&id, true);
        leaks::assert_nothing_left(&h, &id, &b.dir);
    }
}

/// hull reads only the parts of its record's spec that a command needs (the hooks at start
/// and delete, the annotations at state): with members no spec has added to the record after
/// create, at the top and inside the hooks, poststart and poststop still run and get the
/// state with the annotations, and `state` still shows them.
#[test]
fn hooks_and_annotations_are_read_from_a_record_with_unknown_members() {
    if !hull_integration::is_hull() {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    b.config["annotations"] = json!({"org.example.kept": "yes"});
    let log = b.host_path("/hooks.log");
    for kind in ["poststart", "poststop"] {
        b.add_hook(kind, recording_hook(kind, log.to_str().unwrap()));
    }
    let id = h.new_id();
    h.create_ok(&id, &b);
    let path = h.state_dir(&id).join("state.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    record["spec"]["org.example.future"] =
        json!({"hooks": "not hooks", "annotations": [1, {"poststop": null}]});
    record["spec"]["hooks"]["org.example.later"] = json!([{"path": 5}]);
    std::fs::write(&path, record.to_string()).unwrap();

    assert_eq!(h.state(&id)["annotations"]["org.example.kept"], "yes");
    h.start(&id).ok();
    assert_eq!(h.status(&id).as_deref(), Some("running"));
    h.delete(&id, true).ok();
    let text = b.read("/hooks.log");
    let entries = parse_log(&text);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["poststart", "poststop"], "{text}");
    for (name, state) in &entries {
        assert_eq!(state["id"], id.as_str(), "{name}: {state}");
        assert_eq!(
            state["annotations"]["org.example.kept"], "yes",
            "{name}: {state}"
        );
    }
    leaks::assert_nothing_left(&h, &id, &b.dir);
}
