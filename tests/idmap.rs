//! Id-mapped mounts: `mounts[].uidMappings`/`gidMappings` and the `idmap`/`ridmap` options.
//!
//! The mount's mapping is written as it is into the user namespace given to
//! `mount_setattr(MOUNT_ATTR_IDMAP)` (as crun and runc do): an on-disk owner `k` shows through
//! the mount as host id `hostID + (k - containerID)`, which the container's own user namespace
//! then shows as usual. With the container's own mapping (`0 → 100000`), a host directory owned
//! by root therefore shows as root inside, while a plain bind mount shows it as nobody (65534).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use hull_integration::userns::{mapping, with_userns, BASE};
use hull_integration::{leaks::assert_nothing_left, Bundle, Hull};
use serde_json::{json, Value};

/// A host directory owned by root with `root-file` (0:0) and `user-file` (1000:1000) in it.
fn host_dir(h: &Hull) -> PathBuf {
    let dir = h.idmap_dir();
    std::fs::write(dir.join("root-file"), "r").unwrap();
    std::fs::write(dir.join("user-file"), "u").unwrap();
    std::os::unix::fs::lchown(dir.join("user-file"), Some(1000), Some(1000)).unwrap();
    dir
}

fn bind(dest: &str, source: &Path, options: &[&str]) -> Value {
    json!({"destination": dest, "type": "bind", "source": source, "options": options})
}

/// A bundle whose container maps 0 → 100000 (65536 ids).
fn userns_bundle(h: &Hull) -> Bundle {
    let mut b = h.bundle();
    with_userns(&mut b, &[(0, BASE, 65536)]);
    b
}

/// Runs `script` in the foreground; returns what it printed to `/out`.
#[track_caller]
fn run_out(h: &Hull, b: &mut Bundle, script: &str) -> String {
    b.sh_out(script);
    let out = h.run_fg(&h.new_id(), b, &[]);
    assert!(
        out.success(),
        "run failed:\n{out}\n/out: {}",
        std::fs::read_to_string(b.host_path("/out")).unwrap_or_default()
    );
    b.wait_out()
}

#[test]
fn host_root_is_nobody_through_a_plain_bind_and_root_through_an_idmapped_one() {
    let h = Hull::new();
    let src = host_dir(&h);
    let mut b = userns_bundle(&h);
    b.add_mount(bind("/plain", &src, &["bind"]));
    let mut mapped = bind("/mapped", &src, &["bind"]);
    mapped["uidMappings"] = mapping(&[(0, BASE, 65536)]);
    mapped["gidMappings"] = mapping(&[(0, BASE, 65536)]);
    b.add_mount(mapped);
    let out = run_out(
        &h,
        &mut b,
        "echo plain=$(stat -c %u:%g /plain /plain/root-file /plain/user-file | tr '\\n' ' '); \
         echo mapped=$(stat -c %u:%g /mapped /mapped/root-file /mapped/user-file | tr '\\n' ' '); \
         touch /mapped/made-inside && echo made; touch /plain/refused 2>/dev/null || echo refused",
    );
    assert!(
        out.contains("plain=65534:65534 65534:65534 65534:65534"),
        "a plain bind shows host ids unmapped:\n{out}"
    );
    assert!(
        out.contains("mapped=0:0 0:0 1000:1000"),
        "the id-mapped mount shows host ids as the container's:\n{out}"
    );
    assert!(out.contains("made"), "{out}");
    assert!(
        out.contains("refused"),
        "through the plain bind, host root's dir is not container root's:\n{out}"
    );
    let made = std::fs::metadata(src.join("made-inside")).unwrap();
    assert_eq!(
        (made.uid(), made.gid()),
        (0, 0),
        "a file container root makes through the id-mapped mount belongs to host root"
    );
}

