//! Rootless podman 4.3 (Debian `podman`, with `uidmap`'s newuidmap/newgidmap and
//! `slirp4netns`) running containers on hull, as the unprivileged user `hulltest` (see
//! `support/rootless.rs`; its `/etc/subuid` and `/etc/subgid` range maps the image's ids).
//! podman runs conmon and hull as root in its own user namespace, passing no `--root`: hull
//! finds its state in `$XDG_RUNTIME_DIR/hull` and, without a delegated cgroup, runs the
//! container without one.
//!
//! Each test has its own `HOME`, config, storage (graph root, run root) and
//! `XDG_RUNTIME_DIR` (under `/run/hull-it/`, where the leak check looks), the image loaded
//! from a local docker-archive. At the end the containers are removed, and podman's pause
//! process (which holds its user namespace) and any conmon left are killed by pid.

mod common;

use common::*;
use hull_integration::rootless::{join_cgroup_on_exec, sub_range, Delegated, TestUser};
use hull_integration::userns::map_lines;
use hull_integration::Out;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

struct Podman {
    user: TestUser,
    xdg: PathBuf,
    /// The user's own dir in `tmp` (its HOME, config, storage).
    home: PathBuf,
    /// Every podman command runs in this cgroup (v2, delegated to the user).
    cgroup: Option<PathBuf>,
    tmp: TempDir,
}

impl Podman {
    fn new(test: &str) -> Option<Podman> {
        Podman::in_cgroup(test, None)
    }

    /// [`Podman::new`], every podman command (the first, which starts podman's pause
    /// process, too) run in `cgroup`.
    fn in_cgroup(test: &str, cgroup: Option<PathBuf>) -> Option<Podman> {
        if !ensure(
            &["podman", "conmon", "newuidmap", "newgidmap", "slirp4netns"],
            &["podman", "uidmap", "slirp4netns", "catatonit"],
            test,
        ) {
            return None;
        }
        let user = TestUser::get();
        if sub_range("/etc/subuid").is_none() || sub_range("/etc/subgid").is_none() {
            skipped(
                test,
                &["uidmap"],
                "the test user has no /etc/subuid or /etc/subgid range",
            );
            return None;
        }
        let tmp = TempDir::new("podman-rl");
        let image = build_image(tmp.path());
        let home = tmp.join("user");
        // a tmp of its own: the v2 guest's /var/tmp is read-only
        std::fs::create_dir_all(home.join("tmp")).unwrap();
        std::fs::write(
            home.join("containers.conf"),
            format!(
                r#"[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{home}/events.log"
image_copy_tmp_dir = "{home}/tmp"
"#,
                home = home.display(),
            ),
        )
        .unwrap();
        std::fs::write(
            home.join("registries.conf"),
            "unqualified-search-registries = []\n",
        )
        .unwrap();
        hull_integration::userns::chown_tree(&home, user.uid, user.gid);
        let xdg = user.runtime_dir();
        let p = Podman {
            user,
            xdg,
            home,
            cgroup,
            tmp,
        };
        let mut load = p.podman(&["load", "-i"]);
        load.arg(&image.archive);
        p.run(&mut load).ok();
        Some(p)
    }

    /// `podman --root … --runroot … --runtime <hull> <args>` as the user, with its own
    /// configuration.
    fn podman(&self, args: &[&str]) -> Command {
        let mut cmd = self.user.command(Some(&self.xdg), "podman");
        let home = &self.home;
        cmd.env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("CONTAINERS_CONF", home.join("containers.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", home.join("registries.conf"))
            .env("TMPDIR", home.join("tmp"))
            .current_dir(home)
            .arg("--root")
            .arg(home.join("storage"))
            .arg("--runroot")
            .arg(home.join("run"))
            .arg("--runtime")
            .arg(hull())
            .args(args);
        if let Some(cg) = &self.cgroup {
            join_cgroup_on_exec(&mut cmd, cg);
        }
        cmd
    }

    #[track_caller]
    fn run(&self, cmd: &mut Command) -> Out {
        run(cmd, self.tmp.path(), TIMEOUT)
    }

    #[track_caller]
    fn p(&self, args: &[&str]) -> Out {
        self.run(&mut self.podman(args))
    }

    /// `podman run --rm <flags> IMAGE sh -c <script>`.
    #[track_caller]
    fn sh(&self, flags: &[&str], script: &str) -> Out {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[IMAGE_REF, "sh", "-c", script]);
        self.p(&args)
    }

