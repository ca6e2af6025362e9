//! User namespaces, as root: `linux.uidMappings`/`gidMappings` written by hull, what the
//! container sees of ids and files, mounts and devices inside the namespace, joining a user
//! namespace by path, `exec`, the earlier features with a user namespace added, and bad
//! mappings refused with nothing left behind.

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use hull_integration::userns::{chown_tree, map_lines, mapping, with_userns, BASE};
use hull_integration::{leaks::assert_nothing_left, ns_link, poll, Bundle, Hull, Out};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

/// A bundle with the usual user namespace: 0 → 100000, 65536 ids.
fn userns_bundle(h: &Hull) -> Bundle {
    let mut b = h.bundle();
    with_userns(&mut b, &[(0, BASE, 65536)]);
    b
}

/// Foreground run of `script` (stdout and stderr captured in `/out`); returns the output.
#[track_caller]
fn run_out(h: &Hull, b: &mut Bundle, script: &str) -> String {
    b.sh_out(script);
    let out = h.run_fg(&h.new_id(), b, &[]);
    assert!(out.success(), "run failed:\n{out}\n/out: {:?}", {
        std::fs::read_to_string(b.host_path("/out")).unwrap_or_default()
    });
    b.wait_out()
}

/// The lines between `begin` and `end` markers of the output.
fn section<'a>(out: &'a str, name: &str) -> &'a str {
    let start = format!("<{name}>\n");
    let s = out
        .find(&start)
        .unwrap_or_else(|| panic!("no <{name}> in:\n{out}"))
        + start.len();
    let e = out[s..]
        .find(&format!("</{name}>"))
        .unwrap_or_else(|| panic!("no </{name}> in:\n{out}"));
    &out[s..s + e]
}

#[test]
fn maps_with_several_ranges_are_seen_inside() {
    let h = Hull::new();
    let mut b = h.bundle();
    with_userns(&mut b, &[(0, BASE, 1000), (1000, 200_000, 1000)]);
    let out = run_out(
        &h,
        &mut b,
        "echo '<uid>'; cat /proc/self/uid_map; echo '</uid>'; \
         echo '<gid>'; cat /proc/self/gid_map; echo '</gid>'; echo id=$(id -u):$(id -g)",
    );
    let want = vec![vec![0, 100_000, 1000], vec![1000, 200_000, 1000]];
    assert_eq!(map_lines(section(&out, "uid")), want, "{out}");
    assert_eq!(map_lines(section(&out, "gid")), want, "{out}");
    assert!(out.contains("id=0:0"), "{out}");
}

#[test]
fn file_owners_are_seen_through_the_mapping() {
    let h = Hull::new();
    let mut b = userns_bundle(&h);
    std::fs::write(b.host_path("/mapped"), "x").unwrap();
    std::os::unix::fs::lchown(b.host_path("/mapped"), Some(BASE + 5), Some(BASE + 7)).unwrap();
    std::fs::write(b.host_path("/hostroot"), "x").unwrap();
    std::os::unix::fs::lchown(b.host_path("/hostroot"), Some(0), Some(0)).unwrap();
    let out = run_out(
        &h,
        &mut b,
        "echo mapped=$(stat -c %u:%g /mapped); echo hostroot=$(stat -c %u:%g /hostroot); \
         echo id=$(id -u); touch /made-inside",
    );
    assert!(out.contains("mapped=5:7"), "{out}");
    assert!(out.contains("hostroot=65534:65534"), "{out}");
    assert!(out.contains("id=0"), "{out}");
    let made = std::fs::metadata(b.host_path("/made-inside")).unwrap();
    assert_eq!(
        (made.uid(), made.gid()),
        (BASE, BASE),
        "a file made by container root belongs to the mapped host id"
    );
}