#[test]
fn idmap_option_alone_uses_the_container_mapping() {
    let h = Hull::new();
    let src = host_dir(&h);
    let mut b = userns_bundle(&h);
    b.add_mount(bind("/mapped", &src, &["bind", "idmap", "ro"]));
    let out = run_out(
        &h,
        &mut b,
        "stat -c %u /mapped/root-file /mapped/user-file | tr '\\n' ' '; echo; \
         touch /mapped/x 2>&1 || true",
    );
    assert!(out.contains("0 1000"), "{out}");
    assert!(
        out.contains("Read-only file system"),
        "ro still applies:\n{out}"
    );
}

#[test]
fn a_mount_mapping_of_its_own_shifts_ids_by_its_offset() {
    let h = Hull::new();
    let src = host_dir(&h);
    let mut b = userns_bundle(&h);
    // on-disk 0 → host 100500 → container 500; on-disk 1000 → host 101500 → container 1500
    let mut m = bind("/shifted", &src, &["bind"]);
    m["uidMappings"] = mapping(&[(0, BASE + 500, 2000)]);
    m["gidMappings"] = mapping(&[(0, BASE + 700, 2000)]);
    b.add_mount(m);
    let out = run_out(
        &h,
        &mut b,
        "stat -c %u:%g /shifted/root-file /shifted/user-file | tr '\\n' ' '",
    );
    assert!(out.contains("500:700 1500:1700"), "{out}");
}

/// A mount on the host at `dir/sub` (with `sub/root-file`), unmounted on drop: a bind mount
/// of another dir of [`Hull::idmap_dir`]'s (a tmpfs would need Linux 6.3 for idmap, and the
/// v2 guest runs 6.1).
struct SubMount(PathBuf);

impl SubMount {
    fn new(h: &Hull, dir: &Path) -> SubMount {
        let sub = dir.join("sub");
        std::fs::create_dir(&sub).unwrap();
        let other = h.idmap_dir();
        std::fs::write(other.join("root-file"), "r").unwrap();
        nix::mount::mount(
            Some(&other),
            &sub,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .expect("bind mount a dir");
        SubMount(sub)
    }
}

impl Drop for SubMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn ridmap_maps_submounts_and_idmap_only_the_top() {
    let h = Hull::new();
    let src = host_dir(&h);
    let _sub = SubMount::new(&h, &src);
    let mut b = userns_bundle(&h);
    b.add_mount(bind("/rec", &src, &["rbind", "ridmap"]));
    b.add_mount(bind("/top", &src, &["rbind", "idmap"]));
    let out = run_out(
        &h,
        &mut b,
        "echo rec=$(stat -c %u /rec/root-file /rec/sub/root-file | tr '\\n' ' '); \
         echo top=$(stat -c %u /top/root-file /top/sub/root-file | tr '\\n' ' ')",
    );
    assert!(
        out.contains("rec=0 0"),
        "ridmap maps the submount too:\n{out}"
    );
    assert!(
        out.contains("top=0 65534"),
        "idmap maps the top mount only:\n{out}"
    );
}

#[test]
fn exec_sees_the_idmapped_mount() {
    let h = Hull::new();
    let src = host_dir(&h);
    let mut b = userns_bundle(&h);
    b.add_mount(bind("/mapped", &src, &["bind", "idmap"]));
    b.root_readonly(false).sh("touch /ready; exec sleep 1000");
    let id = h.new_id();
    h.create_start(&id, &b);
    let ready = b.host_path("/ready");
    hull_integration::poll(std::time::Duration::from_secs(30), "/ready", || {
        ready.exists().then_some(())
    });
    let out = h
        .run(&["exec", &id, "stat", "-c", "%u", "/mapped/root-file"])
        .ok();
    assert_eq!(out.stdout.trim(), "0", "{out}");
    h.kill(&id, Some("KILL")).ok();
    h.wait_stopped(&id);
    h.delete(&id, false).ok();
    assert_nothing_left(&h, &id, &b.dir);
}

/// Create must fail with one line naming `needles`, leaving nothing behind.
#[track_caller]
/// Symlinks on the way: a source reached through a symlinked directory (and itself a symlink,
/// relative to the bundle) under a directory only host root may enter, and a destination
/// through a symlink inside the rootfs. The mount is made where the links lead, id-mapped.
#[test]
fn idmapped_mount_through_symlinks() {
    let h = Hull::new();
    let src = host_dir(&h);
    let mut b = userns_bundle(&h);
    let private = b.dir.join("private");
    std::fs::create_dir(&private).unwrap();
    std::os::unix::fs::symlink(&src, private.join("real")).unwrap();
    std::os::unix::fs::symlink("real", private.join("link")).unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::os::unix::fs::symlink("/mnt", b.host_path("/data")).unwrap();
    b.add_mount(bind(
        "/data/mapped",
        Path::new("private/link"),
        &["rbind", "idmap"],
    ));
    let out = run_out(
        &h,
        &mut b,
        "stat -c %u /mnt/mapped/root-file /mnt/mapped/user-file | tr '\\n' ' '; echo; \
         touch /mnt/mapped/made && echo made",
    );
    assert!(out.contains("0 1000 \nmade"), "{out}");
    assert!(src.join("made").exists(), "made through the link: {out}");
    assert!(
        b.host_path("/mnt/mapped").is_dir(),
        "the target is where /data leads"
    );
    assert!(!private.join("made").exists());
}

fn assert_refused(h: &Hull, b: &Bundle, needles: &[&str]) {
    let id = h.new_id();
    h.create(&id, b).assert_error(needles);
    assert_nothing_left(h, &id, &b.dir);
}

#[test]
fn idmap_without_any_mapping_is_refused() {
    let h = Hull::new();
    let src = host_dir(&h);
    let mut b = h.bundle();
    b.add_mount(bind("/mapped", &src, &["bind", "idmap"]));
    assert_refused(&h, &b, &["mounts[", "uidMappings"]);
}

#[test]
fn idmap_on_a_non_bind_mount_is_refused() {
    let h = Hull::new();
    let mut b = userns_bundle(&h);
    b.add_mount(
        json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs",
                       "options": ["idmap"]}),
    );
    assert_refused(&h, &b, &["mounts[", "bind"]);
}