    #[track_caller]
    fn status(&self, name: &str) -> String {
        let out = self
            .p(&[
                "inspect",
                "--format",
                "{{.State.Status}} {{.State.ExitCode}}",
                name,
            ])
            .ok();
        out.stdout.trim().to_string()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let io = self.tmp.path().to_path_buf();
        let _ = run(
            &mut self.podman(&["rm", "--all", "--force", "--time", "0"]),
            &io,
            Duration::from_secs(60),
        );
        // podman's pause process holds its user namespace (and the storage mounts in it)
        let pause = self.xdg.join("libpod/tmp/pause.pid");
        if let Some(pid) = std::fs::read_to_string(pause)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            // SAFETY: kill(2) of the pid podman recorded for its pause process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // conmons (their args name our dirs), left by a failed test
        kill_cmdline(&self.home.to_string_lossy());
        kill_cmdline(&self.xdg.to_string_lossy());
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.home.join("events.log")).unwrap_or_default();
            eprintln!("podman events:\n{log}");
        }
        let _ = std::fs::remove_dir_all(&self.xdg);
    }
}

#[test]
fn rootless_podman_run_exit_codes_and_state_root() {
    let Some(p) = Podman::new("podman_rootless/run_exit_codes_and_state_root") else {
        return;
    };
    let out = p
        .sh(
            &["--network", "none"],
            "echo hello from rootless podman; echo pid=$$; id -u",
        )
        .ok();
    assert!(
        out.stdout
            .contains("hello from rootless podman\npid=1\n0\n"),
        "{out}"
    );
    let out = p.sh(&["--network", "none"], "exit 7");
    assert_eq!(out.code(), Some(7), "the exit code is kept:\n{out}");
    let out = p.p(&[
        "run",
        "--rm",
        "--network",
        "none",
        IMAGE_REF,
        "/no/such/program",
    ]);
    assert_eq!(out.code(), Some(127), "a missing command:\n{out}");
    assert!(out.stderr.contains("/no/such/program"), "{out}");

    // a detached container: hull's state is in $XDG_RUNTIME_DIR/hull, the container's
    // processes are the user's (and its subordinate ids') on the host
    let out = p
        .p(&["run", "-d", "--network", "none", IMAGE_REF, "sleep", "1000"])
        .ok();
    let id = out.stdout.trim().to_string();
    let state = p.xdg.join("hull").join(&id).join("state.json");
    assert!(state.exists(), "{} missing", state.display());
    let runtime = p.p(&["inspect", "--format", "{{.OCIRuntime}}", &id]).ok();
    assert_eq!(runtime.stdout.trim(), hull().to_string_lossy(), "{runtime}");
    let pid = p.p(&["inspect", "--format", "{{.State.Pid}}", &id]).ok();
    let pid = pid.stdout.trim();
    let meta = std::fs::metadata(format!("/proc/{pid}")).unwrap();
    assert_eq!(
        meta.uid(),
        p.user.uid,
        "container root is the user on the host"
    );
    p.p(&["rm", "--force", "--time", "0", &id]).ok();
    assert!(!state.exists(), "hull's state left after podman rm");
}

#[test]
fn rootless_podman_users_and_id_maps() {
    let Some(p) = Podman::new("podman_rootless/users_and_id_maps") else {
        return;
    };
    let out = p
        .sh(&["--network", "none", "-u", "1000:1000"], "id -u; id -g")
        .ok();
    assert_eq!(out.stdout, "1000\n1000\n", "{out}");

    let out = p
        .sh(
            &["--network", "none", "--userns=keep-id"],
            "id -u; cat /proc/self/uid_map",
        )
        .ok();
    assert!(
        out.stdout.starts_with(&format!("{}\n", p.user.uid)),
        "--userns=keep-id runs as the user's own uid:\n{out}"
    );
    let maps = map_lines(&out.stdout);
    assert!(
        maps.contains(&vec![p.user.uid as u64, 0, 1]),
        "the user's uid is mapped to itself (podman's namespace 0):\n{out}"
    );

    let out = p
        .sh(
            &[
                "--network",
                "none",
                "--uidmap",
                "0:0:2000",
                "--gidmap",
                "0:0:2000",
            ],
            "cat /proc/self/uid_map",
        )
        .ok();
    let maps = map_lines(&out.stdout);
    assert_eq!(
        maps.first().map(|l| l[..2].to_vec()),
        Some(vec![0, 0]),
        "container 0 is podman's 0 (the user):\n{out}"
    );
    let sizes: u64 = maps.iter().map(|l| l[2]).sum();
    assert_eq!(sizes, 2000, "--uidmap 0:0:2000 maps 2000 ids:\n{out}");
}

