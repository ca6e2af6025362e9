//! `checkpoint` and `restore` with CRIU.
//!
//! The error tests run everywhere: no CRIU, a CRIU too old (a fake `criu` script), a kernel
//! CRIU cannot work on (this project's hosts: CRIU 3.17 fails on Linux 6.18), and image
//! directories that are missing, empty or the checkpoint of another kind of container —
//! each a one-line error, the container left as it was, nothing left by a failed restore.
//!
//! The dump/restore tests need a working CRIU: they run in the cgroup v2 guest (Debian's 6.1
//! kernel, tests/vm/v2-tests.list), where `HULL_REQUIRE_CRIU=1` makes a missing or broken
//! CRIU a failure. Elsewhere they skip with one loud line naming the CRIU and kernel versions.
//!
//! The containers redirect their stdio inside the container first (`exec </dev/null
//! >/dev/null 2>&1`): the test's files are on mounts CRIU cannot see from the container.

use hull_integration::{leaks::assert_nothing_left, poll, Bundle, Hull};
use serde_json::json;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// `criu --version` and `criu check`: None when CRIU works here, else why not (one line).
fn criu_problem() -> Option<String> {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let version = match Command::new("criu").arg("--version").output() {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string(),
        Err(e) => return Some(format!("no criu ({e}) on Linux {kernel}")),
    };
    let check = Command::new("criu")
        .args(["check", "--no-default-config"])
        .output()
        .expect("run criu check");
    if check.status.success() {
        return None;
    }
    let why = String::from_utf8_lossy(&check.stderr)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    Some(format!(
        "CRIU {version} does not work on Linux {kernel}: criu check: {why}"
    ))
}

/// True when the test can go on with a working CRIU. Without one it prints why and the test
/// is skipped, unless `HULL_REQUIRE_CRIU` is set (the guest), where it fails.
fn criu_works(test: &str) -> bool {
    let Some(problem) = criu_problem() else {
        return true;
    };
    if std::env::var_os("HULL_REQUIRE_CRIU").is_some() {
        panic!("{test}: CRIU is required here (HULL_REQUIRE_CRIU) but {problem}");
    }
    eprintln!("SKIP {test}: needs a working CRIU; {problem} (runs in the guest: make test-v2)");
    false
}

/// A container that counts in memory and writes the count to `<dir>/count` every 0.1 s,
/// with a background `sleep` whose pid (inside) it writes to `/bg`. Its loop forks nothing
/// (a builtin `read -t` on a fifo is its clock): a pre-dump's process tree stays the dump's.
fn counter(b: &mut Bundle, dir: &str) {
    b.root_readonly(false);
    b.sh(&format!(
        "exec </dev/null >/dev/null 2>&1; sleep 1000 & echo $! > /bg; \
         rm -f /tick; mkfifo /tick; exec 3<>/tick; i=0; \
         while :; do i=$((i+1)); echo $i > {dir}/count; read -t 0.1 x <&3; done"
    ));
}

/// The count at `path` (0 if there is none yet; a read between truncate and write retried).
fn count_in(path: &Path) -> u64 {
    for _ in 0..20 {
        if let Some(n) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return n;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    0
}

/// Waits until the count at `path` passes `above`, and returns it.
fn count_passes(path: &Path, above: u64) -> u64 {
    poll(T, &format!("{} to pass {above}", path.display()), || {
        let n = count_in(path);
        (n > above).then_some(n)
    })
}

/// `hull run -d` of `b` as `id`.
fn run_detached(h: &Hull, id: &str, b: &Bundle) {
    b.save();
    h.run(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), id])
        .ok();
}

/// `hull checkpoint --image-path images <extra> id`, asserted to succeed; CRIU's log (kept
/// in a work dir of its own) is shown when it does not.
#[track_caller]
fn checkpoint(h: &Hull, id: &str, images: &Path, extra: &[&str]) {
    let work = h.temp_dir();
    let mut args = vec![
        "checkpoint",
        "--image-path",
        images.to_str().unwrap(),
        "--work-path",
        work.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(id);
    let out = h.run(&args);
    if !out.success() {
        show_logs(&work);
    }
    out.ok();
}

/// The tail of every CRIU log in `dir`, on stderr.
fn show_logs(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            eprintln!(
                "--- {} (last 40 lines):\n{}",
                path.display(),
                tail.join("\n")
            );
        }
    }
}