#[test]
fn overlapping_mount_mappings_are_refused() {
    let h = Hull::new();
    let src = host_dir(&h);
    let mut b = userns_bundle(&h);
    let mut m = bind("/mapped", &src, &["bind"]);
    m["uidMappings"] = mapping(&[(0, BASE, 100), (50, 300_000, 10)]);
    m["gidMappings"] = mapping(&[(0, BASE, 100)]);
    b.add_mount(m);
    assert_refused(&h, &b, &["uidMappings", "overlap"]);
}

#[test]
fn malformed_mount_mapping_is_refused() {
    let h = Hull::new();
    let src = host_dir(&h);
    let mut b = userns_bundle(&h);
    let mut m = bind("/mapped", &src, &["bind"]);
    m["uidMappings"] = json!([{"containerID": 0, "size": 10}]);
    b.add_mount(m);
    assert_refused(&h, &b, &["uidMappings", "hostID"]);
}

/// The ordered tree of bind mounts (see `support/mount_tree.rs`) whose container-side sources
/// are id-mapped: the id-mapped copy is taken of the tree as it is when its turn comes, with and
/// without a user namespace.
#[test]
fn idmapped_mounts_in_order_with_container_sources() {
    for userns in [true, false] {
        let h = Hull::new();
        let mut b = if userns {
            userns_bundle(&h)
        } else {
            h.bundle()
        };
        // without a user namespace of the container's, the mapping is the mount's own
        let option = match userns {
            true => "idmap",
            false => "idmap=uids=0-100000-65536;gids=0-100000-65536",
        };
        let src = h.temp_dir();
        let want = hull_integration::mount_tree::add(&mut b, &src, &[option]);
        b.args(&[
            "sh",
            "-c",
            "cat /final/x/y/z/z/x/y/z/x/file; stat -c %u /final",
        ]);
        let out = h.run_fg(&h.new_id(), &b, &[]).ok();
        let owner = if userns { "0" } else { "100000" };
        assert_eq!(
            out.stdout,
            format!("{want}\n{owner}\n"),
            "userns {userns}: {out}"
        );
    }
}