#[test]
fn rootless_podman_caps_and_seccomp() {
    let Some(p) = Podman::new("podman_rootless/caps_and_seccomp") else {
        return;
    };
    let out = p
        .sh(
            &[
                "--network",
                "none",
                "--cap-drop",
                "all",
                "--cap-add",
                "net_raw",
            ],
            "grep -E '^Cap(Eff|Bnd):' /proc/self/status",
        )
        .ok();
    assert!(
        out.stdout.contains("CapEff:\t0000000000002000"),
        "only CAP_NET_RAW:\n{out}"
    );
    assert!(out.stdout.contains("CapBnd:\t0000000000002000"), "{out}");
    let out = p
        .sh(&["--network", "none"], "grep Seccomp: /proc/self/status")
        .ok();
    assert!(
        out.stdout.contains("Seccomp:\t2"),
        "podman's default profile:\n{out}"
    );
    let out = p
        .sh(
            &["--network", "none", "--security-opt", "seccomp=unconfined"],
            "grep Seccomp: /proc/self/status",
        )
        .ok();
    assert!(out.stdout.contains("Seccomp:\t0"), "{out}");
}

#[test]
fn rootless_podman_read_only_and_tmpfs() {
    let Some(p) = Podman::new("podman_rootless/read_only_and_tmpfs") else {
        return;
    };
    // --read-only: podman adds tmpfs mounts with tmpcopyup on /tmp, /var/tmp and /run
    let out = p
        .sh(
            &["--network", "none", "--read-only"],
            "touch /x 2>&1; touch /tmp/y && echo tmp-writable",
        )
        .ok();
    assert!(out.stdout.contains("Read-only file system"), "{out}");
    assert!(out.stdout.contains("tmp-writable"), "{out}");
    let out = p
        .sh(
            &["--network", "none", "--tmpfs", "/scratch:size=1m"],
            "grep ' /scratch ' /proc/self/mounts; echo a > /scratch/a && echo scratch-writable",
        )
        .ok();
    assert!(out.stdout.contains("tmpfs /scratch tmpfs"), "{out}");
    assert!(out.stdout.contains("size=1024k"), "{out}");
    assert!(out.stdout.contains("scratch-writable"), "{out}");
}

#[test]
fn rootless_podman_network_none() {
    let Some(p) = Podman::new("podman_rootless/network_none") else {
        return;
    };
    let out = p.sh(&["--network", "none"], "ls /sys/class/net").ok();
    assert_eq!(out.stdout.trim(), "lo", "--network none: only lo\n{out}");
}

/// podman's default rootless network. (Not in the v2 guest: it has no /dev/net/tun.)
#[test]
fn rootless_podman_slirp4netns() {
    let Some(p) = Podman::new("podman_rootless/slirp4netns") else {
        return;
    };
    let out = p
        .sh(
            &["--network", "slirp4netns"],
            "ip -4 addr show tap0; ip route; ls /sys/class/net",
        )
        .ok();
    assert!(
        out.stdout.contains("inet 10.0.2.100/24"),
        "slirp4netns's tap0:\n{out}"
    );
    assert!(out.stdout.contains("default via 10.0.2.2"), "{out}");
}

#[test]
fn rootless_podman_init_and_volumes() {
    let Some(p) = Podman::new("podman_rootless/init_and_volumes") else {
        return;
    };
    let out = p
        .p(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--init",
            IMAGE_REF,
            "cat",
            "/proc/1/cmdline",
        ])
        .ok();
    assert!(
        out.stdout.contains("podman-init"),
        "--init: PID 1 is podman's init:\n{out}"
    );

    let vol = p.home.join("vol");
    std::fs::create_dir(&vol).unwrap();
    std::fs::write(vol.join("in"), "from the host\n").unwrap();
    hull_integration::userns::chown_tree(&vol, p.user.uid, p.user.gid);
    let bind = format!("{}:/vol", vol.display());
    let out = p
        .sh(
            &["--network", "none", "-v", &bind],
            "cat /vol/in; echo from the container > /vol/out",
        )
        .ok();
    assert!(out.stdout.contains("from the host"), "{out}");
    let made = vol.join("out");
    assert_eq!(
        std::fs::read_to_string(&made).unwrap_or_default(),
        "from the container\n"
    );
    assert_eq!(
        std::fs::metadata(&made).unwrap().uid(),
        p.user.uid,
        "container root writes as the user"
    );
}

