//! Hostile configs (issue 10's security holes): ids that the kernel would read as "unchanged",
//! a config without a private mount namespace, device nodes the device cgroup must still
//! govern. Each is refused (one line naming the field, nothing left) or confined.

use hull_integration::{leaks::assert_nothing_left, Hull};
use serde_json::json;

/// 4294967295 is -1 to setresuid ("leave unchanged": the program would stay root); 2147483648
/// is the first id the kernel reads as negative.
const BAD_IDS: [u32; 2] = [u32::MAX, 1 << 31];

#[test]
fn process_ids_out_of_range_are_refused() {
    let h = Hull::new();
    for bad in BAD_IDS {
        for (field, user) in [
            ("process.user.uid", json!({"uid": bad, "gid": 0})),
            ("process.user.gid", json!({"uid": 0, "gid": bad})),
            (
                "process.user.additionalGids[1]",
                json!({"uid": 0, "gid": 0, "additionalGids": [5, bad]}),
            ),
        ] {
            let mut b = h.bundle();
            b.config["process"]["user"] = user;
            b.sh_out("id > /out");
            let id = h.new_id();
            h.create(&id, &b)
                .assert_error(&[field, "must be in range 0-2147483647"]);
            assert!(!b.host_path("/out").exists(), "the program ran");
            assert_nothing_left(&h, &id, &b.dir);
        }
    }
}

#[test]
fn exec_ids_out_of_range_are_refused() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.root_readonly(false).args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let bad = u32::MAX.to_string();
    for flags in [
        vec!["--user".to_string(), bad.clone()],
        vec!["--user".to_string(), format!("1000:{bad}")],
        vec!["--additional-gids".to_string(), bad.clone()],
    ] {
        let mut args = vec!["exec".to_string()];
        args.extend(flags.iter().cloned());
        args.extend([
            id.clone(),
            "sh".into(),
            "-c".into(),
            "id > /exec-out".into(),
        ]);
        h.run(&args)
            .assert_error(&["must be in range 0-2147483647"]);
        assert!(
            !b.host_path("/exec-out").exists(),
            "{flags:?}: the program ran"
        );
    }
    let process = h.temp_dir().join("process.json");
    let doc = json!({"cwd": "/", "args": ["sh", "-c", "id > /exec-out"], "user": {"uid": u32::MAX, "gid": 0}});
    std::fs::write(&process, doc.to_string()).unwrap();
    h.run(&["exec", "--process", process.to_str().unwrap(), &id])
        .assert_error(&["process.user.uid", "must be in range 0-2147483647"]);
    assert!(
        !b.host_path("/exec-out").exists(),
        "process.json: the program ran"
    );
    h.delete(&id, true).ok();
}

/// Without a mount namespace of its own, init would mount and pivot_root in the host's: no
/// mount may appear at or under the bundles (other tests mount elsewhere at the same time, so
/// the host's whole table is not compared).
#[test]
fn no_mount_namespace_is_refused_before_any_side_effect() {
    let h = Hull::new();
    let mut bundles = Vec::new();
    for case in [
        "no mount namespace",
        "no namespaces at all",
        "no linux section",
    ] {
        let mut b = h.bundle();
        match case {
            "no mount namespace" => drop(b.remove_namespace("mount")),
            "no namespaces at all" => b.config["linux"]["namespaces"] = json!([]),
            _ => {
                let obj = b.config.as_object_mut().unwrap();
                obj.remove("linux");
                obj.remove("hostname");
            }
        }
        b.sh_out("echo ran > /out");
        let id = h.new_id();
        h.create(&id, &b)
            .assert_error(&["linux.namespaces", "private mount namespace is required"]);
        assert_nothing_left(&h, &id, &b.dir);
        assert!(!h.root.join(&id).exists(), "{case}: a state dir was left");
        assert!(!b.host_path("/out").exists(), "{case}: the program ran");
        bundles.push(b.dir.clone());
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in mountinfo.lines() {
        let point = std::path::Path::new(line.split_whitespace().nth(4).unwrap_or(""));
        assert!(
            !bundles.iter().any(|b| point.starts_with(b)),
            "a mount was made in the host's namespace: {line}"
        );
    }
}

/// `linux.devices` creates a node; whether it may be used is `linux.resources.devices`' call
/// (runc alike): under the default deny-all list, /dev/kmsg exists but cannot be opened (for
/// writing, which needs no capability; nothing is written).
#[test]
fn a_created_device_obeys_the_device_cgroup() {
    let h = Hull::new();
    let open_kmsg = "stat -c '%F %t:%T' /dev/kmsg; \
        if dd if=/dev/null of=/dev/kmsg count=0 2>/dev/null; then echo kmsg=open; else echo kmsg=denied; fi";
    let mut b = h.bundle();
    b.add_device(
        json!({"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 420}),
    )
    .sh(open_kmsg);
    assert_eq!(
        b.config["linux"]["resources"]["devices"][0],
        json!({"allow": false, "access": "rwm"}),
        "the default spec denies every device"
    );
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.contains("character special file 1:b"), "{out}");
    assert!(out.stdout.contains("kmsg=denied"), "{out}");

    // allowed explicitly, it opens
    let mut b = h.bundle();
    b.add_device(
        json!({"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 420}),
    )
    .sh(open_kmsg);
    b.config["linux"]["resources"]["devices"]
        .as_array_mut()
        .unwrap()
        .push(json!({"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}));
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.contains("kmsg=open"), "{out}");
}

#[test]
fn a_fifo_device_entry_is_created() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_device(json!({"path": "/dev/myfifo", "type": "p", "fileMode": 384}))
        .sh("stat -c '%F %a' /dev/myfifo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.contains("fifo 600"), "{out}");
}
