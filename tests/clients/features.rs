//! `hull features` (runtime-spec `features.md`): the document is well formed, and every item
//! it advertises is really accepted: a container is created and run with each hook, each mount
//! option, each namespace, all capabilities, each seccomp action, operator, architecture and
//! supported flag, and with the LSM fields whose support it claims.

use hull_integration::{userns, Bundle, Hull};
use serde_json::{json, Value};
use std::os::unix::net::UnixListener;

fn features() -> Value {
    let h = Hull::new();
    let out = h.run(&["features"]).ok();
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("`hull features` is not JSON ({e}):\n{out}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// Runs the bundle in the foreground (its program is `true` unless set) and asserts success.
#[track_caller]
fn assert_runs(h: &Hull, b: &Bundle, what: &str) {
    let id = h.new_id();
    let out = h.run_fg(&id, b, &[]);
    assert!(
        out.success(),
        "hull features advertises {what}, but a container using it fails:\n{out}\nconfig: {}",
        serde_json::to_string(&b.config["linux"]).unwrap()
    );
}

/// A user namespace mapping container ids 0-65535 to host ids 100000-165535 (the rootfs
/// chowned to match).
fn with_userns(b: &mut Bundle) {
    userns::with_userns(b, &[(0, userns::BASE, 65536)]);
}

fn true_bundle(h: &Hull) -> Bundle {
    let mut b = h.bundle();
    b.args(&["/bin/true"]);
    b
}

#[test]
fn document_is_well_formed() {
    let f = features();
    assert_eq!(f["ociVersionMin"], "1.0.0", "{f:#}");
    let max = f["ociVersionMax"].as_str().expect("ociVersionMax");
    assert!(max.starts_with("1."), "{max}");
    // the version hull reports in state documents is the highest it claims
    let h = Hull::new();
    let b = h.bundle();
    let id = h.new_id();
    h.create_ok(&id, &b);
    assert_eq!(h.state(&id)["ociVersion"], max);
    h.delete(&id, true).ok();

    let version = h.run(&["--version"]).ok().stdout;
    let ann = &f["annotations"]["io.github.hull.version"];
    assert!(
        version.contains(ann.as_str().expect("io.github.hull.version annotation")),
        "annotation {ann} vs `hull --version`: {version}"
    );
    let linux = &f["linux"];
    for key in ["v1", "v2", "systemd", "systemdUser", "rdma"] {
        assert!(linux["cgroup"][key].is_boolean(), "cgroup.{key}: {f:#}");
    }
    for key in ["apparmor", "selinux", "intelRdt"] {
        assert!(linux[key]["enabled"].is_boolean(), "{key}: {f:#}");
    }
    assert!(linux["mountExtensions"]["idmap"]["enabled"].is_boolean());
    let seccomp = &linux["seccomp"];
    assert_eq!(seccomp["enabled"], true);
    let known = strings(&seccomp["knownFlags"]);
    for flag in strings(&seccomp["supportedFlags"]) {
        assert!(known.contains(&flag), "supported flag {flag} not known");
    }
    // this machine's cgroup layout is one hull claims to handle
    let v2_only = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let key = if v2_only { "v2" } else { "v1" };
    assert_eq!(linux["cgroup"][key], true, "{f:#}");
}

#[test]
fn every_hook_point_runs() {
    let f = features();
    let h = Hull::new();
    for hook in strings(&f["hooks"]) {
        let mut b = true_bundle(&h);
        // startContainer hooks run in the container (after pivot_root), the others see the host
        let mark = if hook == "startContainer" {
            b.root_readonly(false);
            b.host_path("/hook-ran")
        } else {
            h.temp_dir().join("ran")
        };
        let inside = if hook == "startContainer" {
            "/hook-ran".to_string()
        } else {
            mark.display().to_string()
        };
        b.add_hook(
            &hook,
            json!({"path": "/bin/sh", "args": ["sh", "-c", format!("touch {inside}")]}),
        );
        assert_runs(&h, &b, &format!("the {hook} hook"));
        assert!(mark.exists(), "the {hook} hook did not run");
    }
}

#[test]
fn every_mount_option_is_accepted() {
    let f = features();
    let h = Hull::new();
    let src = h.idmap_dir();
    for opt in strings(&f["mountOptions"]) {
        let mut b = h.bundle();
        let mount = if opt == "bind" || opt == "rbind" {
            json!({"destination": "/mnt/opt", "type": "bind", "source": src, "options": [opt]})
        } else if opt == "idmap" || opt == "ridmap" {
            // an id-mapped bind mount, with the container's own mapping
            with_userns(&mut b);
            json!({"destination": "/mnt/opt", "type": "bind", "source": src,
                   "options": ["rbind", opt]})
        } else {
            json!({"destination": "/mnt/opt", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", opt]})
        };
        b.add_mount(mount);
        // the mount is there, at the place asked
        b.args(&["/bin/sh", "-c", "grep -q ' /mnt/opt ' /proc/self/mountinfo"]);
        assert_runs(&h, &b, &format!("mount option {opt:?}"));
    }
}

#[test]
fn every_namespace_is_accepted() {
    let f = features();
    let h = Hull::new();
    for ns in strings(&f["linux"]["namespaces"]) {
        let mut b = h.bundle();
        b.add_namespace(&ns, None);
        if ns == "user" {
            with_userns(&mut b);
        }
        // the container is in a namespace of its own of that type
        let link = match ns.as_str() {
            "mount" => "mnt",
            "network" => "net",
            other => other,
        };
        let host = std::fs::read_link(format!("/proc/self/ns/{link}"))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        b.args(&[
            "/bin/sh",
            "-c",
            &format!("test \"$(readlink /proc/self/ns/{link})\" != '{host}'"),
        ]);
        assert_runs(&h, &b, &format!("the {ns} namespace"));
    }
}

#[test]
fn all_capabilities_are_accepted() {
    let f = features();
    let h = Hull::new();
    let caps = strings(&f["linux"]["capabilities"]);
    assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()), "{caps:?}");
    let mut b = true_bundle(&h);
    let all = json!(caps);
    b.config["process"]["capabilities"] = json!({
        "bounding": all, "effective": all, "permitted": all, "inheritable": all, "ambient": all
    });
    assert_runs(&h, &b, "every capability");
}

/// A profile allowing everything but `acct` (which `true` never calls), ruled by `rule`.
fn seccomp_profile(rule: Value) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [rule]
    })
}