#[test]
fn rootless_podman_exec_top_kill_start_stop() {
    let Some(p) = Podman::new("podman_rootless/exec_top_kill_start_stop") else {
        return;
    };
    let name = "hit-rl-lifecycle";
    p.p(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        name,
        IMAGE_REF,
        "sleep",
        "1000",
    ])
    .ok();
    let out = p
        .p(&[
            "exec",
            "-e",
            "GREETING=hi",
            name,
            "sh",
            "-c",
            "echo $GREETING; ps",
        ])
        .ok();
    assert!(out.stdout.starts_with("hi\n"), "{out}");
    assert!(out.stdout.contains("sleep 1000"), "{out}");
    let out = p.p(&["exec", name, "sh", "-c", "exit 4"]);
    assert_eq!(out.code(), Some(4), "{out}");
    let out = p.p(&["exec", "-u", "1000", name, "id", "-u"]).ok();
    assert_eq!(out.stdout.trim(), "1000", "{out}");
    let out = p.p(&["top", name]).ok();
    assert!(out.stdout.contains("sleep 1000"), "{out}");

    p.p(&["kill", "--signal", "KILL", name]).ok();
    hull_integration::poll(Duration::from_secs(30), "the container to exit", || {
        let st = p.status(name);
        (st.ends_with(" 137") && !st.starts_with("running")).then_some(())
    });
    p.p(&["start", name]).ok();
    assert_eq!(p.status(name), "running 0");
    // sleep as PID 1 ignores TERM: podman stop falls back to KILL after the timeout
    p.p(&["stop", "--time", "1", name]).ok();
    assert_eq!(p.status(name), "exited 137");
    p.p(&["rm", name]).ok();
}

#[test]
fn rootless_podman_tty() {
    let Some(p) = Podman::new("podman_rootless/tty") else {
        return;
    };
    let argv = env_argv(&p.podman(&[
        "run",
        "--rm",
        "-it",
        "--network",
        "none",
        IMAGE_REF,
        "sh",
        "-c",
        "echo READY; exec sh",
    ]));
    assert_tty_shell(&argv, p.tmp.path());
}

/// On cgroup v2 with a subtree delegated to the user (as systemd's user slice is), podman
/// and hull use it: limits, `pause`/`unpause` and `stats` work rootless. (In the v2 guest.)
#[test]
fn rootless_podman_delegated_cgroup_v2_limits_pause_stats() {
    if !hull_integration::cgroup_v2_only() {
        eprintln!("skipped: not a cgroup v2 host (make test-v2 runs it in the v2 guest)");
        return;
    }
    let delegated = Delegated::new(&TestUser::get());
    let test = "podman_rootless/delegated_cgroup_v2_limits_pause_stats";
    let Some(p) = Podman::in_cgroup(test, Some(delegated.session.clone())) else {
        return;
    };
    let out = p
        .sh(
            &["--network", "none", "--memory", "64m", "--pids-limit", "50"],
            "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max",
        )
        .ok();
    assert_eq!(out.stdout, "67108864\n50\n", "{out}");
    assert!(!out.stderr.contains("without a cgroup"), "{out}");

    let name = "hit-rl-paused";
    p.p(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        name,
        IMAGE_REF,
        "sleep",
        "1000",
    ])
    .ok();
    p.p(&["pause", name]).ok();
    assert!(p.status(name).starts_with("paused"), "{}", p.status(name));
    p.p(&["unpause", name]).ok();
    assert!(p.status(name).starts_with("running"), "{}", p.status(name));
    let stats = p.p(&["stats", "--no-stream", name]).ok();
    assert!(stats.stdout.contains(name), "{stats}");
    p.p(&["rm", "--force", "--time", "0", name]).ok();
    drop(p);
    drop(delegated);
}