#[test]
fn host_sees_the_container_process_as_the_mapped_id() {
    let h = Hull::new();
    let mut b = userns_bundle(&h);
    b.root_readonly(false).sh("touch /ready; exec sleep 1000");
    let id = h.new_id();
    h.create_start(&id, &b);
    let ready = b.host_path("/ready");
    poll(T, "/ready", || ready.exists().then_some(()));
    let pid = h.pid(&id);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let uids: Vec<&str> = uid_line.split_whitespace().skip(1).collect();
    assert_eq!(uids, ["100000"; 4], "{status}");
    assert_ne!(ns_link(&pid.to_string(), "user"), ns_link("self", "user"));
    h.kill(&id, Some("KILL")).ok();
    h.wait_stopped(&id);
    h.delete(&id, false).ok();
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn devices_mounts_and_hostname_inside_a_user_namespace() {
    let h = Hull::new();
    let mut b = userns_bundle(&h);
    b.hostname("userns-host");
    let out = run_out(
        &h,
        &mut b,
        "for d in null zero full random urandom tty; do \
           [ -c /dev/$d ] && echo dev:$d; done; \
         echo x > /dev/null && echo null-ok; \
         echo zero=$(head -c 1 /dev/zero | od -An -tx1 | tr -d ' '); \
         echo rand=$(head -c 4 /dev/urandom | wc -c); \
         echo '<mounts>'; awk '{print $5, $(NF-2)}' /proc/self/mountinfo; echo '</mounts>'; \
         echo host=$(hostname); ls /dev/pts/ptmx && echo ptmx-ok",
    );
    for d in ["null", "zero", "full", "random", "urandom", "tty"] {
        assert!(
            out.contains(&format!("dev:{d}\n")),
            "/dev/{d} missing:\n{out}"
        );
    }
    assert!(out.contains("null-ok"), "{out}");
    assert!(out.contains("zero=00"), "{out}");
    assert!(out.contains("rand=4"), "{out}");
    assert!(out.contains("ptmx-ok"), "{out}");
    let mounts = section(&out, "mounts");
    let fstype_at = |target: &str| {
        mounts
            .lines()
            .find_map(|l| {
                let (t, ty) = l.split_once(' ')?;
                (t == target).then(|| ty.to_string())
            })
            .unwrap_or_else(|| panic!("nothing mounted on {target}:\n{out}"))
    };
    assert_eq!(fstype_at("/proc"), "proc", "{out}");
    assert_eq!(fstype_at("/sys"), "sysfs", "{out}");
    assert_eq!(fstype_at("/dev/pts"), "devpts", "{out}");
    assert!(out.contains("host=userns-host"), "{out}");
}

/// Starts a container that sleeps; returns its id and init pid.
fn sleeper(h: &Hull, b: &mut Bundle) -> (String, i64) {
    b.root_readonly(false).sh("touch /ready; exec sleep 1000");
    let id = h.new_id();
    h.create_start(&id, b);
    let ready = b.host_path("/ready");
    poll(T, "/ready", || ready.exists().then_some(()));
    let pid = h.pid(&id);
    (id, pid)
}

#[test]
fn join_an_existing_user_namespace_by_path() {
    let h = Hull::new();
    let mut a = h.bundle();
    with_userns(&mut a, &[(0, BASE, 1000), (1000, 200_000, 1000)]);
    a.hostname("alpha");
    let (_ida, apid) = sleeper(&h, &mut a);

    let mut b = h.bundle();
    chown_tree(&b.rootfs(), BASE, BASE);
    b.no_hostname();
    for (ty, link) in [
        ("user", "user"),
        ("uts", "uts"),
        ("network", "net"),
        ("ipc", "ipc"),
    ] {
        b.add_namespace(ty, Some(&format!("/proc/{apid}/ns/{link}")));
    }
    let out = run_out(
        &h,
        &mut b,
        "echo '<uid>'; cat /proc/self/uid_map; echo '</uid>'; hostname; \
         readlink /proc/self/ns/user; echo id=$(id -u); touch /made-inside",
    );
    assert_eq!(
        map_lines(section(&out, "uid")),
        vec![vec![0, 100_000, 1000], vec![1000, 200_000, 1000]],
        "{out}"
    );
    assert!(out.contains("alpha"), "{out}");
    assert!(
        out.contains(&ns_link(&apid.to_string(), "user")),
        "B is in A's user namespace:\n{out}"
    );
    assert!(out.contains("id=0"), "{out}");
    let made = std::fs::metadata(b.host_path("/made-inside")).unwrap();
    assert_eq!(made.uid(), BASE, "{out}");
}

fn exec(h: &Hull, id: &str, flags: &[&str], cmd: &[&str]) -> Out {
    let mut args = vec!["exec"];
    args.extend_from_slice(flags);
    args.push(id);
    args.extend_from_slice(cmd);
    h.run(&args)
}

#[test]
fn exec_joins_the_user_namespace_and_runs_as_the_user() {
    let h = Hull::new();
    let mut b = userns_bundle(&h);
    let (id, pid) = sleeper(&h, &mut b);
    let out = exec(
        &h,
        &id,
        &[],
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map; echo id=$(id -u); readlink /proc/self/ns/user",
        ],
    )
    .ok();
    assert_eq!(
        map_lines(&out.stdout)[..1],
        [vec![0, 100_000, 65536]],
        "{out}"
    );
    assert!(out.stdout.contains("id=0"), "{out}");
    assert!(
        out.stdout.contains(&ns_link(&pid.to_string(), "user")),
        "{out}"
    );

    let out = exec(
        &h,
        &id,
        &["--user", "1000:1000"],
        &[
            "sh",
            "-c",
            "echo id=$(id -u):$(id -g); touch /tmp/by-1000; grep CapEff /proc/self/status",
        ],
    )
    .ok();
    assert!(out.stdout.contains("id=1000:1000"), "{out}");
    let made = std::fs::metadata(b.host_path("/tmp/by-1000")).unwrap();
    assert_eq!(
        (made.uid(), made.gid()),
        (BASE + 1000, BASE + 1000),
        "{out}"
    );
}

