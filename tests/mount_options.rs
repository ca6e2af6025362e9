//! Mount options as the engines send them: `tmpcopyup`, the tmpfs root's mode, kernel-refused
//! data.

use hull_integration::mountinfo::{has_opt, mount_line, HostMount};
use hull_integration::Hull;
use serde_json::json;
use std::ffi::CString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    let (p, n) = (
        CString::new(p.to_str().unwrap()).unwrap(),
        CString::new(name).unwrap(),
    );
    let rc = unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        rc,
        0,
        "setxattr {name}: {}",
        std::io::Error::last_os_error()
    );
}

fn get_xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let (p, n) = (
        CString::new(p.to_str().unwrap()).unwrap(),
        CString::new(name).unwrap(),
    );
    let mut buf = vec![0u8; 256];
    let rc = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (rc >= 0).then(|| {
        buf.truncate(rc as usize);
        buf
    })
}

/// podman's `--tmpfs`/`--read-only` options: the tmpfs over the image's `/data` starts as a
/// copy of it (contents, owners, modes, symlinks, fifos, xattrs), is a tmpfs, and writes to it
/// stay off the image.
#[test]
fn tmpcopyup_copies_the_covered_directory() {
    let h = Hull::new();
    let mut b = h.bundle();
    let data = b.host_path("/data");
    std::fs::create_dir_all(data.join("sub/deeper")).unwrap();
    std::fs::write(data.join("file"), "image-content").unwrap();
    std::fs::set_permissions(data.join("file"), PermissionsExt::from_mode(0o604)).unwrap();
    chown(&data.join("file"), 1000, 1001);
    std::fs::write(data.join("sub/deeper/nested"), "nested-content").unwrap();
    std::fs::set_permissions(data.join("sub"), PermissionsExt::from_mode(0o711)).unwrap();
    chown(&data.join("sub"), 1002, 1003);
    std::os::unix::fs::symlink("sub/deeper/nested", data.join("link")).unwrap();
    chown(&data.join("link"), 1004, 1005);
    nix::unistd::mkfifo(
        &data.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o604),
    )
    .unwrap();
    set_xattr(&data.join("file"), "trusted.hull", b"copied");
    std::fs::set_permissions(&data, PermissionsExt::from_mode(0o775)).unwrap();
    chown(&data, 1006, 0);
    b.add_mount(json!({
        "destination": "/data", "type": "tmpfs", "source": "tmpfs",
        "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]
    }))
    .sh_out(
        "cat /data/file; echo; cat /data/link; echo; \
         stat -c '%n %a %u:%g %F' /data /data/file /data/sub /data/fifo; \
         stat -c '%n %u:%g %N' /data/link; \
         echo new > /data/written && echo write=ok; cat /proc/self/mountinfo",
    );
    let id = h.new_id();
    h.create_ok(&id, &b);
    // the copy as the container has it, read through its root from the host
    let inside = Path::new("/proc")
        .join(h.pid(&id).to_string())
        .join("root/data/file");
    assert_eq!(
        get_xattr(&inside, "trusted.hull").as_deref(),
        Some(&b"copied"[..]),
        "xattr copied"
    );
    h.start(&id).ok();
    let out = b.wait_out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"image-content"), "{out}");
    assert_eq!(lines.get(1), Some(&"nested-content"), "{out}");
    for want in [
        "/data 775 1006:0 directory",
        "/data/file 604 1000:1001 regular file",
        "/data/sub 711 1002:1003 directory",
        "/data/fifo 604 0:0 fifo",
        "/data/link 1004:1005 '/data/link' -> 'sub/deeper/nested'",
        "write=ok",
    ] {
        assert!(lines.contains(&want), "missing {want:?}:\n{out}");
    }
    let (opts, fstype, _) = mount_line(&out, "/data").unwrap_or_else(|| panic!("no /data: {out}"));
    assert_eq!(fstype, "tmpfs", "{out}");
    assert!(
        has_opt(&opts, "nosuid") && has_opt(&opts, "nodev"),
        "{opts}"
    );
    assert!(
        !data.join("written").exists(),
        "the write reached the image"
    );
    assert_eq!(std::fs::metadata(data.join("file")).unwrap().uid(), 1000);
}

