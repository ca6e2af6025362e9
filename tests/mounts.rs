//! Mounts, the read-only root, /dev, devices, --no-pivot, path safety, cwd and user.

use hull_integration::mountinfo::{has_opt, mount_line, HostMount};
use hull_integration::{unique, Hull};
use serde_json::json;
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[test]
fn tmpfs_mount_with_options() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_mount(json!({
        "destination": "/mnt/scratch",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["nosuid", "nodev", "mode=755", "size=65536k"]
    }))
    .sh("cat /proc/self/mountinfo; stat -c 'mode=%a' /mnt/scratch");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let (opts, fstype, sopts) = mount_line(&out.stdout, "/mnt/scratch")
        .unwrap_or_else(|| panic!("no /mnt/scratch mount: {out}"));
    assert_eq!(fstype, "tmpfs");
    assert!(
        has_opt(&opts, "nosuid") && has_opt(&opts, "nodev"),
        "options {opts}"
    );
    assert!(has_opt(&sopts, "size=65536k"), "super options {sopts}");
    assert!(has_opt(&sopts, "mode=755"), "super options {sopts}");
    assert!(out.stdout.contains("mode=755"), "{out}");
}

#[test]
fn noexec_mount_refuses_exec() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_mount(json!({
        "destination": "/mnt/nx",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["noexec", "nosuid", "nodev"]
    }))
    .add_mount(
        json!({"destination": "/mnt/x", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}),
    )
    .sh(
        "cp /bin/busybox /mnt/nx/true; cp /bin/busybox /mnt/x/true; \
         /mnt/nx/true && echo nx=ran || echo nx=refused; \
         /mnt/x/true && echo x=ran || echo x=refused; grep ' /mnt/nx ' /proc/self/mountinfo",
    );
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(
        out.stdout.contains("nx=refused"),
        "exec on a noexec mount: {out}"
    );
    assert!(
        out.stdout.contains("x=ran"),
        "exec on a normal tmpfs: {out}"
    );
    let (opts, _, _) = mount_line(&out.stdout, "/mnt/nx").unwrap();
    assert!(has_opt(&opts, "noexec"), "{opts}");
}

#[test]
fn read_only_bind_mount() {
    let h = Hull::new();
    let host = h.temp_dir();
    std::fs::write(host.join("hello"), "from-the-host").unwrap();
    let mut b = h.bundle();
    b.add_mount(json!({
        "destination": "/data",
        "type": "bind",
        "source": host.to_str().unwrap(),
        "options": ["rbind", "ro"]
    }))
    .sh(
        "cat /data/hello; echo; touch /data/new && echo write=ok || echo write=failed; \
         cat /proc/self/mountinfo",
    );
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.starts_with("from-the-host"), "{out}");
    assert!(
        out.stdout.contains("write=failed"),
        "wrote to a ro bind mount: {out}"
    );
    assert!(!host.join("new").exists());
    let (opts, _, _) =
        mount_line(&out.stdout, "/data").unwrap_or_else(|| panic!("no /data: {out}"));
    assert!(has_opt(&opts, "ro"), "{opts}");
}

#[test]
fn writable_bind_mount() {
    let h = Hull::new();
    let host = h.temp_dir();
    let mut b = h.bundle();
    b.add_mount(json!({
        "destination": "/data",
        "type": "bind",
        "source": host.to_str().unwrap(),
        "options": ["bind", "rw"]
    }))
    .sh("echo written-inside > /data/new && echo write=ok");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.contains("write=ok"), "{out}");
    assert_eq!(
        std::fs::read_to_string(host.join("new")).unwrap().trim(),
        "written-inside"
    );
}

