//! `linux.seccomp`: what a filtered program sees (the errno of a blocked call, its death by
//! SIGSYS, a notification answered by an agent) and how a bad profile is refused.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

use hull_integration::sysc::{self, nr};
use hull_integration::{leaks::assert_nothing_left, Hull};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde_json::{json, Value};

/// A rule for both mkdir syscalls (busybox may use either).
fn mkdir_rule(action: &str, extra: Value) -> Value {
    let mut r = json!({"names": ["mkdir", "mkdirat"], "action": action});
    if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
        r.extend(extra.clone());
    }
    r
}

fn profile(default: &str, syscalls: Value) -> Value {
    json!({
        "defaultAction": default,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls
    })
}

/// Run `script` (stdout+stderr captured) under `seccomp`, return the output.
fn run_with(seccomp: Value, nnp: bool, script: &str) -> String {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["linux"]["seccomp"] = seccomp;
    b.config["process"]["noNewPrivileges"] = json!(nnp);
    b.root_readonly(false)
        .sh(&format!("{{ {script}\n}} 2>&1; true"));
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    out.stdout
}

#[test]
fn blocked_mkdir_fails_with_eperm() {
    let p = profile(
        "SCMP_ACT_ALLOW",
        json!([mkdir_rule("SCMP_ACT_ERRNO", json!({"errnoRet": 1}))]),
    );
    let out = run_with(p, true, "mkdir /tmp/x; echo rc=$?");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
}

#[test]
fn errno_ret_is_returned_and_default_is_eperm() {
    let p = profile(
        "SCMP_ACT_ALLOW",
        json!([mkdir_rule("SCMP_ACT_ERRNO", json!({"errnoRet": 28}))]),
    );
    let out = run_with(p, true, "mkdir /tmp/x");
    assert!(out.contains("No space left on device"), "{out}");
    let p = profile(
        "SCMP_ACT_ALLOW",
        json!([mkdir_rule("SCMP_ACT_ERRNO", json!({}))]),
    );
    let out = run_with(p, true, "mkdir /tmp/x");
    assert!(out.contains("Operation not permitted"), "{out}");
}

#[test]
fn filter_applies_without_no_new_privileges() {
    let p = profile(
        "SCMP_ACT_ALLOW",
        json!([mkdir_rule("SCMP_ACT_ERRNO", json!({"errnoRet": 1}))]),
    );
    let out = run_with(p, false, "mkdir /tmp/x; grep Seccomp: /proc/self/status");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
}

/// chmod's mode is argument 1, fchmodat's argument 2: block only modes without group/other
/// bits (MASKED_EQ), and only with a non-NULL path (NE, ANDed on the same rule).
#[test]
fn argument_comparisons() {
    let cond = |index: u64| {
        json!([
            {"index": index - 1, "value": 0, "op": "SCMP_CMP_NE"},
            {"index": index, "value": 0o077, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}
        ])
    };
    let p = profile(
        "SCMP_ACT_ALLOW",
        json!([
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": cond(1)},
            {"names": ["fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": cond(2)},
        ]),
    );
    let out = run_with(
        p,
        true,
        "mkdir /tmp/d; chmod 700 /tmp/d; echo private=$?; chmod 755 /tmp/d; echo shared=$?",
    );
    assert!(out.contains("private=1"), "{out}");
    assert!(out.contains("shared=0"), "{out}");
}

#[test]
fn default_allow_with_allow_rules_changes_nothing() {
    let p = profile(
        "SCMP_ACT_ALLOW",
        json!([{"names": ["mkdir", "mkdirat", "no_such_syscall"], "action": "SCMP_ACT_ALLOW"}]),
    );
    let out = run_with(p, true, "mkdir /tmp/x && echo made");
    assert!(out.contains("made"), "{out}");
}

#[test]
fn log_action_allows() {
    let p = profile(
        "SCMP_ACT_ALLOW",
        json!([mkdir_rule("SCMP_ACT_LOG", json!({}))]),
    );
    let out = run_with(p, true, "mkdir /tmp/x && echo made");
    assert!(out.contains("made"), "{out}");
}

/// KILL, KILL_THREAD, KILL_PROCESS and TRAP all end a single-threaded program by SIGSYS.
#[test]
fn kill_actions_exit_159() {
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
    ] {
        let h = Hull::new();
        let mut b = h.bundle();
        b.config["linux"]["seccomp"] =
            profile("SCMP_ACT_ALLOW", json!([mkdir_rule(action, json!({}))]));
        b.root_readonly(false).args(&["/bin/mkdir", "/tmp/x"]);
        let out = h.run_fg(&h.new_id(), &b, &[]);
        assert_eq!(out.code(), Some(159), "{action}:\n{out}");
    }
}