#[test]
fn hooks_run_with_a_user_namespace() {
    let h = Hull::new();
    let mut b = userns_bundle(&h);
    let log = b.host_path("/hooks.log");
    // Host hooks run as host root, createContainer and startContainer as container root:
    // every one of them must be able to append.
    std::fs::write(&log, "").unwrap();
    std::fs::set_permissions(&log, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let log = log.to_str().unwrap().to_string();
    for kind in ["prestart", "createRuntime", "createContainer", "poststart"] {
        b.add_hook(
            kind,
            json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {kind} >> {log}")]}),
        );
    }
    b.add_hook(
        "startContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "echo startContainer >> /hooks.log"]}),
    );
    run_out(&h, &mut b, "echo main");
    let got: Vec<String> = poll(T, "every hook", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(String::from).collect();
        (lines.len() >= 5).then_some(lines)
    });
    for kind in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
    ] {
        assert!(got.iter().any(|l| l == kind), "{kind} did not run: {got:?}");
    }
}

#[test]
fn seccomp_blocks_mkdir_in_a_user_namespace() {
    let h = Hull::new();
    let mut b = userns_bundle(&h);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    let out = run_out(&h, &mut b, "mkdir /tmp/x; echo rc=$?");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
}

#[test]
fn capabilities_in_a_user_namespace() {
    let h = Hull::new();
    let mut b = userns_bundle(&h);
    let caps = json!(["CAP_CHOWN", "CAP_KILL"]);
    b.config["process"]["capabilities"] = json!({
        "bounding": caps, "effective": caps, "permitted": caps
    });
    let out = run_out(
        &h,
        &mut b,
        "grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status; \
         touch /f; chown 1234:1234 /f && echo chown-ok; stat -c %u /f",
    );
    let want = format!("{:016x}", (1u64 << 0) | (1u64 << 5));
    for field in ["CapEff", "CapBnd", "CapPrm"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(field))
            .unwrap_or_else(|| panic!("no {field}:\n{out}"));
        assert!(line.ends_with(&want), "{field}: want {want}:\n{out}");
    }
    assert!(out.contains("chown-ok"), "{out}");
    let f = std::fs::metadata(b.host_path("/f")).unwrap();
    assert_eq!(f.uid(), BASE + 1234, "chown inside maps to the host id");
}