#[test]
fn rbind_carries_submounts_and_bind_does_not() {
    let h = Hull::new();
    let host = h.temp_dir();
    let _sub = HostMount::tmpfs(&host.join("sub"));
    std::fs::write(host.join("sub/marker"), "in-submount").unwrap();
    let mut b = h.bundle();
    b.add_mount(json!({"destination": "/r", "type": "bind", "source": host.to_str().unwrap(), "options": ["rbind"]}))
        .add_mount(json!({"destination": "/nr", "type": "bind", "source": host.to_str().unwrap(), "options": ["bind"]}))
        .sh("cat /r/sub/marker 2>/dev/null || echo r=missing; echo; cat /nr/sub/marker 2>/dev/null || echo nr=missing");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(
        out.stdout.contains("in-submount"),
        "rbind lost the submount: {out}"
    );
    assert!(
        out.stdout.contains("nr=missing"),
        "a plain bind carried the submount: {out}"
    );
}

#[test]
fn readonly_root() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.root_readonly(true)
        .sh("touch /x && echo write=ok || echo write=failed; cat /proc/self/mountinfo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.contains("write=failed"), "{out}");
    assert!(!b.host_path("/x").exists());
    let (opts, _, _) =
        mount_line(&out.stdout, "/").unwrap_or_else(|| panic!("no / in mountinfo: {out}"));
    assert!(has_opt(&opts, "ro"), "{opts}");

    let mut w = h.bundle();
    w.root_readonly(false)
        .sh("touch /x && echo write=ok || echo write=failed");
    let out = h.run_fg(&h.new_id(), &w, &[]).ok();
    assert!(out.stdout.contains("write=ok"), "{out}");
    assert!(w.host_path("/x").exists());
}

#[test]
fn default_devices() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh("for d in null zero full random urandom tty; do \
            [ -c /dev/$d ] && echo $d=$(stat -c '%t:%T' /dev/$d) || echo $d=missing; done; \
          for l in fd stdin stdout stderr ptmx; do echo link-$l=$(readlink /dev/$l); done; \
          echo x > /dev/null && echo null=writable; \
          echo zero=$(head -c 5 /dev/zero | wc -c); \
          echo x 2>/dev/null > /dev/full && echo full=wrote || echo full=enospc");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let s = &out.stdout;
    for want in [
        "null=1:3",
        "zero=1:5",
        "full=1:7",
        "random=1:8",
        "urandom=1:9",
        "tty=5:0",
        "link-fd=/proc/self/fd",
        "link-stdin=/proc/self/fd/0",
        "link-stdout=/proc/self/fd/1",
        "link-stderr=/proc/self/fd/2",
        "link-ptmx=pts/ptmx",
        "null=writable",
        "zero=5",
        "full=enospc",
    ] {
        assert!(
            s.lines().any(|l| l.trim() == want),
            "missing {want:?}: {out}"
        );
    }
}

#[test]
fn linux_devices_entry_is_created() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_device(json!({"path": "/dev/mydev", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0}))
        .sh("stat -c '%F %t:%T %a' /dev/mydev; echo hi > /dev/mydev && echo mydev=writable");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(
        out.stdout.contains("character special file 1:3 666"),
        "{out}"
    );
    assert!(out.stdout.contains("mydev=writable"), "{out}");
}

#[test]
fn no_pivot() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh("echo pid=$$; [ -e /work ] || [ -e /usr/share ] && echo host-root || echo own-root; ls /bin/busybox");
    assert!(Path::new("/usr/share").exists());
    let out = h.run_fg(&h.new_id(), &b, &["--no-pivot"]).ok();
    assert!(out.stdout.contains("pid=1"), "{out}");
    assert!(
        out.stdout.contains("own-root"),
        "the container sees the host root: {out}"
    );
    assert!(out.stdout.contains("/bin/busybox"), "{out}");
}

