//! Mount options as the engines send them: `tmpcopyup`, the tmpfs root's mode, kernel-refused
//! data.

use hull_integration::mountinfo::{has_opt, mount_line};
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
