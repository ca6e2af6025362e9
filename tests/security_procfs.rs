//! Regression tests for runc's container escapes through `/proc`, `/dev/null` and hull's own
//! processes inside the container (the others are in `security_cves.rs`):
//!
//! * CVE-2025-31133: the masked paths are covered with the container's `/dev/null`; a rootfs
//!   whose `/dev/null` is a symlink to `/proc/sys/kernel/core_pattern` (or not the null
//!   device at all) would have bound a host-writable file over them. Refused.
//! * CVE-2019-16884: a directory of fake files mounted over `/proc` would have taken the LSM
//!   label and sysctl writes. Refused, as is a rootfs whose `/proc` is a symlink.
//! * CVE-2019-19921: a mount whose destination goes through a symlink into `/proc` would have
//!   replaced a procfs file. Refused; only the files lxcfs emulates may be mounted over.
//! * CVE-2025-52881: a sysctl write redirected by a file bound over the procfs file meant
//!   would have written elsewhere. The write is refused and the decoy keeps its content.
//! * CVE-2016-9962: hull's init, blocked in the container before `start`, could be ptraced
//!   (its fds and memory read) by the container's processes. It is not dumpable.
//! * `--no-pivot`: the host's procfs stays in the container's mount namespace under the
//!   chroot, which let a nested user namespace mount a fresh, unmasked `/proc`.

use hull_integration::{leaks::assert_nothing_left, Hull};
use serde_json::json;
use std::path::Path;

/// Removes the config's `/dev` tmpfs, so the rootfs's own `/dev` is the container's.
fn use_the_rootfs_dev(b: &mut hull_integration::Bundle) {
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/dev");
}

#[test]
fn cve_2025_31133_dev_null_must_be_the_null_device() {
    let h = Hull::new();
    let core_pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    for plant in ["symlink to core_pattern", "regular file"] {
        let mut b = h.bundle();
        use_the_rootfs_dev(&mut b);
        let null = b.host_path("/dev/null");
        match plant {
            "regular file" => std::fs::write(&null, "").unwrap(),
            _ => std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", &null).unwrap(),
        }
        b.sh_out("echo ran");
        let id = h.new_id();
        h.create(&id, &b)
            .assert_error(&["maskedPaths", "/dev/null"]);
        assert!(!b.host_path("/out").exists(), "{plant}: the program ran");
        assert_nothing_left(&h, &id, &b.dir);
    }
    let after = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    assert_eq!(core_pattern, after);
}

#[test]
fn cve_2025_31133_masking_still_works_with_a_real_dev_null() {
    let h = Hull::new();
    let mut b = h.bundle();
    use_the_rootfs_dev(&mut b);
    b.sh("stat -c '%t:%T' /proc/timer_list; wc -c < /proc/timer_list");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.starts_with("1:3\n0"), "{out}");
}

#[test]
fn cve_2019_16884_a_fake_proc_is_refused() {
    let h = Hull::new();
    let fake = h.temp_dir();
    std::fs::create_dir_all(fake.join("self/attr")).unwrap();
    std::fs::write(fake.join("self/attr/exec"), "").unwrap();
    for replacement in [
        json!({"destination": "/proc", "type": "bind", "source": fake, "options": ["rbind"]}),
        json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}),
    ] {
        let mut b = h.bundle();
        for m in b.config["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/proc" {
                *m = replacement.clone();
            }
        }
        b.sh_out("echo ran");
        let id = h.new_id();
        h.create(&id, &b)
            .assert_error(&["mounts[0]", "/proc", "must be of type proc"]);
        assert_nothing_left(&h, &id, &b.dir);
    }
}

#[test]
fn a_rootfs_whose_proc_is_a_symlink_is_refused() {
    let h = Hull::new();
    let mut b = h.bundle();
    std::fs::remove_dir(b.host_path("/proc")).unwrap();
    std::os::unix::fs::symlink("/tmp", b.host_path("/proc")).unwrap();
    b.sh_out("echo ran");
    let id = h.new_id();
    h.create(&id, &b)
        .assert_error(&["mounts[0]", "/proc is a symlink"]);
    assert_nothing_left(&h, &id, &b.dir);
}

