//! containerd 1.6 (Debian `containerd`) running containers on hull, through `ctr` and the
//! `io.containerd.runc.v2` shim, which calls hull exactly as it calls runc:
//! `hull --root <runc-root>/<ns> --log <bundle>/log.json --log-format json create --bundle …
//! --pid-file … <id>`, then `start`, `state`, `exec --process … --detach`, `ps --format json`,
//! `pause`, `resume`, `kill`, `delete`.
//!
//! Each test starts its own `containerd` (own config, root, state, sockets, under a temp dir;
//! no CRI) and imports a docker-archive image built here from the busybox rootfs.

mod common;

use common::*;
use hull_integration::{hull_only, Out};
use std::cell::RefCell;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

struct Containerd {
    sock: PathBuf,
    /// The containerd namespace: also the parent cgroup of every container (`/<ns>/<id>`).
    ns: String,
    /// Given to the shim as `--runc-root`; hull's `--root` is `<it>/<ns>`.
    runc_root: PathBuf,
    image: Image,
    ids: RefCell<Vec<String>>,
    daemon: Daemon,
    tmp: TempDir,
}

impl Containerd {
    /// Starts containerd, or None (the test is skipped) when it cannot be installed.
    fn start(test: &str) -> Option<Containerd> {
        if !ensure(
            &["containerd", "ctr", "containerd-shim-runc-v2"],
            &["containerd"],
            test,
        ) {
            return None;
        }
        let tmp = TempDir::new("ctrd");
        let sock = tmp.join("containerd.sock");
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = "{sock}.debug"
  level = "debug"
[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
"#,
            root = tmp.join("root").display(),
            state = tmp.join("state").display(),
            sock = sock.display(),
            opt = tmp.join("opt").display(),
        );
        std::fs::write(tmp.join("config.toml"), config).unwrap();
        let mut daemon = Daemon::spawn(
            "containerd",
            Command::new("containerd")
                .arg("--config")
                .arg(tmp.join("config.toml")),
            tmp.join("containerd.log"),
        );
        let io = tmp.0.clone();
        let s = sock.clone();
        daemon.wait_ready(|| {
            s.exists()
                && run(
                    Command::new("ctr").arg("-a").arg(&s).arg("version"),
                    &io,
                    TIMEOUT,
                )
                .success()
        });
        let image = build_image(tmp.path());
        let c = Containerd {
            sock,
            ns: name("ns"),
            runc_root: tmp.join("runc-root"),
            image,
            ids: RefCell::default(),
            daemon,
            tmp,
        };
        let mut import = c.ctr(&["images", "import"]);
        import.arg(&c.image.archive);
        c.run(&mut import).ok();
        Some(c)
    }

    /// `ctr -a <sock> -n <ns> <args>` (not run).
    fn ctr(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("-a")
            .arg(&self.sock)
            .arg("-n")
            .arg(&self.ns)
            .args(args);
        cmd
    }

    #[track_caller]
    fn run(&self, cmd: &mut Command) -> Out {
        run(cmd, self.tmp.path(), TIMEOUT)
    }

    /// `ctr <args>` run to completion.
    #[track_caller]
    fn ctr_run(&self, args: &[&str]) -> Out {
        self.run(&mut self.ctr(args))
    }

    /// A new container id, cleaned up at the end.
    fn new_id(&self) -> String {
        let id = name("ctr");
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// The flags that make the shim use hull.
    fn runtime_flags(&self) -> Vec<String> {
        vec![
            "--runc-binary".into(),
            hull().to_string_lossy().into_owned(),
            "--runc-root".into(),
            self.runc_root.to_string_lossy().into_owned(),
        ]
    }

    /// `ctr run <runtime flags> <flags> <image-or-rootfs> <id> <command...>`.
    fn ctr_run_container(&self, flags: &[&str], image: &str, id: &str, command: &[&str]) -> Out {
        let mut cmd = self.ctr(&["run"]);
        cmd.args(self.runtime_flags())
            .args(flags)
            .arg(image)
            .arg(id)
            .args(command);
        self.run(&mut cmd)
    }

    /// `hull --root <runc-root>/<ns> <args>`: hull's own view of the shim's containers.
    fn hull(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(hull());
        cmd.arg("--root")
            .arg(self.runc_root.join(&self.ns))
            .args(args);
        self.run(&mut cmd)
    }

    fn hull_status(&self, id: &str) -> String {
        let out = self.hull(&["state", id]).ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("hull state {id}: {e}:\n{out}"));
        v["status"].as_str().unwrap_or_default().to_string()
    }