#[test]
fn tsync_log_and_spec_allow_flags_are_accepted() {
    let mut p = profile(
        "SCMP_ACT_ALLOW",
        json!([mkdir_rule("SCMP_ACT_ERRNO", json!({"errnoRet": 1}))]),
    );
    p["flags"] = json!([
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
    ]);
    let out = run_with(p, true, "mkdir /tmp/x");
    assert!(out.contains("Operation not permitted"), "{out}");
}

fn assert_refused(seccomp: Value, needles: &[&str]) {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["linux"]["seccomp"] = seccomp;
    let id = h.new_id();
    h.create(&id, &b).assert_error(needles);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn bad_action_arch_and_op_are_refused_naming_the_field() {
    assert_refused(
        json!({"defaultAction": "SCMP_ACT_NOPE"}),
        &["defaultAction", "SCMP_ACT_NOPE"],
    );
    assert_refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}),
        &["architectures", "SCMP_ARCH_VAX"],
    );
    assert_refused(
        profile(
            "SCMP_ACT_ALLOW",
            json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]),
        ),
        &["syscalls[0]", "SCMP_CMP_ALMOST"],
    );
    assert_refused(
        profile(
            "SCMP_ACT_ALLOW",
            json!([{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]),
        ),
        &["listenerPath"],
    );
}

/// Receive the notify fd and the state document the runtime sends on `conn`.
fn recv_fd(conn: RawFd) -> (RawFd, Value) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        conn,
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .expect("recvmsg from the runtime");
    let fd = msg
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            nix::sys::socket::ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("an fd with SCM_RIGHTS");
    let len = msg.bytes;
    (fd, serde_json::from_slice(&buf[..len]).expect("state JSON"))
}

/// Answers every syscall notified on `fd` with what `answer` makes of it until no process
/// uses the filter any more, then closes `fd`; returns how many it answered. The end is the
/// fd's POLLHUP (Linux 5.8 on): a receive blocked in the ioctl is not woken when the last
/// filtered process exits on every kernel (6.1 is not), so the agent waits in poll and
/// receives only what POLLIN announces.
fn serve(fd: RawFd, answer: impl Fn(u64) -> libseccomp::ScmpNotifResp) -> usize {
    // SAFETY: recv_fd gave us this fd (SCM_RIGHTS); only this agent holds it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut answered = 0;
    loop {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => panic!("poll the seccomp notify fd: {e}"),
            Ok(_) => {}
        }
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        if revents.contains(PollFlags::POLLIN) {
            // fails (ENOENT) when the notifying process died meanwhile: poll again
            if let Ok(req) = libseccomp::ScmpNotifReq::receive(fd.as_raw_fd()) {
                let _ = answer(req.id).respond(fd.as_raw_fd());
                answered += 1;
            }
        } else if !revents.is_empty() {
            return answered; // POLLHUP: every filtered process is gone (or POLLERR/POLLNVAL)
        }
    }
}

/// [`serve`] answering ENOSPC.
fn answer_enospc(fd: RawFd) {
    serve(fd, |id| {
        libseccomp::ScmpNotifResp::new_error(
            id,
            -libc::ENOSPC,
            libseccomp::ScmpNotifRespFlags::empty(),
        )
    });
}

