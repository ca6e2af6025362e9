//! Regression tests for container escapes that hit runc.
//!
//! * CVE-2024-21626 ("Leaky Vessels"): a host fd leaked into the container (runc leaked a
//!   handle on `/sys/fs/cgroup`) let `process.cwd = /proc/self/fd/N` start the program in a
//!   host directory, from which `../../..` is the host's root. Checked: init and exec'd
//!   processes get only fds 0, 1, 2, and a cwd of `/proc/self/fd/N` (N = 3..8) either fails
//!   with a one-line error or stays inside the container: the host's `/` (where the test puts a
//!   marker file, or, when `/` is read-only, by the names only it has) is never listed.
//! * CVE-2019-5736: a process in the container opened `/proc/<pid>/exe` of a runtime process
//!   that had entered the container (runc's init, or `runc exec`'s process before its execve)
//!   and, once the runtime exited, wrote through that handle: the host's runc binary was
//!   overwritten. Checked with a COPY of the binary (so a successful attack cannot corrupt
//!   `target/debug/hull`): a privileged process exec'd into a created container (whose init
//!   is still hull, blocked on `exec.fifo`) holds `/proc/1/exe` open and keeps trying to
//!   append to it after `start`; the copy must be unchanged and every write must fail.

use hull_integration::{
    fds_of, hull_bin, is_hull, pass_fd_as, poll, run_to_files, unique, Bundle, Hull, Out,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// The shell's own fds (no `ls` dir fd), between markers.
const LIST_FDS: &str = "echo fds-begin; ls -1 /proc/$$/fd; echo fds-end; ls -l /proc/$$/fd";

#[test]
fn cve_2024_21626_init_sees_only_stdio() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh(LIST_FDS);
    let id = h.new_id();
    let out = h.run_fg(&id, &b, &[]).ok();
    assert_eq!(fds_of(&out.stdout), [0, 1, 2], "{out}");
}

#[test]
fn cve_2024_21626_exec_sees_only_stdio() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let out = h.run(&["exec", &id, "sh", "-c", LIST_FDS]).ok();
    assert_eq!(fds_of(&out.stdout), [0, 1, 2], "{out}");
    // and init, once started, holds nothing else either
    let out = h.run(&["exec", &id, "sh", "-c", "ls -1 /proc/1/fd"]).ok();
    let mut init_fds: Vec<u32> = out
        .stdout
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    init_fds.sort();
    assert_eq!(init_fds, [0, 1, 2], "init's fds: {out}");
}

/// What shows that a listing is of the host's `/`: a marker file made there (removed on
/// drop), or, where `/` is read-only (the v2 guest, which runs on the host's `/` over 9p),
/// the names in it that nothing the container can list has: not in the bundle's rootfs and
/// not in the top of `/proc`, `/sys` (two levels) or `/dev`.
struct HostMarker {
    made: Option<PathBuf>,
    names: Vec<String>,
}

impl HostMarker {
    fn new(b: &Bundle) -> HostMarker {
        let p = PathBuf::from(format!("/hull-cve-2024-21626-marker-{}", unique()));
        match std::fs::write(&p, "host") {
            Ok(()) => HostMarker {
                names: vec![p.file_name().unwrap().to_string_lossy().into_owned()],
                made: Some(p),
            },
            Err(e) if e.raw_os_error() == Some(libc::EROFS) => HostMarker {
                made: None,
                names: host_only_names(b),
            },
            Err(e) => panic!("create a marker in the host's /: {e}"),
        }
    }
}