    /// The task's `(pid, STATUS)` from `ctr task ls`.
    fn task(&self, id: &str) -> Option<(i64, String)> {
        let out = self.ctr_run(&["task", "ls"]).ok();
        out.stdout.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[0] == id).then(|| (f[1].parse().unwrap_or(-1), f[2].to_string()))
        })
    }

    #[track_caller]
    fn wait_task_status(&self, id: &str, status: &str) {
        hull_integration::poll(
            Duration::from_secs(30),
            &format!("task {id} {status}"),
            || self.task(id).filter(|(_, s)| s == status).map(drop),
        );
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let io = self.tmp.path().to_path_buf();
        for id in self.ids.borrow().iter() {
            for args in [
                vec!["task", "kill", "-a", "-s", "KILL", id],
                vec!["task", "delete", "-f", id],
                vec!["container", "delete", id],
            ] {
                let _ = run(&mut self.ctr(&args), &io, Duration::from_secs(30));
            }
        }
        let _ = run(
            &mut self.ctr(&["images", "rm", IMAGE_REF]),
            &io,
            Duration::from_secs(30),
        );
        self.daemon.stop();
        // a shim of a failed test outlives containerd: stop it, and what it left to hull
        kill_cmdline(&self.sock.to_string_lossy());
        for id in self.ids.borrow().iter() {
            let mut cmd = Command::new(hull());
            cmd.arg("--root")
                .arg(self.runc_root.join(&self.ns))
                .args(["delete", "--force", id]);
            let _ = run(&mut cmd, &io, Duration::from_secs(30));
        }
        remove_cgroups(&self.ns);
        if std::thread::panicking() {
            eprintln!("containerd log:\n{}", self.daemon.log_text());
        }
    }
}

#[test]
fn ctr_run_image() {
    let Some(c) = Containerd::start("containerd/ctr_run_image") else {
        return;
    };
    let id = c.new_id();
    let out = c
        .ctr_run_container(
            &["--rm"],
            IMAGE_REF,
            &id,
            &[
                "sh",
                "-c",
                "echo hello from $(cat /etc/hostname); echo pid=$$; cat /proc/self/cgroup",
            ],
        )
        .ok();
    assert!(out.stdout.contains("hello from busybox"), "{out}");
    assert!(
        out.stdout.contains("pid=1\n"),
        "not PID 1 of its namespace:\n{out}"
    );
    assert!(
        out.stdout.contains(&format!("/{}/{id}", c.ns)),
        "not in the cgroup ctr asked for:\n{out}"
    );
    assert!(c.task(&id).is_none(), "--rm left the task");
    assert!(
        hull_integration::leaks::state_dirs_in(&c.runc_root.join(&c.ns)).is_empty(),
        "hull state left after ctr run --rm"
    );
}

#[test]
fn ctr_run_rootfs() {
    let Some(c) = Containerd::start("containerd/ctr_run_rootfs") else {
        return;
    };
    let id = c.new_id();
    let rootfs = c.image.rootfs.to_string_lossy().into_owned();
    // with --rootfs ctr sets no environment: name the program by its path (runc alike)
    let out = c
        .ctr_run_container(
            &["--rm", "--rootfs"],
            &rootfs,
            &id,
            &["/bin/sh", "-c", "echo rootfs ok; ls /bin/busybox"],
        )
        .ok();
    assert!(out.stdout.contains("rootfs ok\n/bin/busybox"), "{out}");
}

/// What the shim does with a running task: exec, ps, pause, resume, kill, delete.
#[test]
fn ctr_task_lifecycle() {
    let Some(c) = Containerd::start("containerd/ctr_task_lifecycle") else {
        return;
    };
    let id = c.new_id();
    c.ctr_run_container(
        &["-d"],
        IMAGE_REF,
        &id,
        &[
            "sh",
            "-c",
            "trap 'echo got TERM; exit 7' TERM; while true; do sleep 0.2; done",
        ],
    )
    .ok();
    let (pid, status) = c.task(&id).expect("task listed");
    assert_eq!(status, "RUNNING");
    // hull holds the container: its state agrees
    assert_eq!(c.hull_status(&id), "running");
    let state: serde_json::Value =
        serde_json::from_str(&c.hull(&["state", &id]).ok().stdout).unwrap();
    assert_eq!(state["pid"].as_i64(), Some(pid), "{state}");

    // exec: output, exit status, the cwd flag (ctr 1.6 has no --env for exec)
    let out = c
        .ctr_run(&[
            "task",
            "exec",
            "--exec-id",
            "e1",
            "--cwd",
            "/tmp",
            &id,
            "sh",
            "-c",
            "echo hi from $(pwd); exit 0",
        ])
        .ok();
    assert!(out.stdout.contains("hi from /tmp"), "{out}");
    let out = c.ctr_run(&["task", "exec", "--exec-id", "e2", &id, "sh", "-c", "exit 5"]);
    assert_eq!(out.code(), Some(5), "exec's exit status:\n{out}");

    // ps: the shim runs `hull ps --format json`
    let out = c.ctr_run(&["task", "ps", &id]).ok();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&pid.to_string())),
        "init pid {pid} not in ctr task ps:\n{out}"
    );

    // pause / resume
    c.ctr_run(&["task", "pause", &id]).ok();
    c.wait_task_status(&id, "PAUSED");
    assert_eq!(c.hull_status(&id), "paused");
    c.ctr_run(&["task", "resume", &id]).ok();
    c.wait_task_status(&id, "RUNNING");
    assert_eq!(c.hull_status(&id), "running");

    // kill (TERM, caught) and the exit status containerd records
    c.ctr_run(&["task", "kill", "-s", "SIGTERM", &id]).ok();
    c.wait_task_status(&id, "STOPPED");
    let out = c.ctr_run(&["task", "delete", &id]).ok();
    assert!(
        out.stderr.contains("exit code 7"),
        "exit status not 7:\n{out}"
    );
    c.ctr_run(&["container", "delete", &id]).ok();
    assert!(c.task(&id).is_none());
    assert!(
        !c.runc_root.join(&c.ns).join(&id).exists(),
        "hull's state dir left after ctr task delete"
    );

    // kill --all of a container with several processes, then delete
    let id2 = c.new_id();
    c.ctr_run_container(
        &["-d"],
        IMAGE_REF,
        &id2,
        &["sh", "-c", "sleep 1000 & sleep 1000"],
    )
    .ok();
    c.ctr_run(&["task", "kill", "-a", "-s", "KILL", &id2]).ok();
    c.wait_task_status(&id2, "STOPPED");
    c.ctr_run(&["task", "delete", &id2]).ok();
    c.ctr_run(&["container", "delete", &id2]).ok();
    assert!(!c.runc_root.join(&c.ns).join(&id2).exists());
}