#[test]
fn every_seccomp_action_is_accepted() {
    let f = features();
    let h = Hull::new();
    let dir = h.temp_dir();
    for action in strings(&f["linux"]["seccomp"]["actions"]) {
        let mut b = true_bundle(&h);
        let mut profile = seccomp_profile(json!({"names": ["acct"], "action": action}));
        // a notifying profile needs an agent: a listener that takes the fd
        let listener = (action == "SCMP_ACT_NOTIFY").then(|| {
            let path = dir.join("agent.sock");
            let _ = std::fs::remove_file(&path);
            profile["listenerPath"] = json!(path);
            let l = UnixListener::bind(&path).unwrap();
            std::thread::spawn(move || {
                // hold the connection until the test process ends
                let conn = l.accept();
                std::thread::sleep(std::time::Duration::from_secs(60));
                drop(conn);
            })
        });
        b.config["linux"]["seccomp"] = profile;
        assert_runs(&h, &b, &format!("seccomp action {action}"));
        drop(listener);
    }
}

#[test]
fn every_seccomp_operator_is_accepted() {
    let f = features();
    let h = Hull::new();
    for op in strings(&f["linux"]["seccomp"]["operators"]) {
        let mut b = true_bundle(&h);
        b.config["linux"]["seccomp"] = seccomp_profile(json!({
            "names": ["acct"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 1, "valueTwo": 1, "op": op}]
        }));
        assert_runs(&h, &b, &format!("seccomp operator {op}"));
    }
}

#[test]
fn every_seccomp_arch_and_flag_is_accepted() {
    let f = features();
    let h = Hull::new();
    for arch in strings(&f["linux"]["seccomp"]["archs"]) {
        let mut b = true_bundle(&h);
        let mut p = seccomp_profile(json!({"names": ["acct"], "action": "SCMP_ACT_ERRNO"}));
        p["architectures"] = json!(["SCMP_ARCH_X86_64", arch]);
        b.config["linux"]["seccomp"] = p;
        assert_runs(&h, &b, &format!("seccomp architecture {arch}"));
    }
    for flag in strings(&f["linux"]["seccomp"]["supportedFlags"]) {
        let mut b = true_bundle(&h);
        let mut p = seccomp_profile(json!({"names": ["acct"], "action": "SCMP_ACT_ERRNO"}));
        p["flags"] = json!([flag]);
        b.config["linux"]["seccomp"] = p;
        assert_runs(&h, &b, &format!("seccomp flag {flag}"));
    }
}

#[test]
fn advertised_lsm_fields_are_accepted() {
    let f = features();
    let h = Hull::new();
    if f["linux"]["apparmor"]["enabled"] == true {
        let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.trim() == "Y");
        let mut b = true_bundle(&h);
        // on a host without AppArmor the profile is ignored, as runc does
        if !enabled {
            b.config["process"]["apparmorProfile"] = json!("hull-test-profile");
            assert_runs(&h, &b, "process.apparmorProfile");
        }
    }
    if f["linux"]["selinux"]["enabled"] == true {
        let enabled =
            std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| m.contains(" selinuxfs "));
        if !enabled {
            let mut b = true_bundle(&h);
            b.config["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
            b.config["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
            assert_runs(&h, &b, "process.selinuxLabel and linux.mountLabel");
        }
    }
    let rdma_here = std::path::Path::new("/sys/fs/cgroup/rdma").exists()
        || std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .is_ok_and(|c| c.split_whitespace().any(|w| w == "rdma"));
    if !rdma_here {
        eprintln!("note: no rdma cgroup controller on this host; linux.resources.rdma not tried");
    }
    if f["linux"]["cgroup"]["rdma"] == true && rdma_here {
        // a limit for an RDMA device of this host; without one (the v2 guest), a limit for a
        // device that is not there is refused naming the field, and nothing is left
        let device = std::fs::read_dir("/sys/class/infiniband")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .next();
        let mut b = true_bundle(&h);
        let name = device.clone().unwrap_or_else(|| "hull-no-such-hca".into());
        b.config["linux"]["resources"]["rdma"] =
            json!({name.clone(): {"hcaHandles": 3, "hcaObjects": 100}});
        if device.is_some() {
            assert_runs(&h, &b, "linux.resources.rdma");
        } else {
            eprintln!("note: no RDMA device here; linux.resources.rdma tried with a missing one");
            let id = h.new_id();
            let out = h.run_fg(&id, &b, &[]);
            out.assert_error(&["linux.resources.rdma", &name]);
            hull_integration::leaks::assert_nothing_left(&h, &id, &b.dir);
        }
    }
}