/// A seccomp agent: answers every notified syscall with ENOSPC; returns the state it got.
fn agent(listener: UnixListener) -> std::thread::JoinHandle<Value> {
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept the runtime");
        let (fd, state) = recv_fd(conn.as_raw_fd());
        answer_enospc(fd);
        state
    })
}

/// A seccomp agent for every process that connects (init, then each `exec`): answers each
/// notified syscall with ENOSPC; returns how many connections it served once `conns` did.
fn agent_for(listener: UnixListener, conns: usize) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let workers: Vec<_> = (0..conns)
            .map_while(|_| listener.accept().ok())
            .map(|(conn, _)| {
                std::thread::spawn(move || {
                    let (fd, _) = recv_fd(conn.as_raw_fd());
                    answer_enospc(fd);
                })
            })
            .collect();
        let n = workers.len();
        workers.into_iter().for_each(|w| drop(w.join()));
        n
    })
}

#[test]
fn notify_is_answered_by_the_agent() {
    let h = Hull::new();
    let sock = h.temp_dir().join("agent.sock");
    let handle = agent(UnixListener::bind(&sock).unwrap());
    let mut b = h.bundle();
    let mut p = profile(
        "SCMP_ACT_ALLOW",
        json!([mkdir_rule("SCMP_ACT_NOTIFY", json!({}))]),
    );
    p["listenerPath"] = json!(sock);
    p["listenerMetadata"] = json!("meta-data");
    b.config["linux"]["seccomp"] = p;
    b.root_readonly(false).sh("mkdir /tmp/x 2>&1; echo rc=$?");
    let id = h.new_id();
    let out = h.run_fg(&id, &b, &[]).ok();
    assert!(out.stdout.contains("No space left on device"), "{out}");
    assert!(!Path::new(&b.host_path("/tmp/x")).exists());
    // The agent's receive fails once the filtered processes are gone.
    hull_integration::poll(Duration::from_secs(10), "the agent to finish", || {
        handle.is_finished().then_some(())
    });
    let state = handle.join().unwrap();
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "meta-data", "{state}");
    assert_eq!(state["state"]["id"], json!(id), "{state}");
    assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{state}");
}

/// Default ERRNO, and allowed only what `sysc` needs plus `extra`.
fn only(extra: &[&str]) -> Value {
    let mut names: Vec<&str> = sysc::NEEDS.to_vec();
    names.extend_from_slice(extra);
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
    })
}

/// Run `sysc args...` (as `uid`) under `seccomp`; returns the run's output.
fn run_sysc(seccomp: Value, nnp: bool, uid: u32, args: &[&str]) -> hull_integration::Out {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["linux"]["seccomp"] = seccomp;
    b.config["process"]["noNewPrivileges"] = json!(nnp);
    b.add_sysc("/sysc", 0o4755).user(uid, uid, &[]);
    let mut argv = vec!["/sysc"];
    argv.extend_from_slice(args);
    b.args(&argv);
    h.run_fg(&h.new_id(), &b, &[])
}

/// The filter is loaded after everything hull does itself (closing fds, the start
/// handshake), right before execve: a profile that allows only what the program needs is
/// enough with noNewPrivileges, and without it only the one capset that gives up the
/// CAP_SYS_ADMIN the load needed.
#[test]
fn a_profile_allowing_only_the_program_is_enough() {
    let getpid = nr::GETPID.to_string();
    let out = run_sysc(only(&["getpid"]), true, 0, &[&getpid]).ok();
    assert!(out.stdout.contains("ret=1 errno=0"), "{out}");
    let out = run_sysc(only(&["getpid", "capset"]), false, 0, &[&getpid]).ok();
    assert!(out.stdout.contains("ret=1 errno=0"), "{out}");
    let out = run_sysc(only(&["getpid", "capset"]), false, 1000, &[&getpid]).ok();
    assert!(out.stdout.contains("ret=1 errno=0"), "{out}");
}