#[test]
fn ctr_run_tty() {
    let Some(c) = Containerd::start("containerd/ctr_run_tty") else {
        return;
    };
    if !ensure(&["python3"], &["python3"], "containerd/ctr_run_tty") {
        return;
    }
    let id = c.new_id();
    let mut argv: Vec<String> = ["ctr", "-a"].map(String::from).to_vec();
    argv.push(c.sock.to_string_lossy().into_owned());
    argv.extend([
        "-n".into(),
        c.ns.clone(),
        "run".into(),
        "--rm".into(),
        "-t".into(),
    ]);
    argv.extend(c.runtime_flags());
    argv.extend([IMAGE_REF.into(), id.clone()]);
    argv.extend(["sh", "-c", "echo READY; exec sh"].map(String::from));
    assert_tty_shell(&argv, c.tmp.path());
}

/// hull's error message, written to the shim's `--log` as JSON, reaches the ctr user.
#[test]
fn ctr_error_reaches_user() {
    let Some(c) = Containerd::start("containerd/ctr_error_reaches_user") else {
        return;
    };
    let id = c.new_id();
    let out = c
        .ctr_run_container(&["--rm"], IMAGE_REF, &id, &["/no/such/program"])
        .fail();
    assert!(out.stderr.contains("/no/such/program"), "{out}");
    assert!(
        out.stderr.contains("no such file or directory"),
        "hull's message is not in ctr's error:\n{out}"
    );
    assert!(
        out.stderr.contains(hull_only(&format!("create {id}:"))),
        "hull's message is not in ctr's error:\n{out}"
    );
    assert!(c.task(&id).is_none());
    assert!(!c.runc_root.join(&c.ns).join(&id).exists());

    // the same through exec
    let id2 = c.new_id();
    c.ctr_run_container(&["-d"], IMAGE_REF, &id2, &["sleep", "1000"])
        .ok();
    let out = c
        .ctr_run(&["task", "exec", "--exec-id", "bad", &id2, "/no/such/program"])
        .fail();
    assert!(out.stderr.contains("/no/such/program"), "{out}");
    assert!(
        out.stderr.contains("no such file or directory"),
        "hull's message is not in ctr's error:\n{out}"
    );
}

/// A container that signals its own process group (`kill 0`, `trap 'kill 0' EXIT`) reaches
/// only itself: the shim lives on and ctr reports the container's own exit status.
#[test]
fn ctr_kill_zero_stays_in_the_container() {
    let Some(mut c) = Containerd::start("containerd/ctr_kill_zero_stays_in_the_container") else {
        return;
    };
    let run = |flags: &[&str], id: &str, script: &str| {
        c.ctr_run_container(flags, IMAGE_REF, id, &["sh", "-c", script])
    };
    let out = run(&["--rm"], &c.new_id(), "trap 'kill 0' EXIT; exit 5");
    assert_eq!(out.code(), Some(5), "{out}");
    // PID 1 of the namespace ignores the signal; a child of it dies of it
    let out = run(&["--rm"], &c.new_id(), "sh -c 'kill -KILL 0'; exit $?");
    assert_eq!(out.code(), Some(137), "{out}");

    let id = c.new_id();
    run(&["-d"], &id, "kill -KILL 0; exec sleep 1000").ok();
    let exec = |exec_id: &str, script: &str| {
        c.ctr_run(&[
            "task",
            "exec",
            "--exec-id",
            exec_id,
            &id,
            "sh",
            "-c",
            script,
        ])
    };
    let out = exec("k1", "kill -KILL 0");
    assert_eq!(out.code(), Some(137), "{out}");
    exec("k2", "true").ok();
    c.wait_task_status(&id, "RUNNING");
    assert_eq!(c.hull_status(&id), "running");
    c.daemon.assert_alive();
}