impl Drop for HostMarker {
    fn drop(&mut self) {
        if let Some(p) = &self.made {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The names in the host's `/` that a process in a container of bundle `b` cannot see
/// anywhere else (see [`HostMarker`]); at least three.
fn host_only_names(b: &Bundle) -> Vec<String> {
    fn names(dir: &Path, depth: u32, into: &mut std::collections::BTreeSet<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            into.insert(e.file_name().to_string_lossy().into_owned());
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if depth > 1 && is_dir {
                names(&e.path(), depth - 1, into);
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    names(&b.rootfs(), 8, &mut seen);
    names(Path::new("/proc"), 1, &mut seen);
    names(Path::new("/sys"), 2, &mut seen);
    names(Path::new("/dev"), 1, &mut seen);
    let mut host = std::collections::BTreeSet::new();
    names(Path::new("/"), 1, &mut host);
    let only: Vec<String> = host.difference(&seen).cloned().collect();
    assert!(
        only.len() >= 3,
        "too few names only the host's / has to recognise it by: {only:?}"
    );
    only
}

/// Lists the parent dirs of the cwd as far up as the host's root could be.
const CLIMB: &str = "pwd; ls -a ..; ls -a ../..; ls -a ../../..; ls -a ../../../..; \
                     ls -a ../../../../..; ls -a ../../../../../../..";

/// Either a one-line error about the cwd, or output that does not show the host's `/`: no
/// marker in it (a made one anywhere, the host's own names as a line of `ls -a`).
#[track_caller]
fn assert_not_on_host(out: &Out, marker: &HostMarker) {
    let all = format!("{}{}", out.stdout, out.stderr);
    let listed = |name: &String| match marker.made {
        Some(_) => all.contains(name.as_str()),
        None => all.lines().any(|l| l.trim() == name),
    };
    assert!(
        !marker.names.iter().any(listed),
        "the process listed the host's / through its cwd (marker {:?}):\n{out}",
        marker.names
    );
    if !out.success() {
        out.assert_error(&["cwd|/proc/self/fd/"]);
    }
}

#[test]
fn cve_2024_21626_cwd_through_proc_self_fd_stays_inside() {
    let h = Hull::new();
    let marker = HostMarker::new(&h.bundle());
    for n in 3..=8 {
        let mut b = h.bundle();
        b.cwd(&format!("/proc/self/fd/{n}")).sh(CLIMB);
        let id = h.new_id();
        let out = h.run_fg(&id, &b, &[]);
        assert_not_on_host(&out, &marker);
        if !out.success() {
            hull_integration::leaks::assert_nothing_left(&h, &id, &b.dir);
        }
    }
}

#[test]
fn cve_2024_21626_exec_cwd_through_proc_self_fd_stays_inside() {
    let h = Hull::new();
    let mut b = h.bundle();
    let marker = HostMarker::new(&b);
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    for n in 3..=8 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = h.run(&["exec", "--cwd", &cwd, &id, "sh", "-c", CLIMB]);
        assert_not_on_host(&out, &marker);
    }
    assert_eq!(h.status(&id).as_deref(), Some("running"));
}

/// Runs `hull <args>` with fds 3..=8 open on the host's `/` (not close-on-exec, not
/// preserved): what a careless caller could leak into hull.
fn run_with_leaked_host_root(h: &Hull, args: &[&str]) -> Out {
    use std::os::fd::AsRawFd;
    let dir = h.temp_dir();
    let root = std::fs::File::open("/").expect("open the host's /");
    let mut cmd = h.command(args);
    pass_fd_as(&mut cmd, root.as_raw_fd(), &[3, 4, 5, 6, 7, 8]);
    run_to_files(cmd, &dir, T)
}

#[test]
fn cve_2024_21626_cwd_through_a_leaked_host_dir_fd_stays_inside() {
    let h = Hull::new();
    let marker = HostMarker::new(&h.bundle());
    for n in 3..=8 {
        let mut b = h.bundle();
        b.cwd(&format!("/proc/self/fd/{n}")).sh(CLIMB);
        b.save();
        let id = h.new_id();
        let out = run_with_leaked_host_root(&h, &["run", "--bundle", b.dir.to_str().unwrap(), &id]);
        assert_not_on_host(&out, &marker);
        if !out.success() {
            hull_integration::leaks::assert_nothing_left(&h, &id, &b.dir);
        }
    }
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    for n in 3..=8 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = run_with_leaked_host_root(&h, &["exec", "--cwd", &cwd, &id, "sh", "-c", CLIMB]);
        assert_not_on_host(&out, &marker);
    }
    // and fds leaked to hull never reach the container
    let out = run_with_leaked_host_root(&h, &["exec", &id, "sh", "-c", LIST_FDS]).ok();
    assert_eq!(fds_of(&out.stdout), [0, 1, 2], "{out}");
}

/// A copy of the binary under test in a temp dir (named like it, so `is_hull` logic holds).
fn binary_copy(h: &Hull) -> PathBuf {
    let src = hull_bin();
    let dst = h.temp_dir().join(src.file_name().unwrap());
    std::fs::copy(&src, &dst).expect("copy the binary under test");
    dst
}

/// `<copy> --root <root> <args>` to completion, with `env` added.
fn run_copy(h: &Hull, copy: &Path, env: &[(&str, &str)], args: &[&str]) -> Out {
    let dir = h.temp_dir();
    let mut cmd = Command::new(copy);
    cmd.arg("--root")
        .arg(&h.root)
        .args(args)
        .envs(env.iter().copied());
    run_to_files(cmd, &dir, T)
}

/// The attacker, exec'd into the created container with CAP_SYS_PTRACE: it opens init's exe
/// (hull, blocked on `exec.fifo`), then once the test creates `/go` (after `start`, when no
/// process runs the binary any more, so ETXTBSY no longer protects it) tries to append to it
/// through `/proc/self/fd/5`. Its findings go to `/attack`.
const ATTACK: &str = r#"
if ! exec 5</proc/1/exe; then echo open-failed >> /attack; exit 0; fi
echo "opened $(readlink /proc/1/exe)" >> /attack
while [ ! -e /go ]; do sleep 0.05; done
i=0
while [ $i -lt 20 ]; do
  if err=$( { echo CVE-2019-5736-was-here >> /proc/self/fd/5; } 2>&1 ); then
    echo WROTE >> /attack; exit 0
  fi
  i=$((i+1)); sleep 0.1
done
echo "gave-up: $err" >> /attack
"#;

/// Runs the attack against `copy` (hull commands get `env`); returns what the attacker
/// reported.
fn attack(h: &Hull, copy: &Path, env: &[(&str, &str)]) -> String {
    let mut b: Bundle = h.bundle();
    b.root_readonly(false).args(&["sleep", "1000"]);
    b.save();
    let id = h.new_id();
    let bundle = b.dir.to_str().unwrap();
    run_copy(h, copy, env, &["create", "--bundle", bundle, &id]).ok();
    run_copy(
        h,
        copy,
        env,
        &[
            "exec",
            "-d",
            "--cap",
            "CAP_SYS_PTRACE",
            &id,
            "sh",
            "-c",
            ATTACK,
        ],
    )
    .ok();
    let report = b.host_path("/attack");
    let first = poll(T, "the attacker to try opening /proc/1/exe", || {
        std::fs::read_to_string(&report)
            .ok()
            .filter(|s| !s.is_empty())
    });
    if first.contains("open-failed") {
        return first;
    }
    run_copy(h, copy, env, &["start", &id]).ok();
    std::fs::write(b.host_path("/go"), "").unwrap();
    poll(T, "the attacker to finish", || {
        std::fs::read_to_string(&report)
            .ok()
            .filter(|s| s.contains("WROTE") || s.contains("gave-up"))
    })
}

#[test]
fn cve_2019_5736_init_exe_cannot_be_overwritten() {
    let h = Hull::new();
    let copy = binary_copy(&h);
    let before = std::fs::read(&copy).unwrap();
    let report = attack(&h, &copy, &[]);
    let after = std::fs::read(&copy).unwrap();
    assert!(
        before == after,
        "the host's hull binary was modified from inside the container; attacker:\n{report}"
    );
    assert!(
        !report.contains("WROTE"),
        "the attacker could write to hull's exe:\n{report}"
    );
}

/// The harness itself: with hull's guard switched off (hull skips it when its re-executed
/// self's marker is already in the environment), the same attack does overwrite the copy. This
/// shows the test above would catch a missing protection.
#[test]
fn cve_2019_5736_attack_succeeds_without_the_guard() {
    if !is_hull() {
        return;
    }
    let h = Hull::new();
    let copy = binary_copy(&h);
    let before = std::fs::read(&copy).unwrap();
    let report = attack(&h, &copy, &[("_HULL_EXE_GUARDED", "1")]);
    let after = std::fs::read(&copy).unwrap();
    assert!(
        report.contains("WROTE") && before != after,
        "without the guard the attack should have worked (is the guard's switch gone?):\n{report}"
    );
}

/// A read-only bind mount of a directory, undone when dropped.
struct ReadOnlyBind(PathBuf);

impl ReadOnlyBind {
    fn new(dir: &Path) -> ReadOnlyBind {
        let d = dir.to_str().unwrap();
        for args in [vec!["--bind", d, d], vec!["-o", "remount,bind,ro", d]] {
            let st = Command::new("mount").args(&args).status().unwrap();
            assert!(st.success(), "mount {args:?}");
        }
        ReadOnlyBind(dir.to_path_buf())
    }
}

impl Drop for ReadOnlyBind {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A hull binary that is already on a read-only mount is not re-executed (its init's exe is
/// that binary's own path, not the guard's detached mount, which reads `/`), and the attack
/// still cannot write to it.
#[test]
fn cve_2019_5736_a_binary_on_a_read_only_mount_needs_no_reexec_and_stays_intact() {
    let h = Hull::new();
    let copy = binary_copy(&h);
    let before = std::fs::read(&copy).unwrap();
    let _ro = ReadOnlyBind::new(copy.parent().unwrap());
    let report = attack(&h, &copy, &[]);
    let after = std::fs::read(&copy).unwrap();
    assert!(
        before == after && !report.contains("WROTE"),
        "the attacker could write to hull's exe:\n{report}"
    );
    let name = copy.file_name().unwrap().to_str().unwrap();
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("opened ") && l.ends_with(&format!("/{name}"))),
        "init's exe should be the read-only binary itself (no re-exec):\n{report}"
    );
}