/// A profile does not set no_new_privs (libseccomp would, by default): without
/// noNewPrivileges a set-uid program still gains its owner's uid; with it, it does not.
#[test]
fn seccomp_does_not_force_no_new_privs() {
    let p = profile(
        "SCMP_ACT_ALLOW",
        json!([mkdir_rule("SCMP_ACT_ERRNO", json!({"errnoRet": 1}))]),
    );
    let out = run_with(
        p.clone(),
        false,
        "grep -E 'NoNewPrivs|Seccomp:' /proc/self/status",
    );
    assert!(out.contains("NoNewPrivs:\t0"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    let geteuid = nr::GETEUID.to_string();
    let out = run_sysc(p.clone(), false, 1000, &[&geteuid]).ok();
    assert!(
        out.stdout.contains("ret=0 errno=0"),
        "set-uid root ignored:\n{out}"
    );
    let out = run_sysc(p, true, 1000, &[&geteuid]).ok();
    assert!(out.stdout.contains("ret=1000 errno=0"), "{out}");
}

/// A syscall numbered above every one the profile names gets ENOSYS (so programs fall back
/// to older calls), one the profile could have named gets the default errno.
#[test]
fn syscalls_newer_than_the_profile_get_enosys() {
    for (nr, errno) in [
        (1000, libc::ENOSYS),
        (440, libc::ENOSYS),
        (110, libc::EPERM),
    ] {
        let out = run_sysc(only(&[]), true, 0, &[&nr.to_string()]).ok();
        let want = format!("ret=-1 errno={errno}");
        assert!(
            out.stdout.contains(&want),
            "syscall {nr}: want {want}:\n{out}"
        );
    }
}

/// startContainer hooks run under the container's filter (as runc's do), with and without
/// noNewPrivileges.
#[test]
fn start_container_hooks_run_under_the_filter() {
    for nnp in [true, false] {
        let h = Hull::new();
        let mut b = h.bundle();
        b.config["linux"]["seccomp"] = profile(
            "SCMP_ACT_ALLOW",
            json!([mkdir_rule("SCMP_ACT_ERRNO", json!({"errnoRet": 28}))]),
        );
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.add_hook(
            "startContainer",
            json!({"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/by-hook 2>/hook.out"]}),
        );
        b.root_readonly(false).args(&["true"]);
        let out = h.run_fg(&h.new_id(), &b, &[]);
        assert!(
            !out.success(),
            "nnp {nnp}: the failing hook fails the start:\n{out}"
        );
        assert!(b.read("/hook.out").contains("No space left"), "nnp {nnp}");
        assert!(!b.host_path("/tmp/by-hook").exists(), "nnp {nnp}");
    }
}

/// NOTIFY reaches the agent from init's startContainer hooks, from init and from every
/// exec'd process (each connects to listenerPath and sends its own notify fd), with and
/// without noNewPrivileges.
#[test]
fn notify_for_hooks_and_exec() {
    for nnp in [true, false] {
        let h = Hull::new();
        let sock = h.temp_dir().join("agent.sock");
        let handle = agent_for(UnixListener::bind(&sock).unwrap(), 2);
        let mut b = h.bundle();
        let mut p = profile(
            "SCMP_ACT_ALLOW",
            json!([mkdir_rule("SCMP_ACT_NOTIFY", json!({}))]),
        );
        p["listenerPath"] = json!(sock);
        b.config["linux"]["seccomp"] = p;
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.add_hook(
            "startContainer",
            json!({"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/h 2>/hook.out; true"]}),
        );
        b.root_readonly(false)
            .sh("mkdir /tmp/i 2>/init.out; touch /ready; exec sleep 1000");
        let id = h.new_id();
        h.create_start(&id, &b);
        let ready = b.host_path("/ready");
        hull_integration::poll(Duration::from_secs(30), "/ready", || {
            ready.exists().then_some(())
        });
        assert!(b.read("/hook.out").contains("No space left"), "nnp {nnp}");
        assert!(b.read("/init.out").contains("No space left"), "nnp {nnp}");
        let out = h
            .run(&["exec", &id, "sh", "-c", "mkdir /tmp/e 2>&1; true"])
            .ok();
        assert!(
            out.stdout.contains("No space left"),
            "nnp {nnp}: exec\n{out}"
        );
        for d in ["/tmp/h", "/tmp/i", "/tmp/e"] {
            assert!(!b.host_path(d).exists(), "nnp {nnp}: {d} was made");
        }
        h.kill(&id, Some("KILL")).ok();
        h.wait_stopped(&id);
        h.delete(&id, false).ok();
        hull_integration::poll(Duration::from_secs(10), "the agent to finish", || {
            handle.is_finished().then_some(())
        });
        assert_eq!(
            handle.join().unwrap(),
            2,
            "nnp {nnp}: init and exec connected"
        );
    }
}