#[test]
fn read_only_rootfs_and_masked_paths_in_a_user_namespace() {
    let h = Hull::new();
    let mut b = userns_bundle(&h);
    b.root_readonly(true)
        .sh("touch /x 2>&1; cat /proc/kcore 2>&1 | head -c 10 | wc -c");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.contains("Read-only file system"), "{out}");
    assert!(out.stdout.trim_end().ends_with('0'), "{out}");
}

/// Create must fail with one line naming `needles`, leaving nothing behind.
#[track_caller]
fn assert_refused(h: &Hull, b: &Bundle, needles: &[&str]) {
    let id = h.new_id();
    let out = h.create(&id, b);
    out.assert_error(needles);
    assert_nothing_left(h, &id, &b.dir);
}

#[test]
fn overlapping_mappings_are_refused() {
    let h = Hull::new();
    let mut b = userns_bundle(&h);
    b.config["linux"]["uidMappings"] = mapping(&[(0, BASE, 1000), (500, 300_000, 10)]);
    assert_refused(&h, &b, &["uidMappings", "overlap"]);
    let mut b = userns_bundle(&h);
    b.config["linux"]["gidMappings"] = mapping(&[(0, BASE, 1000), (2000, BASE + 500, 10)]);
    assert_refused(&h, &b, &["gidMappings", "overlap"]);
}

#[test]
fn mapping_without_a_user_namespace_is_refused() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["linux"]["uidMappings"] = mapping(&[(0, BASE, 65536)]);
    b.config["linux"]["gidMappings"] = mapping(&[(0, BASE, 65536)]);
    assert_refused(&h, &b, &["uidMappings", "user namespace"]);
}

#[test]
fn user_namespace_without_a_mapping_is_refused() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_namespace("user", None);
    assert_refused(&h, &b, &["uidMappings|gidMappings", "user namespace"]);
}

#[test]
fn mapping_without_container_root_is_refused() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_namespace("user", None);
    b.config["linux"]["uidMappings"] = mapping(&[(1, BASE, 65535)]);
    b.config["linux"]["gidMappings"] = mapping(&[(1, BASE, 65535)]);
    assert_refused(&h, &b, &["uid 0|uidMappings", "map|root"]);
}

#[test]
fn zero_sized_mapping_is_refused() {
    let h = Hull::new();
    let mut b = userns_bundle(&h);
    b.config["linux"]["uidMappings"] = mapping(&[(0, BASE, 0)]);
    assert_refused(&h, &b, &["uidMappings", "size"]);
}

