//! Which file descriptors reach the container: exactly 0, 1 and 2, plus the caller's fds 3..
//! that `--preserve-fds N` or socket activation (`LISTEN_FDS`, `LISTEN_PID`) pass on.

use hull_integration::{fds_of, pass_fd_as, run_to_files, Bundle, Hull, Out};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// What the container's shell lists in its own fd dir (`/proc/$$/fd`, so no `ls` dir fd),
/// each fd with what it reads (when it is one of ours, a file holding `fd-content`).
const LIST_FDS: &str = "echo fds-begin; ls -1 /proc/$$/fd; echo fds-end; \
     for f in 3 4 5; do if [ -e /proc/$$/fd/$f ]; then echo content$f:$(cat /proc/$$/fd/$f); fi; done; \
     echo env:LISTEN_FDS=$LISTEN_FDS; echo env:LISTEN_PID=$LISTEN_PID";

/// Runs `hull <args>` with a file opened on each of `extra` fds (3, 4...) in hull, stdout and
/// stderr to files.
fn run_with_fds(h: &Hull, args: &[&str], extra: &[i32]) -> Out {
    let dir = h.temp_dir();
    let data = dir.join("data");
    std::fs::write(&data, "fd-content\n").unwrap();
    let file = std::fs::File::open(&data).unwrap();
    let mut cmd = h.command(args);
    pass_fd_as(&mut cmd, file.as_raw_fd(), extra);
    run_to_files(cmd, &dir, T)
}

fn fd_bundle(h: &Hull) -> Bundle {
    let mut b = h.bundle();
    b.sh(LIST_FDS);
    b.save();
    b
}

#[test]
fn run_preserve_fds_passes_exactly_those() {
    let h = Hull::new();
    let b = fd_bundle(&h);
    let id = h.new_id();
    let bundle = b.dir.to_str().unwrap();
    let out = run_with_fds(
        &h,
        &["run", "--preserve-fds", "2", "--bundle", bundle, &id],
        &[3, 4, 5],
    )
    .ok();
    assert_eq!(fds_of(&out.stdout), [0, 1, 2, 3, 4], "{out}");
    assert!(out.stdout.contains("content3:fd-content"), "{out}");
    assert!(out.stdout.contains("content4:fd-content"), "{out}");
}

#[test]
fn run_without_preserve_fds_passes_only_stdio() {
    let h = Hull::new();
    let b = fd_bundle(&h);
    let id = h.new_id();
    let out = run_with_fds(
        &h,
        &["run", "--bundle", b.dir.to_str().unwrap(), &id],
        &[3, 4],
    )
    .ok();
    assert_eq!(fds_of(&out.stdout), [0, 1, 2], "{out}");
}

#[test]
fn create_preserve_fds_reach_the_started_program() {
    let h = Hull::new();
    let mut b = h.bundle();
    // not `sh_out`: the shell would keep copies of its stdout and stderr in fds 10 and 11
    b.root_readonly(false)
        .sh(&format!("exec >/out 2>&1; {LIST_FDS}; touch /out.done"));
    let id = h.new_id();
    b.save();
    run_with_fds(
        &h,
        &[
            "create",
            "--preserve-fds",
            "1",
            "--bundle",
            b.dir.to_str().unwrap(),
            &id,
        ],
        &[3, 4],
    )
    .ok();
    h.start(&id).ok();
    let out = b.wait_out();
    assert_eq!(fds_of(&out), [0, 1, 2, 3], "{out}");
    assert!(out.contains("content3:fd-content"), "{out}");
}

#[test]
fn exec_preserve_fds() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let with = run_with_fds(
        &h,
        &["exec", "--preserve-fds", "2", &id, "sh", "-c", LIST_FDS],
        &[3, 4, 5],
    )
    .ok();
    assert_eq!(fds_of(&with.stdout), [0, 1, 2, 3, 4], "{with}");
    assert!(with.stdout.contains("content4:fd-content"), "{with}");
    let without = run_with_fds(&h, &["exec", &id, "sh", "-c", LIST_FDS], &[3, 4, 5]).ok();
    assert_eq!(fds_of(&without.stdout), [0, 1, 2], "{without}");
}