/// A startContainer hook killed by the filter (SCMP_ACT_KILL) fails the run in runc's words:
/// "error running startContainer hook" ... "bad system call".
#[test]
fn a_start_container_hook_killed_by_the_filter_says_so() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["linux"]["seccomp"] = profile(
        "SCMP_ACT_ALLOW",
        json!([mkdir_rule("SCMP_ACT_KILL", json!({}))]),
    );
    b.add_hook(
        "startContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "mkdir /dev/shm/foo"]}),
    );
    b.args(&["/bin/true"]);
    let id = h.new_id();
    let out = h.run_fg(&id, &b, &[]);
    assert!(!out.success(), "{out}");
    assert!(
        out.stderr.contains("error running startContainer hook"),
        "{out}"
    );
    assert!(out.stderr.contains("bad system call"), "{out}");
    let _ = h.delete(&id, true);
}

/// `linux.seccomp.flags` as runc sets them, seen in `--debug`'s "seccomp filter flags: N"
/// (runc's words, which its tests read): TSYNC is accepted and adds nothing, no `flags` at
/// all is SPEC_ALLOW where the kernel has it, an empty list is none; the filter works in
/// every case.
#[test]
fn seccomp_flags_as_runc_sets_them() {
    let h = Hull::new();
    let features: Value =
        serde_json::from_str(&h.run(&["features"]).ok().stdout).expect("features JSON");
    let supported = features["linux"]["seccomp"]["supportedFlags"].to_string();
    let spec_allow = if supported.contains("SECCOMP_FILTER_FLAG_SPEC_ALLOW") {
        4
    } else {
        0
    };
    let cases = [
        (None, spec_allow),
        (Some(json!([])), 0),
        (Some(json!(["SECCOMP_FILTER_FLAG_TSYNC"])), 0),
        (
            Some(json!([
                "SECCOMP_FILTER_FLAG_TSYNC",
                "SECCOMP_FILTER_FLAG_LOG"
            ])),
            2,
        ),
        (
            Some(json!([
                "SECCOMP_FILTER_FLAG_LOG",
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
            ])),
            6,
        ),
    ];
    for (flags, value) in cases {
        if value & 4 != 0 && spec_allow == 0 {
            continue;
        }
        let mut b = h.bundle();
        let mut p = profile(
            "SCMP_ACT_ALLOW",
            json!([mkdir_rule("SCMP_ACT_ERRNO", json!({}))]),
        );
        if let Some(flags) = &flags {
            p["flags"] = flags.clone();
        }
        b.config["linux"]["seccomp"] = p;
        b.config["process"]["noNewPrivileges"] = json!(false);
        b.sh("mkdir /dev/shm/foo");
        b.save();
        let id = h.new_id();
        let out = h.run(&["--debug", "run", "--bundle", b.dir.to_str().unwrap(), &id]);
        assert!(!out.success(), "{flags:?}:\n{out}");
        assert!(
            out.stderr.contains("Operation not permitted"),
            "{flags:?}:\n{out}"
        );
        assert!(
            out.stderr
                .contains(&format!("seccomp filter flags: {value}\"")),
            "{flags:?}: expected {value}:\n{out}"
        );
        let _ = h.delete(&id, true);
    }
}