/// `ro` with `tmpcopyup`: the copy is made, then the tmpfs is read-only.
#[test]
fn tmpcopyup_read_only() {
    let h = Hull::new();
    let mut b = h.bundle();
    std::fs::create_dir_all(b.host_path("/etc/conf.d")).unwrap();
    std::fs::write(b.host_path("/etc/conf.d/a"), "a-content").unwrap();
    b.add_mount(json!({
        "destination": "/etc/conf.d", "type": "tmpfs", "source": "tmpfs",
        "options": ["ro", "nosuid", "tmpcopyup", "size=1m"]
    }))
    .sh(
        "cat /etc/conf.d/a; echo; touch /etc/conf.d/b && echo write=ok || echo write=refused; \
         cat /proc/self/mountinfo",
    );
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.starts_with("a-content\n"), "{out}");
    assert!(out.stdout.contains("write=refused"), "{out}");
    let (opts, fstype, sopts) =
        mount_line(&out.stdout, "/etc/conf.d").unwrap_or_else(|| panic!("{out}"));
    assert_eq!(fstype, "tmpfs");
    assert!(has_opt(&opts, "ro"), "{opts}");
    assert!(has_opt(&sopts, "size=1024k"), "{sopts}");
}

/// A tmpfs over an existing directory takes that directory's mode unless `mode=` is given;
/// over a missing one it keeps tmpfs's default (1777), as with runc.
#[test]
fn tmpfs_root_takes_the_mount_point_mode() {
    let h = Hull::new();
    let mut b = h.bundle();
    for (d, mode) in [("/m750", 0o750), ("/given", 0o700)] {
        std::fs::create_dir_all(b.host_path(d)).unwrap();
        std::fs::set_permissions(b.host_path(d), PermissionsExt::from_mode(mode)).unwrap();
    }
    for (d, opts) in [
        ("/m750", json!(["nosuid"])),
        ("/given", json!(["nosuid", "mode=711"])),
        ("/missing", json!(["nosuid"])),
    ] {
        b.add_mount(json!({"destination": d, "type": "tmpfs", "source": "tmpfs", "options": opts}));
    }
    b.sh("stat -c '%n %a' /m750 /given /missing");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    for want in ["/m750 750", "/given 711", "/missing 1777"] {
        assert!(
            out.stdout.lines().any(|l| l == want),
            "missing {want:?}: {out}"
        );
    }
}

/// An option the kernel refuses: one line naming the mount, its destination and the data;
/// nothing left behind.
#[test]
fn refused_data_names_the_mount() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_mount(json!({
        "destination": "/x", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "size=1m", "bogusopt"]
    }));
    let id = h.new_id();
    let out = h.run_fg(&id, &b, &[]).fail();
    out.assert_error(&["tmpfs", "/x", "bogusopt", "Invalid argument"]);
    assert!(!h.state_dir(&id).exists(), "state left behind");
}

/// `rro` (mount_setattr AT_RECURSIVE) makes the submounts of an rbind read-only too; plain
/// `ro` does not.
#[test]
fn rro_reaches_submounts_and_ro_does_not() {
    let h = Hull::new();
    let host = h.temp_dir();
    let _sub = HostMount::tmpfs(&host.join("sub"));
    let mut b = h.bundle();
    b.add_mount(json!({"destination": "/rro", "type": "bind", "source": host, "options": ["rbind", "rro"]}))
        .add_mount(json!({"destination": "/ro", "type": "bind", "source": host, "options": ["rbind", "ro"]}))
        .sh("for d in /rro /rro/sub /ro /ro/sub; do touch $d/w 2>/dev/null && echo $d=rw || echo $d=ro; done; \
             cat /proc/self/mountinfo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    for want in ["/rro=ro", "/rro/sub=ro", "/ro=ro", "/ro/sub=rw"] {
        assert!(
            out.stdout.lines().any(|l| l == want),
            "missing {want:?}: {out}"
        );
    }
    let (opts, _, _) = mount_line(&out.stdout, "/rro/sub").unwrap_or_else(|| panic!("{out}"));
    assert!(has_opt(&opts, "ro"), "{opts}");
}