/// Receives the pty master that hull sends on a console socket (what runc's `recvtty` does).
fn recv_master(listener: &std::os::unix::net::UnixListener) -> std::os::fd::OwnedFd {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::{AsRawFd, FromRawFd};
    let (stream, _) = listener
        .accept()
        .expect("a connection on the console socket");
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([i32; 4]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .expect("recvmsg on the console socket");
    for cmsg in msg.cmsgs().expect("control messages") {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            // SAFETY: the kernel just installed this descriptor for us.
            return unsafe { std::os::fd::OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no fd came with the console socket message");
}

#[test]
fn console_socket_in_a_user_namespace() {
    use nix::poll::{poll as poll_fds, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let h = Hull::new();
    let mut b = userns_bundle(&h);
    b.terminal(true)
        .sh("echo tty=$(tty); echo owner=$(stat -c %u $(tty)); echo id=$(id -u); echo end");
    b.save();
    let sock = h.temp_dir().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let id = h.new_id();
    let bundle = b.dir.to_str().unwrap().to_string();
    h.run(&[
        "create",
        "--bundle",
        &bundle,
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
    ])
    .ok();
    let master = recv_master(&listener);
    h.start(&id).ok();
    let mut text = String::new();
    let deadline = std::time::Instant::now() + T;
    while !text.contains("end") && std::time::Instant::now() < deadline {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if poll_fds(&mut fds, PollTimeout::from(200u16)).unwrap_or(0) == 0 {
            continue;
        }
        let mut buf = [0u8; 1024];
        match nix::unistd::read(master.as_fd(), &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(text.contains("tty=/dev/pts/"), "{text:?}");
    assert!(
        text.contains("owner=0"),
        "the pty belongs to container root: {text:?}"
    );
    assert!(text.contains("id=0"), "{text:?}");
    h.wait_stopped(&id);
    h.delete(&id, false).ok();
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn unmapped_process_user_is_refused() {
    let h = Hull::new();
    let mut b = h.bundle();
    with_userns(&mut b, &[(0, BASE, 1000)]);
    b.user(5000, 0, &[]);
    assert_refused(&h, &b, &["uidMappings", "process.user.uid 5000"]);
}

/// Bind sources the container's mapped root cannot reach (under directories only host root may
/// enter: one a symlink, one given relative to the bundle, one a file) are mounted all the
/// same: init, refused them, asks hull, which opens them in the container's mount namespace;
/// init mounts from the fd. The container sees them, `exec` too.
#[test]
fn bind_sources_only_the_host_can_reach() {
    let h = Hull::new();
    let mut b = userns_bundle(&h);
    let hidden = h.temp_dir();
    let in_bundle = b.dir.join("private");
    for (dir, name) in [(&hidden, "one"), (&in_bundle, "two")] {
        std::fs::create_dir_all(dir.join("dir")).unwrap();
        std::fs::write(dir.join("dir/foo.txt"), format!("{name}\n")).unwrap();
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    }
    std::fs::write(hidden.join("file.txt"), "file\n").unwrap();
    std::os::unix::fs::symlink(hidden.join("dir"), hidden.join("link")).unwrap();
    b.add_mount(json!({"destination": "/tmp/mount-1", "type": "bind",
                        "source": hidden.join("link"), "options": ["bind"]}))
        .add_mount(json!({"destination": "/tmp/mount-2", "type": "bind",
                        "source": "private/dir", "options": ["rbind", "ro"]}))
        .add_mount(json!({"destination": "/etc/file.txt", "type": "bind",
                        "source": hidden.join("file.txt"), "options": ["bind"]}));
    let (id, _) = sleeper(&h, &mut b);
    let out = exec(
        &h,
        &id,
        &[],
        &[
            "sh",
            "-c",
            "cat /tmp/mount-1/foo.txt /tmp/mount-2/foo.txt /etc/file.txt; \
             touch /tmp/mount-2/x 2>/dev/null || echo ro",
        ],
    )
    .ok();
    assert_eq!(out.stdout, "one\ntwo\nfile\nro\n", "{out}");
    h.kill(&id, Some("KILL")).ok();
    h.wait_stopped(&id);
    h.delete(&id, false).ok();
    assert_nothing_left(&h, &id, &b.dir);
}

/// The ordered tree of bind mounts (see `support/mount_tree.rs`) in a user namespace, its host
/// sources out of the mapped root's reach: each source is taken as it is when its turn comes.
#[test]
fn bind_mounts_in_order_with_container_sources_in_a_user_namespace() {
    let h = Hull::new();
    let mut b = userns_bundle(&h);
    let src = h.temp_dir();
    let want = hull_integration::mount_tree::add(&mut b, &src, &[]);
    b.args(&["cat", "/final/x/y/z/z/x/y/z/x/file"]);
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(out.stdout.trim(), want, "{out}");
}