/// An agent that goes away (closes the notify fd) leaves the notified syscalls failing with
/// ENOSYS, never blocked: no hull process keeps a copy of the fd.
#[test]
fn notify_after_the_agent_is_gone_is_enosys() {
    let h = Hull::new();
    let sock = h.temp_dir().join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let gone = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept the runtime");
        let (fd, _) = recv_fd(conn.as_raw_fd());
        // SAFETY: the fd was just received and is owned by nothing else.
        drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    });
    let mut b = h.bundle();
    let mut p = profile(
        "SCMP_ACT_ALLOW",
        json!([mkdir_rule("SCMP_ACT_NOTIFY", json!({}))]),
    );
    p["listenerPath"] = json!(sock);
    b.config["linux"]["seccomp"] = p;
    b.root_readonly(false)
        .sh("sleep 1; mkdir /tmp/x 2>&1; echo rc=$?");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    gone.join().unwrap();
    assert!(out.stdout.contains("Function not implemented"), "{out}");
    assert!(!b.host_path("/tmp/x").exists());
}

/// NOTIFY errors in runc's words: no agent listening ("failed to connect with seccomp
/// agent"), a notified `write` refused at load; nothing is left.
#[test]
fn notify_errors_in_runc_words() {
    let h = Hull::new();
    let missing = h.temp_dir().join("nobody-listens.sock");
    for (syscall, words) in [
        ("mkdir", "failed to connect with seccomp agent"),
        (
            "write",
            "SCMP_ACT_NOTIFY cannot be used for the write syscall",
        ),
    ] {
        let mut b = h.bundle();
        let mut p = profile(
            "SCMP_ACT_ALLOW",
            json!([{"names": [syscall], "action": "SCMP_ACT_NOTIFY"}]),
        );
        p["listenerPath"] = json!(missing);
        b.config["linux"]["seccomp"] = p;
        b.args(&["/bin/true"]);
        let id = h.new_id();
        let out = h.run_fg(&id, &b, &[]);
        out.assert_error(&[]);
        assert!(out.stderr.contains(words), "{out}");
        assert_nothing_left(&h, &id, &b.dir);
    }
}

/// NOTIFY of the syscalls hull itself makes after the filter is in place (execve, openat,
/// read, close), with an agent that lets each one go on (SECCOMP_USER_NOTIF_FLAG_CONTINUE,
/// as runc's example agent does): the program runs, with and without noNewPrivileges.
#[test]
fn notify_of_hulls_own_last_syscalls_with_a_continuing_agent() {
    for nnp in [false, true] {
        let h = Hull::new();
        let sock = h.temp_dir().join("agent.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let agent = std::thread::spawn(move || {
            let (conn, _) = listener.accept().expect("accept the runtime");
            let (fd, _) = recv_fd(conn.as_raw_fd());
            serve(fd, |id| {
                libseccomp::ScmpNotifResp::new_continue(
                    id,
                    libseccomp::ScmpNotifRespFlags::CONTINUE,
                )
            })
        });
        let mut b = h.bundle();
        let mut p = profile(
            "SCMP_ACT_ALLOW",
            json!([{"names": ["execve", "openat", "open", "read", "close"], "action": "SCMP_ACT_NOTIFY"}]),
        );
        p["listenerPath"] = json!(sock);
        b.config["linux"]["seccomp"] = p;
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.args(&["/bin/echo", "ran"]);
        let out = h.run_fg(&h.new_id(), &b, &[]).ok();
        assert_eq!(out.stdout.trim(), "ran", "nnp {nnp}:\n{out}");
        hull_integration::poll(Duration::from_secs(10), "the agent to finish", || {
            agent.is_finished().then_some(())
        });
        assert!(
            agent.join().unwrap() > 0,
            "nnp {nnp}: the agent saw the execve"
        );
    }
}