/// `sh -c 'export LISTEN_PID=$$ LISTEN_FDS=N; exec 3<data; exec hull ...'`: the shell's pid
/// becomes hull's, as systemd would set it.
fn socket_activated(h: &Hull, listen_pid: &str, listen_fds: u32, hull_args: &[&str]) -> Out {
    let dir = h.temp_dir();
    let data = dir.join("data");
    std::fs::write(&data, "fd-content\n").unwrap();
    let mut script = format!(
        "export LISTEN_PID={listen_pid} LISTEN_FDS={listen_fds}; exec 3<{} 4<{}; exec '{}' --root '{}'",
        data.display(),
        data.display(),
        hull_integration::hull_bin().display(),
        h.root.display()
    );
    for a in hull_args {
        script.push_str(&format!(" '{a}'"));
    }
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(script);
    run_to_files(cmd, &dir, T)
}

/// `hull run [extra] --bundle B id` of an [`fd_bundle`], socket-activated with one fd for
/// `listen_pid` (see [`socket_activated`]); it must succeed.
#[track_caller]
fn run_socket_activated(listen_pid: &str, extra: &[&str]) -> Out {
    let h = Hull::new();
    let b = fd_bundle(&h);
    let id = h.new_id();
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.extend(["--bundle", b.dir.to_str().unwrap(), &id]);
    socket_activated(&h, listen_pid, 1, &args).ok()
}

#[test]
fn socket_activation_passes_listen_fds() {
    let out = run_socket_activated("$$", &[]);
    assert_eq!(fds_of(&out.stdout), [0, 1, 2, 3], "{out}");
    assert!(out.stdout.contains("content3:fd-content"), "{out}");
    assert!(
        out.stdout.contains("env:LISTEN_FDS=1\n"),
        "the container is told how many fds: {out}"
    );
    assert!(
        out.stdout.contains("env:LISTEN_PID=1\n"),
        "LISTEN_PID is the container's pid 1: {out}"
    );
}

#[test]
fn socket_activation_with_preserve_fds() {
    let out = run_socket_activated("$$", &["--preserve-fds", "1"]);
    assert_eq!(
        fds_of(&out.stdout),
        [0, 1, 2, 3, 4],
        "LISTEN_FDS first, then --preserve-fds: {out}"
    );
}

#[test]
fn socket_activation_for_another_pid_is_ignored() {
    let out = run_socket_activated("1", &[]);
    assert_eq!(fds_of(&out.stdout), [0, 1, 2], "{out}");
    assert!(out.stdout.contains("env:LISTEN_FDS=\n"), "{out}");
}

/// hull started with fds 0, 1 and 2 closed (a careless supervisor) opens `/dev/null` on
/// them first thing: the container's stdio is `/dev/null`, never a file hull opened later
/// (its state dir, a cgroup file...) that took a free standard number.
#[test]
fn hull_started_with_stdio_closed_gives_the_container_dev_null() {
    use std::os::unix::process::CommandExt;
    let h = Hull::new();
    let mut b = h.bundle();
    b.root_readonly(false).sh(
        "s=$(for f in 0 1 2; do echo $f:$(readlink /proc/$$/fd/$f); done); echo \"$s\" >/fds.txt",
    );
    b.save();
    let id = h.new_id();
    let mut cmd = h.command(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    // SAFETY: only close (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for fd in 0..=2 {
                libc::close(fd);
            }
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    let seen = std::fs::read_to_string(b.host_path("/fds.txt")).unwrap_or_default();
    assert!(
        status.success(),
        "hull run: {status}; the container saw:\n{seen}"
    );
    assert_eq!(seen, "0:/dev/null\n1:/dev/null\n2:/dev/null\n");
}