/// The same for `/sys`: a sysfs mount through a symlink could land anywhere in the rootfs (or,
/// with `..`, on what the link names), so it is refused naming the mount and the path.
#[test]
fn a_rootfs_whose_sys_is_a_symlink_is_refused() {
    let h = Hull::new();
    let mut b = h.bundle();
    std::fs::remove_dir(b.host_path("/sys")).unwrap();
    std::os::unix::fs::symlink("/tmp", b.host_path("/sys")).unwrap();
    b.sh_out("echo ran");
    let index = b.config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["destination"] == "/sys")
        .unwrap();
    let id = h.new_id();
    h.create(&id, &b)
        .assert_error(&[&format!("mounts[{index}]"), "/sys is a symlink"]);
    assert!(
        std::fs::read_dir(b.host_path("/tmp"))
            .unwrap()
            .next()
            .is_none(),
        "nothing mounted or made through the link"
    );
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn cve_2019_19921_mounts_inside_proc_are_refused() {
    let h = Hull::new();
    let src = h.temp_dir().join("file");
    std::fs::write(&src, "decoy\n").unwrap();
    for (dest, through_symlink) in [
        ("/evil/sys/kernel/core_pattern", true),
        ("/proc/sys/kernel/core_pattern", false),
    ] {
        let mut b = h.bundle();
        if through_symlink {
            std::os::unix::fs::symlink("/proc", b.host_path("/evil")).unwrap();
        }
        b.add_mount(
            json!({"destination": dest, "type": "bind", "source": src, "options": ["bind"]}),
        )
        .sh_out("echo ran");
        let id = h.new_id();
        h.create(&id, &b)
            .assert_error(&[dest, "inside /proc: refused"]);
        assert_nothing_left(&h, &id, &b.dir);
    }
    // what lxcfs mounts is allowed
    let mut b = h.bundle();
    b.add_mount(json!({"destination": "/proc/meminfo", "type": "bind", "source": src, "options": ["bind", "ro"]}))
        .sh("cat /proc/meminfo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(out.stdout, "decoy\n", "{out}");
}

#[test]
fn cve_2025_52881_a_sysctl_write_is_not_redirected() {
    let h = Hull::new();
    let decoy = h.temp_dir().join("decoy");
    std::fs::write(&decoy, "decoy\n").unwrap();
    let mut b = h.bundle();
    let target = b.host_path("/proc/sys/net/ipv4/ip_forward");
    // A createContainer hook runs in the container's mount namespace before pivot_root: it
    // binds the decoy over the procfs file the sysctl will be written to.
    let script = format!("mount --bind {} {}", decoy.display(), target.display());
    b.add_hook(
        "createContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", script]}),
    );
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    b.sh_out("echo ran");
    let id = h.new_id();
    h.create(&id, &b)
        .assert_error(&["linux.sysctl.net.ipv4.ip_forward"]);
    assert_eq!(std::fs::read_to_string(&decoy).unwrap(), "decoy\n");
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn cve_2016_9962_init_cannot_be_inspected_before_start() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_ok(&id, &b);
    let probe = "for f in fd environ mem; do \
        if ls /proc/1/$f >/dev/null 2>&1 && cat /proc/1/$f >/dev/null 2>&1; then echo $f=open; else echo $f=denied; fi; done; \
        grep -c . /proc/1/cmdline >/dev/null; echo probed";
    let out = h.run(&["exec", &id, "sh", "-c", probe]).ok();
    assert!(out.stdout.contains("probed"), "{out}");
    for f in ["fd", "environ", "mem"] {
        assert!(
            out.stdout.contains(&format!("{f}=denied")),
            "the container could read init's /proc/1/{f}: {out}"
        );
    }
    // once started, the program itself is an ordinary, dumpable process
    h.start(&id).ok();
    let out = h.run(&["exec", &id, "ls", "/proc/1/fd"]).ok();
    assert!(out.stdout.lines().any(|l| l == "0"), "{out}");
    h.delete(&id, true).ok();
}

/// runc's no_pivot.bats: a nested user namespace must not be able to mount a procfs without
/// the masks, with `--no-pivot` as with pivot_root.
#[test]
fn a_bare_proc_cannot_be_mounted_with_or_without_pivot() {
    let h = Hull::new();
    for extra in [&["--no-pivot"][..], &[]] {
        let mut b = h.bundle();
        b.sh("unshare -mrpf sh -c 'mount -t proc none /proc && echo mounted-a-bare-proc'");
        for set in ["bounding", "permitted", "effective"] {
            b.config["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SETFCAP"));
        }
        let out = h.run_fg(&h.new_id(), &b, extra);
        assert!(
            !out.stdout.contains("mounted-a-bare-proc"),
            "{extra:?}: the container mounted an unmasked /proc: {out}"
        );
        assert!(
            out.stderr.contains("mount: permission denied"),
            "{extra:?}: {out}"
        );
    }
    assert!(
        Path::new("/proc/self").exists(),
        "the host's /proc is still there"
    );
}