/// CVE-2021-30465 style: the rootfs's `/mnt` is a symlink to `/`, and a mount targets
/// `/mnt/hull-escape-<rand>`. Following the symlink on the host would create (and mount on)
/// the host's `/hull-escape-<rand>`. Failing or mounting inside the rootfs are both fine.
#[test]
fn mount_through_a_symlink_stays_in_the_rootfs() {
    let h = Hull::new();
    let mut b = h.bundle();
    std::fs::remove_dir(b.host_path("/mnt")).unwrap();
    std::os::unix::fs::symlink("/", b.host_path("/mnt")).unwrap();
    let name = format!("hull-escape-{}", unique());
    let host_target = PathBuf::from("/").join(&name);
    b.add_mount(json!({"destination": format!("/mnt/{name}"), "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}))
        .sh("cat /proc/self/mountinfo");
    let out = h.run_fg(&h.new_id(), &b, &[]);

    let escaped = host_target.exists();
    let host_mounts: Vec<String> =
        hull_integration::leaks::mounts_mentioning(&host_target).collect();
    // clean the host before asserting
    if escaped {
        let c = CString::new(host_target.to_str().unwrap()).unwrap();
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        let _ = std::fs::remove_dir(&host_target);
    }
    assert!(
        !escaped,
        "{} was created on the host:\n{out}",
        host_target.display()
    );
    assert!(
        host_mounts.is_empty(),
        "host mount table has {host_mounts:?}"
    );
    if out.success() {
        // then the tmpfs went inside the rootfs, never outside
        assert!(
            !out.stdout
                .lines()
                .any(|l| l.contains(&name) && !l.contains(" - tmpfs ")),
            "{out}"
        );
    }
}

#[test]
fn cwd_is_set() {
    let h = Hull::new();
    let mut b = h.bundle();
    std::fs::create_dir_all(b.host_path("/srv/app")).unwrap();
    b.cwd("/srv/app").sh("pwd");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(out.stdout.trim(), "/srv/app", "{out}");
}

#[test]
fn user_and_groups() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.user(1000, 1000, &[10, 2000])
        .sh("id; grep -E '^(Uid|Gid|Groups):' /proc/self/status");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let s = &out.stdout;
    assert!(s.contains("uid=1000"), "{out}");
    assert!(s.contains("gid=1000"), "{out}");
    let status = |key: &str| -> Vec<String> {
        s.lines()
            .find(|l| l.starts_with(key))
            .map(|l| {
                l[key.len()..]
                    .split_whitespace()
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_else(|| panic!("no {key}: {out}"))
    };
    assert_eq!(status("Uid:"), ["1000"; 4], "{out}");
    assert_eq!(status("Gid:"), ["1000"; 4], "{out}");
    let groups = status("Groups:");
    assert!(
        groups.contains(&"10".to_string()) && groups.contains(&"2000".to_string()),
        "{out}"
    );
    assert!(
        !groups.contains(&"0".to_string()),
        "root's group was kept: {out}"
    );
}

#[test]
fn default_mounts_are_there() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh("cat /proc/self/mountinfo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    for (dest, fstype) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ] {
        let (_, t, _) = mount_line(&out.stdout, dest).unwrap_or_else(|| panic!("no {dest}: {out}"));
        assert_eq!(t, fstype, "{dest}");
    }
    let (opts, _, _) = mount_line(&out.stdout, "/sys").unwrap();
    assert!(
        has_opt(&opts, "ro"),
        "/sys is read-only in the default spec: {opts}"
    );
    assert!(mount_line(&out.stdout, "/sys/fs/cgroup").is_some(), "{out}");
}

/// The default spec's `maskedPaths` (files: /dev/null bound over them; directories: a read-only
/// tmpfs) and `readonlyPaths`, checked for those that exist on this kernel.
#[test]
fn masked_and_readonly_paths() {
    let h = Hull::new();
    let mut b = h.bundle();
    let list = |key: &str| -> Vec<String> {
        b.config["linux"][key]
            .as_array()
            .unwrap_or_else(|| panic!("the default spec has {key}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .filter(|p| Path::new(p).exists())
            .collect()
    };
    let masked = list("maskedPaths");
    let readonly = list("readonlyPaths");
    assert!(!masked.is_empty() && !readonly.is_empty());
    let files: Vec<&String> = masked.iter().filter(|p| Path::new(p).is_file()).collect();
    let script = format!(
        "for f in {}; do stat -c 'masked %n %F %t:%T' $f; done; cat /proc/self/mountinfo",
        files
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    b.sh(&script);
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    for f in &files {
        assert!(
            out.stdout
                .contains(&format!("masked {f} character special file 1:3")),
            "{f} is masked by /dev/null: {out}"
        );
    }
    for d in masked.iter().filter(|p| Path::new(p).is_dir()) {
        let (opts, fstype, _) =
            mount_line(&out.stdout, d).unwrap_or_else(|| panic!("{d} not masked: {out}"));
        assert_eq!(fstype, "tmpfs", "{d}");
        assert!(has_opt(&opts, "ro"), "{d}: {opts}");
    }
    for r in &readonly {
        let (opts, _, _) =
            mount_line(&out.stdout, r).unwrap_or_else(|| panic!("{r} not remounted: {out}"));
        assert!(has_opt(&opts, "ro"), "{r} is read-only: {opts}");
    }
}

/// `ro` on the `/dev` tmpfs: the devices, `/dev/pts` and the symlinks are made first, then it
/// is read-only (runc alike).
#[test]
fn read_only_dev_tmpfs() {
    let h = Hull::new();
    let mut b = h.bundle();
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push(json!("ro"));
        }
    }
    b.sh(
        "echo x > /dev/null && echo null=ok; [ -c /dev/zero ] && echo zero=ok; \
          readlink /dev/ptmx; touch /dev/new 2>/dev/null || echo dev=readonly; \
          cat /proc/self/mountinfo",
    );
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    for want in ["null=ok", "zero=ok", "pts/ptmx", "dev=readonly"] {
        assert!(
            out.stdout.lines().any(|l| l == want),
            "missing {want:?}: {out}"
        );
    }
    let (opts, _, _) = mount_line(&out.stdout, "/dev").unwrap();
    assert!(has_opt(&opts, "ro"), "{opts}");
    assert!(mount_line(&out.stdout, "/dev/pts").is_some(), "{out}");
}

/// A mount target that is a dangling symlink in the rootfs (relative or absolute): what it
/// points to is created, inside the rootfs, and mounted on.
#[test]
fn dangling_symlink_target_is_created_inside() {
    let h = Hull::new();
    let mut b = h.bundle();
    std::os::unix::fs::symlink("../srv/data", b.host_path("/etc/rel")).unwrap();
    let name = format!("hull-dangling-{}", unique());
    std::os::unix::fs::symlink(format!("/{name}/abs"), b.host_path("/etc/abs")).unwrap();
    b.add_mount(json!({"destination": "/etc/rel", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}))
        .add_mount(json!({"destination": "/etc/abs", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}))
        .sh("cat /proc/self/mountinfo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(!Path::new("/").join(&name).exists(), "created on the host");
    assert!(b.host_path("/srv/data").is_dir() && b.host_path(&format!("/{name}/abs")).is_dir());
    for dest in ["/srv/data".to_string(), format!("/{name}/abs")] {
        let (_, fstype, _) =
            mount_line(&out.stdout, &dest).unwrap_or_else(|| panic!("no {dest}: {out}"));
        assert_eq!(fstype, "tmpfs");
    }
}

/// A bind mount onto `/` replaces the rootfs: the container's root is the bind source, and the
/// mounts after it are made on top of it (runc alike), with pivot_root and with `--no-pivot`;
/// the bundle's rootfs is left as it was.
#[test]
fn bind_mount_onto_root_replaces_the_rootfs() {
    let h = Hull::new();
    let mut b = h.bundle();
    let other = h.temp_dir();
    hull_integration::bundle::build_rootfs(&other);
    std::fs::write(other.join("marker"), "other\n").unwrap();
    std::fs::write(b.host_path("/marker"), "bundle\n").unwrap();
    std::fs::remove_dir(other.join("mnt")).unwrap();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.insert(
        0,
        json!({"destination": "/", "type": "bind", "source": other, "options": ["rbind"]}),
    );
    b.add_mount(json!({"destination": "/mnt/later", "type": "tmpfs", "source": "tmpfs"}));
    b.sh("cat /marker; [ -c /dev/null ] && echo null=ok; cat /proc/self/mountinfo");
    let plain = h.run_fg(&h.new_id(), &b, &[]).ok();
    let no_pivot = h.run_fg(&h.new_id(), &b, &["--no-pivot"]).ok();
    for out in [plain, no_pivot] {
        check_replaced_root(&out, &other);
    }
    assert!(other.join("mnt/later").is_dir(), "made in the new root");
    assert!(!b.host_path("/mnt/later").exists(), "made in the old root");
}

/// What a container whose root was replaced by a bind of `other` printed (see above).
#[track_caller]
fn check_replaced_root(out: &hull_integration::Out, other: &Path) {
    let first = out.stdout.lines().next().unwrap_or_default();
    assert_eq!(first, "other", "{out}");
    assert!(out.stdout.lines().any(|l| l == "null=ok"), "{out}");
    let root = out
        .stdout
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("no / in {out}"));
    // the mount's root in its file system: `other` itself, or the end of it when `other`'s
    // file system is mounted below `/` (a tmpfs /tmp, as in the v2 guest)
    let source = root.split_whitespace().nth(3).unwrap_or_default();
    let name = other.file_name().unwrap().to_str().unwrap();
    assert!(
        other.to_str().unwrap().ends_with(source) && source.ends_with(name),
        "the root is not {}: {root}",
        other.display()
    );
    for dest in ["/proc", "/dev", "/sys", "/mnt/later"] {
        assert!(mount_line(&out.stdout, dest).is_some(), "no {dest}: {out}");
    }
}

/// A tmpfs onto `/` replaces the rootfs with an empty tmpfs (with the mode of the rootfs
/// directory), on which the later mounts are made; `root.readonly` makes it read-only. (A bind
/// source under the rootfs would be hidden by then, as with runc.)
#[test]
fn tmpfs_onto_root_replaces_the_rootfs() {
    let h = Hull::new();
    let mut b = h.bundle();
    std::fs::set_permissions(b.rootfs(), PermissionsExt::from_mode(0o750)).unwrap();
    let other = h.temp_dir();
    hull_integration::bundle::build_rootfs(&other);
    let bin = other.join("bin");
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.insert(
        0,
        json!({"destination": "/bin", "type": "bind", "source": bin, "options": ["rbind", "ro"]}),
    );
    mounts.insert(
        0,
        json!({"destination": "/", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}),
    );
    b.root_readonly(true).sh(
        "ls /; stat -c 'mode=%a' /; touch /x 2>/dev/null || echo root=readonly; \
         cat /proc/self/mountinfo",
    );
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let names: Vec<&str> = out
        .stdout
        .lines()
        .take_while(|l| !l.starts_with("mode="))
        .collect();
    assert_eq!(names, ["bin", "dev", "proc", "sys"], "{out}");
    for want in ["mode=750", "root=readonly"] {
        assert!(
            out.stdout.lines().any(|l| l == want),
            "missing {want:?}: {out}"
        );
    }
    let (opts, fstype, _) = mount_line(&out.stdout, "/").unwrap();
    assert_eq!(fstype, "tmpfs", "{out}");
    assert!(has_opt(&opts, "ro"), "{opts}");
    assert!(mount_line(&out.stdout, "/bin").is_some(), "{out}");
    assert!(!b.host_path("/x").exists());
}

/// Bind mounts are made in order, each seeing what the ones before it made: sources through
/// symlinks, and sources and destinations inside the tree being built (written as host paths
/// under the rootfs, which land inside it, as runc has them).
#[test]
fn bind_mounts_in_order_with_container_sources() {
    let h = Hull::new();
    let mut b = h.bundle();
    let src = h.temp_dir();
    let want = hull_integration::mount_tree::add(&mut b, &src, &[]);
    b.args(&["cat", "/final/x/y/z/z/x/y/z/x/file"]);
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(out.stdout.trim(), want, "{out}");
}

/// Directories made for a mount target under a set-gid directory inherit its group bit (as
/// `mkdir` does), and every cgroup mount under a `ro` `/sys/fs/cgroup` is read-only.
#[test]
fn setgid_parents_and_read_only_cgroup_mounts() {
    let h = Hull::new();
    let mut b = h.bundle();
    std::fs::create_dir(b.host_path("/setgid")).unwrap();
    std::fs::set_permissions(b.host_path("/setgid"), PermissionsExt::from_mode(0o7755)).unwrap();
    b.add_mount(
        json!({"destination": "/setgid/a/b/c", "type": "tmpfs", "source": "tmpfs",
                       "options": ["ro", "nodev", "nosuid"]}),
    );
    b.sh("grep /sys/fs/cgroup /proc/self/mountinfo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    for (p, mode) in [
        ("/setgid", 0o7755),
        ("/setgid/a", 0o2755),
        ("/setgid/a/b", 0o2755),
        ("/setgid/a/b/c", 0o2755),
    ] {
        let m = std::fs::metadata(b.host_path(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(m, mode, "{p}: {m:o}");
    }
    assert!(!out.stdout.is_empty(), "{out}");
    for line in out.stdout.lines() {
        let opts = line.split_whitespace().nth(5).unwrap();
        assert!(has_opt(opts, "ro"), "{line}");
    }
}

/// A `tmpcopyup` tmpfs onto `/`: the new root is a copy of the rootfs in a tmpfs; what the
/// container writes there stays out of the bundle.
#[test]
fn tmpcopyup_tmpfs_onto_root() {
    let h = Hull::new();
    let mut b = h.bundle();
    std::fs::write(b.host_path("/marker"), "copied\n").unwrap();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.insert(
        0,
        json!({"destination": "/", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}),
    );
    b.root_readonly(false)
        .sh("cat /marker; touch /new && echo wrote; grep ' / / ' /proc/self/mountinfo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.starts_with("copied\nwrote\n"), "{out}");
    assert_eq!(mount_line(&out.stdout, "/").unwrap().1, "tmpfs", "{out}");
    assert!(!b.host_path("/new").exists());
}

/// `readonlyPaths` under a mount keep that mount's nosuid/nodev/noexec (crun and runc alike).
#[test]
fn readonly_paths_keep_the_flags_of_their_mount() {
    let h = Hull::new();
    let mut b = h.bundle();
    let src = h.temp_dir();
    std::fs::create_dir(src.join("world")).unwrap();
    b.add_mount(
        json!({"destination": "/test", "type": "bind", "source": src,
                       "options": ["rbind", "nosuid", "noexec", "nodev"]}),
    );
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/proc" {
            m["options"] = json!(["nosuid", "noexec", "nodev"]);
        }
    }
    b.config["linux"]["readonlyPaths"] = json!(["/test/world", "/proc/bus"]);
    b.sh("cat /proc/self/mountinfo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    for p in ["/test/world", "/proc/bus"] {
        let (opts, _, _) = mount_line(&out.stdout, p).unwrap_or_else(|| panic!("no {p}: {out}"));
        for o in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(has_opt(&opts, o), "{p}: {o} missing in {opts}");
        }
    }
}

/// A relative destination is relative to the container's `/`, with runc's warning; an empty
/// one is refused, naming it.
#[test]
fn relative_destination_is_inside_the_root() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_mount(json!({"destination": "mnt/rel", "type": "tmpfs", "source": "tmpfs"}))
        .sh("cat /proc/self/mountinfo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(
        mount_line(&out.stdout, "/mnt/rel").unwrap().1,
        "tmpfs",
        "{out}"
    );
    assert!(
        out.stderr
            .contains("mount destination mnt/rel is not absolute"),
        "{out}"
    );
    let mut b = h.bundle();
    b.add_mount(json!({"destination": "", "type": "tmpfs", "source": "tmpfs"}));
    let id = h.new_id();
    h.create(&id, &b)
        .assert_error(&["destination", "not absolute"]);
    hull_integration::leaks::assert_nothing_left(&h, &id, &b.dir);
}