/// Every other recursive attribute reaches a submount, and a later option overrides an
/// earlier one (`rnoatime` then `rstrictatime`).
#[test]
fn recursive_attributes_reach_submounts() {
    let h = Hull::new();
    let host = h.temp_dir();
    let _sub = HostMount::tmpfs(&host.join("sub"));
    let mut b = h.bundle();
    b.add_mount(json!({"destination": "/r", "type": "bind", "source": host,
        "options": ["rbind", "rnosuid", "rnodev", "rnoexec", "rnodiratime", "rnosymfollow",
                    "rnoatime", "rrw"]}))
        .add_mount(json!({"destination": "/s", "type": "bind", "source": host,
        "options": ["rbind", "rnoatime", "rstrictatime", "rro", "rrw"]}))
        .sh("cat /proc/self/mountinfo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let (opts, _, _) = mount_line(&out.stdout, "/r/sub").unwrap_or_else(|| panic!("{out}"));
    for want in [
        "rw",
        "nosuid",
        "nodev",
        "noexec",
        "nodiratime",
        "nosymfollow",
        "noatime",
    ] {
        assert!(has_opt(&opts, want), "/r/sub lacks {want}: {opts}");
    }
    let (opts, _, _) = mount_line(&out.stdout, "/s/sub").unwrap_or_else(|| panic!("{out}"));
    assert!(
        has_opt(&opts, "rw") && !has_opt(&opts, "noatime") && !has_opt(&opts, "relatime"),
        "{opts}"
    );
}

/// `nosymfollow`: symlinks on the mount are not followed (ELOOP); the option shows.
#[test]
fn nosymfollow_refuses_symlinks() {
    let h = Hull::new();
    let host = h.temp_dir();
    std::fs::write(host.join("target"), "reached").unwrap();
    std::os::unix::fs::symlink("target", host.join("link")).unwrap();
    let mut b = h.bundle();
    b.add_mount(json!({"destination": "/n", "type": "bind", "source": host, "options": ["bind", "nosymfollow"]}))
        .add_mount(json!({"destination": "/f", "type": "bind", "source": host, "options": ["bind", "symfollow"]}))
        .sh("cat /n/link || echo n=refused; echo; cat /f/link; echo; cat /proc/self/mountinfo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.contains("n=refused"), "{out}");
    assert!(out.stdout.lines().any(|l| l == "reached"), "{out}");
    let (opts, _, _) = mount_line(&out.stdout, "/n").unwrap();
    assert!(has_opt(&opts, "nosymfollow"), "{opts}");
}

/// A read-only bind keeps the source's nosuid/nodev/noexec (which a user namespace would lock),
/// unless an option clears one (`suid`): as root the kernel allows that.
#[test]
fn ro_bind_keeps_the_source_flags_unless_cleared() {
    let h = Hull::new();
    let host = h.temp_dir().join("locked");
    let _m = HostMount::tmpfs_with(
        &host,
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_NOATIME,
    );
    let mut b = h.bundle();
    b.add_mount(json!({"destination": "/kept", "type": "bind", "source": host, "options": ["rbind", "ro"]}))
        .add_mount(json!({"destination": "/suid", "type": "bind", "source": host, "options": ["rbind", "ro", "suid"]}))
        .sh("cat /proc/self/mountinfo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let (opts, _, _) = mount_line(&out.stdout, "/kept").unwrap_or_else(|| panic!("{out}"));
    for want in ["ro", "nosuid", "nodev", "noexec", "noatime"] {
        assert!(has_opt(&opts, want), "/kept lacks {want}: {opts}");
    }
    let (opts, _, _) = mount_line(&out.stdout, "/suid").unwrap();
    assert!(
        has_opt(&opts, "ro") && has_opt(&opts, "nodev") && !has_opt(&opts, "nosuid"),
        "{opts}"
    );
}

/// Bind mounts of a file, a socket, and a source that is a symlink (to a directory, and to a
/// file): the target is made of the right kind, the source's symlink is followed on the host.
#[test]
fn binds_of_files_sockets_and_symlinks() {
    let h = Hull::new();
    let host = h.temp_dir();
    std::fs::write(host.join("file"), "a-file").unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(host.join("sock")).unwrap();
    std::fs::create_dir(host.join("dir")).unwrap();
    std::fs::write(host.join("dir/inner"), "in-dir").unwrap();
    std::os::unix::fs::symlink(host.join("dir"), host.join("dirlink")).unwrap();
    std::os::unix::fs::symlink("file", host.join("filelink")).unwrap();
    let mut b = h.bundle();
    for (src, dest) in [
        ("file", "/etc/myfile"),
        ("sock", "/run/my.sock"),
        ("dirlink", "/linked"),
        ("filelink", "/etc/linkedfile"),
    ] {
        b.add_mount(json!({"destination": dest, "type": "bind", "source": host.join(src), "options": ["rbind", "ro"]}));
    }
    b.sh(
        "cat /etc/myfile; echo; [ -S /run/my.sock ] && echo sock=socket; cat /linked/inner; echo; \
          cat /etc/linkedfile; echo; [ -L /linked ] || echo linked=not-a-symlink",
    );
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    for want in ["a-file", "sock=socket", "in-dir", "linked=not-a-symlink"] {
        assert!(
            out.stdout.lines().any(|l| l == want),
            "missing {want:?}: {out}"
        );
    }
    assert_eq!(
        out.stdout.lines().filter(|l| *l == "a-file").count(),
        2,
        "{out}"
    );
}

/// crun's `dest-nofollow` (mount onto a symlink in the rootfs itself, not where it points) and
/// `src-nofollow` (bind a source symlink itself): nothing is made where the links point.
#[test]
fn nofollow_options_bind_symlinks_themselves() {
    let h = Hull::new();
    let host = h.temp_dir();
    std::fs::write(host.join("a-file"), "inside-the-file\n").unwrap();
    std::os::unix::fs::symlink(host.join("a-file"), host.join("a-symlink")).unwrap();
    let cases = [
        (
            "a-symlink",
            &["bind", "dest-nofollow"][..],
            "cat /target",
            "inside-the-file".to_string(),
        ),
        (
            "a-symlink",
            &["bind", "dest-nofollow", "src-nofollow"][..],
            "readlink /target",
            host.join("a-file").display().to_string(),
        ),
        (
            "a-file",
            &["bind", "dest-nofollow", "ro"][..],
            "cat /target",
            "inside-the-file".into(),
        ),
    ];
    for (source, options, script, want) in cases {
        let mut b = h.bundle();
        std::os::unix::fs::symlink("point-to-nowhere", b.host_path("/target")).unwrap();
        b.add_mount(json!({"destination": "/target", "type": "bind",
                           "source": host.join(source), "options": options}))
            .sh(script);
        let out = h.run_fg(&h.new_id(), &b, &[]).ok();
        assert_eq!(out.stdout.trim(), want, "{options:?}: {out}");
        assert!(
            !b.host_path("/point-to-nowhere").exists(),
            "{options:?}: made where it points"
        );
    }
}

/// crun's `copy-symlink`: a bind source that is a symlink (here a dangling one) is copied to the
/// destination as a symlink with the same target, under directories made for it.
#[test]
fn copy_symlink_makes_the_same_symlink() {
    let h = Hull::new();
    let host = h.temp_dir();
    std::os::unix::fs::symlink("point-to-nowhere", host.join("a-broken-link")).unwrap();
    let mut b = h.bundle();
    b.add_mount(json!({"destination": "/a/sym/link", "type": "bind",
                       "source": host.join("a-broken-link"), "options": ["rbind", "copy-symlink"]}))
        .sh("readlink /a/sym/link");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(out.stdout.trim(), "point-to-nowhere", "{out}");
}