/// `hull restore -d` of `b` as `id` from `images`; with `extra` flags. CRIU's log is shown
/// when it fails.
fn restore(h: &Hull, id: &str, b: &Bundle, images: &Path, extra: &[&str]) -> hull_integration::Out {
    let out = restore_in(h, id, b, images, extra);
    if !out.success() {
        show_logs(images);
    }
    out
}

fn restore_in(
    h: &Hull,
    id: &str,
    b: &Bundle,
    images: &Path,
    extra: &[&str],
) -> hull_integration::Out {
    b.save();
    let mut args = vec![
        "restore",
        "-d",
        "--bundle",
        b.dir.to_str().unwrap(),
        "--image-path",
        images.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(id);
    h.run(&args)
}

/// A copy of `b`: its config, a fresh busybox rootfs, and the files a [`counter`] holds
/// open (CRIU reopens them by path).
fn copy_bundle(h: &Hull, b: &Bundle) -> Bundle {
    let mut other = h.bundle();
    other.config = b.config.clone();
    other.save();
    for f in ["/bg", "/count"] {
        if b.host_path(f).exists() {
            std::fs::copy(b.host_path(f), other.host_path(f)).unwrap();
        }
    }
    if b.host_path("/tick").exists() {
        nix::unistd::mkfifo(
            &other.host_path("/tick"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
    }
    other
}

// --- errors (everywhere) ------------------------------------------------------------------

/// A running container for the error tests.
fn sleeper(h: &Hull) -> (String, Bundle) {
    let mut b = h.bundle();
    b.sh("exec </dev/null >/dev/null 2>&1; sleep 1000");
    let id = h.new_id();
    run_detached(h, &id, &b);
    (id, b)
}

#[track_caller]
fn assert_still_running(h: &Hull, id: &str, pid: i64) {
    assert_eq!(
        h.status(id).as_deref(),
        Some("running"),
        "{id} should run on"
    );
    assert_eq!(h.pid(id), pid, "{id} should be the same process");
}

#[test]
fn checkpoint_without_criu_fails_and_the_container_runs_on() {
    let h = Hull::new();
    let (id, _b) = sleeper(&h);
    let pid = h.pid(&id);
    let images = h.temp_dir().join("images");
    let out = h.run(&[
        "--criu",
        "/nonexistent/criu",
        "checkpoint",
        "--image-path",
        images.to_str().unwrap(),
        &id,
    ]);
    out.assert_error(&["criu", "not installed", "/nonexistent/criu"]);
    assert_still_running(&h, &id, pid);
    assert!(!images.exists(), "no image dir is made without CRIU");
}

#[test]
fn checkpoint_with_a_criu_too_old_fails_and_the_container_runs_on() {
    let h = Hull::new();
    let (id, _b) = sleeper(&h);
    let pid = h.pid(&id);
    let fake = h.temp_dir().join("criu");
    std::fs::write(&fake, "#!/bin/sh\necho 'Version: 3.10'\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let images = h.temp_dir().join("images");
    let out = h.run(&[
        "--criu",
        fake.to_str().unwrap(),
        "checkpoint",
        "--image-path",
        images.to_str().unwrap(),
        &id,
    ]);
    out.assert_error(&["3.10", "too old", "3.14"]);
    assert_still_running(&h, &id, pid);
    assert!(!images.exists());
}

#[test]
fn checkpoint_on_a_kernel_criu_cannot_work_on_fails_and_the_container_runs_on() {
    let Some(problem) = criu_problem() else {
        eprintln!("SKIP: CRIU works on this kernel; this test is for one where it does not");
        return;
    };
    if problem.starts_with("no criu") {
        eprintln!("SKIP: {problem}");
        return;
    }
    let h = Hull::new();
    let (id, _b) = sleeper(&h);
    let pid = h.pid(&id);
    let images = h.temp_dir().join("images");
    let out = h.run(&["checkpoint", "--image-path", images.to_str().unwrap(), &id]);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    // e.g. "CRIU 3.17.1 does not work on this kernel (Linux 6.18…: `criu check` fails):
    // vdso: Unexpected rt vDSO area bounds"
    out.assert_error(&["criu", "kernel", kernel.trim(), "check"]);
    assert_still_running(&h, &id, pid);
    assert!(!images.exists(), "the image dir hull made is removed again");
    // and a second try fails the same way: nothing was left half-done
    let again = h.run(&["checkpoint", "--image-path", images.to_str().unwrap(), &id]);
    again.assert_error(&["criu", "kernel"]);
    assert_still_running(&h, &id, pid);
}

#[test]
fn checkpoint_of_a_created_container_is_refused() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["true"]);
    let id = h.new_id();
    h.create_ok(&id, &b);
    let images = h.temp_dir().join("images");
    let out = h.run(&["checkpoint", "--image-path", images.to_str().unwrap(), &id]);
    out.assert_error(&["created", "running"]);
    assert_eq!(h.status(&id).as_deref(), Some("created"));
}

#[test]
fn checkpoint_flags_are_checked() {
    let h = Hull::new();
    let (id, _b) = sleeper(&h);
    let images = h.temp_dir().join("images");
    let img = images.to_str().unwrap();
    let cases: [(&[&str], &[&str]); 4] = [
        (&["--empty-ns", "pid"], &["--empty-ns", "network"]),
        (&["--page-server", "nowhere"], &["--page-server", "port"]),
        (
            &["--manage-cgroups-mode", "props"],
            &["--manage-cgroups-mode"],
        ),
        (
            &["--parent-path", "../none"],
            &["--parent-path", "directory"],
        ),
    ];
    for (flags, needles) in cases {
        let mut args = vec!["checkpoint", "--image-path", img];
        args.extend_from_slice(flags);
        args.push(&id);
        h.run(&args).assert_error(needles);
    }
    assert_eq!(h.status(&id).as_deref(), Some("running"));
    assert!(!images.exists());
}

/// An image directory that looks like a hull checkpoint of a container with these bind
/// mounts (`inventory.img` is empty: CRIU itself would refuse it).
fn fake_images(h: &Hull, bind_keys: &[&str]) -> PathBuf {
    let dir = h.temp_dir().join("images");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("inventory.img"), b"").unwrap();
    let externals: Vec<_> = bind_keys
        .iter()
        .map(|k| json!({"key": k, "kind": "bind", "source": format!("/srv{k}")}))
        .collect();
    let info = json!({
        "id": "hit-elsewhere",
        "externals": externals,
        "stdio": ["", "", ""],
        "terminal": false,
        "external_netns": null,
    });
    std::fs::write(dir.join("hull-checkpoint.json"), info.to_string()).unwrap();
    dir
}

#[test]
fn restore_from_a_missing_image_dir_leaves_nothing() {
    let h = Hull::new();
    let b = h.bundle();
    let id = h.new_id();
    let images = h.temp_dir().join("no-such-images");
    let out = restore_in(&h, &id, &b, &images, &[]);
    out.assert_error(&["image directory", "no-such-images", "does not exist"]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn restore_from_a_dir_without_a_checkpoint_leaves_nothing() {
    let h = Hull::new();
    let b = h.bundle();
    let id = h.new_id();
    let images = h.temp_dir();
    let out = restore_in(&h, &id, &b, &images, &[]);
    out.assert_error(&["image directory", "no checkpoint", "inventory.img"]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn restore_from_another_containers_checkpoint_leaves_nothing() {
    let h = Hull::new();
    let b = h.bundle();
    let id = h.new_id();
    let images = fake_images(&h, &["/data"]);
    let out = restore_in(&h, &id, &b, &images, &[]);
    out.assert_error(&["another", "/data", "bind mount", "hit-elsewhere"]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn restore_without_criu_leaves_nothing() {
    let h = Hull::new();
    let b = h.bundle();
    let id = h.new_id();
    let images = fake_images(&h, &[]);
    b.save();
    let out = h.run(&[
        "--criu",
        "/nonexistent/criu",
        "restore",
        "-d",
        "--bundle",
        b.dir.to_str().unwrap(),
        "--image-path",
        images.to_str().unwrap(),
        &id,
    ]);
    out.assert_error(&["criu", "not installed"]);
    assert_nothing_left(&h, &id, &b.dir);
}

/// CRIU fails the restore (on this host at start-up; in the guest on the empty inventory):
/// the id, cgroup and root bind mount hull made are all undone.
#[test]
fn restore_that_criu_fails_leaves_nothing() {
    if criu_problem().is_some_and(|p| p.starts_with("no criu")) {
        eprintln!("SKIP: no criu here");
        return;
    }
    let h = Hull::new();
    let b = h.bundle();
    let id = h.new_id();
    let images = fake_images(&h, &[]);
    let out = restore_in(&h, &id, &b, &images, &[]);
    out.assert_error(&["criu"]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn features_report_checkpoint_as_criu_check_does() {
    let h = Hull::new();
    let out = h.run(&["features"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let enabled = &doc["annotations"]["io.github.hull.checkpoint.enabled"];
    let expected = if criu_problem().is_none() {
        "true"
    } else {
        "false"
    };
    assert_eq!(enabled, expected, "{}", out.stdout);
    let without = h.run(&["--criu", "/nonexistent/criu", "features"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&without.stdout).unwrap();
    assert_eq!(
        doc["annotations"]["io.github.hull.checkpoint.enabled"],
        "false"
    );
}

// --- dump and restore (a working CRIU: the guest) ------------------------------------------

#[test]
fn checkpoint_and_restore_keep_a_counter_and_the_pids_inside() {
    if !criu_works("checkpoint_and_restore_keep_a_counter_and_the_pids_inside") {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    counter(&mut b, "");
    let id = h.new_id();
    run_detached(&h, &id, &b);
    let count = b.host_path("/count");
    count_passes(&count, 3);
    let bg = b.read("/bg").trim().to_string();
    let images = h.temp_dir().join("images");
    let t0 = std::time::Instant::now();
    checkpoint(&h, &id, &images, &[]);
    eprintln!("TIMING checkpoint {:?}", t0.elapsed());
    // the container is gone, as with runc
    assert!(h.status(&id).is_none(), "checkpoint removes the container");
    let at_dump = count_in(&count);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        count_in(&count),
        at_dump,
        "nothing counts after the checkpoint"
    );
    let pid_file = h.temp_dir().join("pid");
    let t1 = std::time::Instant::now();
    restore(
        &h,
        &id,
        &b,
        &images,
        &["--pid-file", pid_file.to_str().unwrap()],
    )
    .ok();
    eprintln!("TIMING restore {:?}", t1.elapsed());
    let state = h.state(&id);
    assert_eq!(state["status"], "running", "{state}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(
        state["pid"].to_string(),
        pid.trim(),
        "--pid-file is the restored init"
    );
    // the count goes on from where it was: the shell's memory came back
    let after = count_passes(&count, at_dump);
    assert!(
        after <= at_dump + 50,
        "count restarted? {at_dump} then {after}"
    );
    // the background sleep has the pid it had inside
    let out = h
        .run(&["exec", &id, "cat", &format!("/proc/{bg}/comm")])
        .ok();
    assert_eq!(
        out.stdout.trim(),
        "sleep",
        "pid {bg} inside is the same sleep"
    );
    h.delete(&id, true).ok();
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn checkpoint_leave_running_and_restore_into_a_new_id() {
    if !criu_works("checkpoint_leave_running_and_restore_into_a_new_id") {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    counter(&mut b, "");
    let id = h.new_id();
    run_detached(&h, &id, &b);
    let pid = h.pid(&id);
    count_passes(&b.host_path("/count"), 3);
    let images = h.temp_dir().join("images");
    checkpoint(&h, &id, &images, &["--leave-running"]);
    assert_still_running(&h, &id, pid);
    let at_dump = count_in(&b.host_path("/count"));
    count_passes(&b.host_path("/count"), at_dump + 2);
    // a second container from the same checkpoint, in its own bundle
    let b2 = copy_bundle(&h, &b);
    let id2 = h.new_id();
    restore(&h, &id2, &b2, &images, &[]).ok();
    assert_eq!(h.status(&id2).as_deref(), Some("running"));
    assert_ne!(h.pid(&id2), pid);
    let n = count_passes(&b2.host_path("/count"), at_dump + 3);
    assert!(
        n < at_dump + 100,
        "the copy counts on from the checkpoint: {n}"
    );
    assert_still_running(&h, &id, pid);
    for i in [&id, &id2] {
        h.delete(i, true).ok();
    }
}

#[test]
fn checkpoint_pre_dump_then_dump_with_parent_path_and_restore() {
    if !criu_works("checkpoint_pre_dump_then_dump_with_parent_path_and_restore") {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    counter(&mut b, "");
    let id = h.new_id();
    run_detached(&h, &id, &b);
    let pid = h.pid(&id);
    count_passes(&b.host_path("/count"), 3);
    let top = h.temp_dir();
    let pre = top.join("pre");
    checkpoint(&h, &id, &pre, &["--pre-dump"]);
    assert_still_running(&h, &id, pid);
    let images = top.join("final");
    checkpoint(&h, &id, &images, &["--parent-path", "../pre"]);
    assert!(h.status(&id).is_none());
    assert!(
        images.join("parent").exists(),
        "CRIU links the final images to their parent"
    );
    let at_dump = count_in(&b.host_path("/count"));
    restore(&h, &id, &b, &images, &[]).ok();
    count_passes(&b.host_path("/count"), at_dump);
    h.delete(&id, true).ok();
}

#[test]
fn checkpoint_and_restore_a_container_with_a_bind_mount() {
    if !criu_works("checkpoint_and_restore_a_container_with_a_bind_mount") {
        return;
    }
    let h = Hull::new();
    let data = h.temp_dir();
    let mut b = h.bundle();
    b.add_mount(json!({
        "destination": "/data",
        "type": "bind",
        "source": data.to_str().unwrap(),
        "options": ["rbind", "rw"],
    }));
    counter(&mut b, "/data");
    let id = h.new_id();
    run_detached(&h, &id, &b);
    count_passes(&data.join("count"), 3);
    let images = h.temp_dir().join("images");
    checkpoint(&h, &id, &images, &[]);
    let at_dump = count_in(&data.join("count"));
    // restored onto another host directory given by the new bundle
    let data2 = h.temp_dir();
    std::fs::copy(data.join("count"), data2.join("count")).unwrap();
    let mut b2 = copy_bundle(&h, &b);
    b2.config["mounts"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .filter(|m| m["destination"] == "/data")
        .for_each(|m| m["source"] = json!(data2.to_str().unwrap()));
    restore(&h, &id, &b2, &images, &[]).ok();
    count_passes(&data2.join("count"), at_dump);
    assert_eq!(
        count_in(&data.join("count")),
        at_dump,
        "the old source is left alone"
    );
    h.delete(&id, true).ok();
}

#[test]
fn checkpoint_tcp_established_with_a_listening_socket_and_restore() {
    if !criu_works("checkpoint_tcp_established_with_a_listening_socket_and_restore") {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    b.root_readonly(false);
    b.sh(
        "exec </dev/null >/dev/null 2>&1; mkdir -p /www; echo served > /www/x; \
         exec httpd -f -p 127.0.0.1:8080 -h /www",
    );
    let id = h.new_id();
    run_detached(&h, &id, &b);
    let get = |id: &str| {
        poll(T, "httpd to answer", || {
            let out = h.run(&[
                "exec",
                id,
                "wget",
                "-q",
                "-O",
                "-",
                "http://127.0.0.1:8080/x",
            ]);
            out.success().then_some(out.stdout)
        })
    };
    assert_eq!(get(&id).trim(), "served");
    let images = h.temp_dir().join("images");
    checkpoint(&h, &id, &images, &["--tcp-established"]);
    restore(&h, &id, &b, &images, &["--tcp-established"]).ok();
    assert_eq!(
        get(&id).trim(),
        "served",
        "the restored listening socket answers"
    );
    h.delete(&id, true).ok();
}

/// A console socket that accepts one connection and receives the pty master on it.
fn receive_master(listener: &UnixListener) -> OwnedFd {
    let stream = poll(T, "a connection on the console socket", || {
        listener.accept().ok().map(|(s, _)| s)
    });
    stream.set_nonblocking(false).unwrap();
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([i32; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .expect("recvmsg on the console socket");
    for cmsg in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = cmsg {
            // SAFETY: the kernel just installed this fd in our table.
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no pty master came on the console socket");
}

/// Writes `line` to the master and reads until `want` shows up.
fn talk(master: &OwnedFd, line: &str, want: &str) -> String {
    if !line.is_empty() {
        nix::unistd::write(master, line.as_bytes()).unwrap();
    }
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + T;
    while !seen.contains(want) {
        assert!(
            std::time::Instant::now() < deadline,
            "no {want:?} in {seen:?}"
        );
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(master),
            nix::poll::PollFlags::POLLIN,
        )];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16)).unwrap_or(0) == 0 {
            continue;
        }
        let mut buf = [0u8; 1024];
        match nix::unistd::read(master, &mut buf) {
            Ok(n) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            _ => panic!("the pty closed; seen {seen:?}"),
        }
    }
    seen
}

#[test]
fn checkpoint_and_restore_a_tty_container() {
    if !criu_works("checkpoint_and_restore_a_tty_container") {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    b.terminal(true);
    b.sh("n=0; while read line; do n=$((n+1)); echo \"got$n:$line:$([ -t 0 ] && echo tty)\"; done");
    b.save();
    let id = h.new_id();
    let sock_dir = h.temp_dir();
    let first = UnixListener::bind(sock_dir.join("1.sock")).unwrap();
    first.set_nonblocking(true).unwrap();
    let path1 = sock_dir.join("1.sock");
    h.run(&[
        "run",
        "-d",
        "--bundle",
        b.dir.to_str().unwrap(),
        "--console-socket",
        path1.to_str().unwrap(),
        &id,
    ])
    .ok();
    let master = receive_master(&first);
    talk(&master, "one\n", "got1:one:tty");
    let images = h.temp_dir().join("images");
    checkpoint(&h, &id, &images, &[]);
    drop(master);
    let path2 = sock_dir.join("2.sock");
    let second = UnixListener::bind(&path2).unwrap();
    second.set_nonblocking(true).unwrap();
    restore(
        &h,
        &id,
        &b,
        &images,
        &["--console-socket", path2.to_str().unwrap()],
    )
    .ok();
    let master = receive_master(&second);
    // the shell's line counter came back with it, on a terminal again
    talk(&master, "two\n", "got2:two:tty");
    h.delete(&id, true).ok();
}

#[test]
fn restore_runs_the_prestart_create_runtime_and_poststart_hooks() {
    if !criu_works("restore_runs_the_prestart_create_runtime_and_poststart_hooks") {
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    counter(&mut b, "");
    let id = h.new_id();
    run_detached(&h, &id, &b);
    count_passes(&b.host_path("/count"), 3);
    let images = h.temp_dir().join("images");
    checkpoint(&h, &id, &images, &[]);
    // the hooks only for the restore: each appends its name and the state's status and pid
    let log = h.temp_dir().join("hooks.log");
    for kind in ["prestart", "createRuntime", "poststart"] {
        b.add_hook(
            kind,
            json!({
                "path": "/bin/sh",
                "args": ["sh", "-c", format!(
                    "s=$(cat); echo {kind} $(echo \"$s\" | grep -o '\"status\":\"[a-z]*\"') \
                     $(echo \"$s\" | grep -o '\"pid\":[0-9]*') >> {}", log.display())],
            }),
        );
    }
    restore(&h, &id, &b, &images, &[]).ok();
    let pid = h.pid(&id);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "one line per hook, in order:\n{text}");
    assert!(
        lines[0].starts_with("prestart \"status\":\"creating\""),
        "{text}"
    );
    assert!(
        lines[1].starts_with("createRuntime \"status\":\"creating\""),
        "{text}"
    );
    assert!(
        lines[2].starts_with("poststart \"status\":\"running\""),
        "{text}"
    );
    for l in &lines {
        assert!(
            l.ends_with(&format!("\"pid\":{pid}")),
            "each hook sees the restored init:\n{text}"
        );
    }
    h.delete(&id, true).ok();
}
