//! docker 20.10 (Debian `docker.io`) running containers on hull: `dockerd --add-runtime
//! hull=<hull>` and `docker run --runtime hull`, through dockerd's own containerd and the
//! `io.containerd.runc.v2` shim (which calls hull as it calls runc).
//!
//! Each test starts its own `dockerd`: own config file, data root, exec root, socket, pid
//! file, cgroup parent (`hit-docker-…`), and a bridge it creates beforehand (`hulldN`, a /24
//! of 10.234.0.0/16; no iptables rules: `--iptables=false --ip-masq=false`). Everything is
//! stopped by pid and removed at the end.

mod common;

use common::*;
use hull_integration::Out;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

struct Docker {
    sock: PathBuf,
    /// Reserved for this test; deleted (with its reservation) when dropped.
    _bridge: Bridge,
    subnet_prefix: String,
    cgroup_parent: String,
    image: Image,
    daemon: Daemon,
    tmp: TempDir,
}

/// The image `docker import` makes of the rootfs tarball.
const IMPORTED: &str = "hull-imported:latest";

impl Docker {
    fn start(test: &str) -> Option<Docker> {
        if !ensure(
            &["dockerd", "docker", "ip"],
            &["docker.io", "iproute2"],
            test,
        ) {
            return None;
        }
        let tmp = TempDir::new("docker");
        // a bridge of our own (docker is told to use it, and creates none)
        let bridge = Bridge::reserve("hulld");
        let subnet_prefix = format!("10.234.{}", bridge.n);
        let ip = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().expect("run ip");
            assert!(st.success(), "ip {args:?} failed");
        };
        ip(&["link", "add", &bridge.name, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("{subnet_prefix}.1/24"),
            "dev",
            &bridge.name,
        ]);
        ip(&["link", "set", &bridge.name, "up"]);

        let sock = tmp.join("docker.sock");
        std::fs::write(tmp.join("daemon.json"), "{}\n").unwrap();
        let cgroup_parent = name("docker");
        let mut cmd = Command::new("dockerd");
        cmd.arg("--config-file")
            .arg(tmp.join("daemon.json"))
            .arg("--data-root")
            .arg(tmp.join("data"))
            .arg("--exec-root")
            .arg(tmp.join("exec"))
            .arg("--pidfile")
            .arg(tmp.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args([
                "--bridge",
                &bridge.name,
                "--iptables=false",
                "--ip-masq=false",
            ])
            .arg("--add-runtime")
            .arg(format!("hull={}", hull().display()))
            // dockerd asks its default runtime for `--version` (docker info / version)
            .args(["--default-runtime", "hull"])
            .args(["--default-ulimit", "nofile=1024:1024"])
            .args(["--default-ulimit", "nproc=4096:4096"])
            .args(["--exec-opt", "native.cgroupdriver=cgroupfs"])
            .args(["--cgroup-parent", &format!("/{cgroup_parent}")])
            .args(["--storage-driver", "overlay2"]);
        let mut daemon = Daemon::spawn("dockerd", &mut cmd, tmp.join("dockerd.log"));
        daemon.grace = Duration::from_secs(30);
        let image = build_image(tmp.path());
        let mut d = Docker {
            sock,
            _bridge: bridge,
            subnet_prefix,
            cgroup_parent,
            image,
            daemon,
            tmp,
        };
        let (s, io) = (d.sock.clone(), d.tmp.path().to_path_buf());
        let client = d.docker(&["version"]);
        d.daemon
            .wait_ready(|| s.exists() && run(&mut clone_cmd(&client), &io, TIMEOUT).success());
        let mut import = d.docker(&["import"]);
        import.arg(&d.image.rootfs_tar).arg(IMPORTED);
        d.run(&mut import).ok();
        Some(d)
    }

    /// `docker -H unix://<sock> <args>`, with a client config dir of the test's own.
    fn docker(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_CONFIG", self.tmp.join("client"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args);
        cmd
    }

    #[track_caller]
    fn run(&self, cmd: &mut Command) -> Out {
        run(cmd, self.tmp.path(), TIMEOUT)
    }

    #[track_caller]
    fn d(&self, args: &[&str]) -> Out {
        self.run(&mut self.docker(args))
    }
}

fn clone_cmd(c: &Command) -> Command {
    let mut n = Command::new(c.get_program());
    n.args(c.get_args());
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            n.env(k, v);
        }
    }
    n
}

impl Drop for Docker {
    fn drop(&mut self) {
        let io = self.tmp.path().to_path_buf();
        let ids = run(
            &mut self.docker(&["ps", "-aq"]),
            &io,
            Duration::from_secs(60),
        );
        for id in ids.stdout.split_whitespace() {
            let _ = run(
                &mut self.docker(&["rm", "-f", id]),
                &io,
                Duration::from_secs(60),
            );
        }
        let _ = run(
            &mut self.docker(&["rmi", "-f", IMPORTED]),
            &io,
            Duration::from_secs(60),
        );
        self.daemon.stop();
        // dockerd's containerd and shims (their args name our exec root / data root)
        kill_cmdline(&self.tmp.path().to_string_lossy());
        remove_cgroups(&self.cgroup_parent);
        if std::thread::panicking() {
            eprintln!("dockerd log:\n{}", self.daemon.log_text());
        }
    }
}

#[test]
fn docker_run_bridge_and_seccomp() {
    let Some(d) = Docker::start("docker/docker_run_bridge_and_seccomp") else {
        return;
    };
    let gw = format!("{}.1", d.subnet_prefix);
    let out = d
        .d(&[
            "run",
            "--rm",
            "--runtime",
            "hull",
            IMPORTED,
            "sh",
            "-c",
            &format!(
                "echo hello from docker; echo pid=$$; ip -4 addr show eth0; ip route; \
                 ping -c 1 -W 5 {gw}; grep Seccomp: /proc/self/status; cat /proc/self/cgroup"
            ),
        ])
        .ok();
    assert!(out.stdout.contains("hello from docker\npid=1\n"), "{out}");
    assert!(
        out.stdout.contains(&format!("inet {}.", d.subnet_prefix)),
        "no address on the bridge's subnet:\n{out}"
    );
    assert!(out.stdout.contains(&format!("default via {gw}")), "{out}");
    assert!(
        out.stdout.contains("1 packets received"),
        "gateway not reachable:\n{out}"
    );
    assert!(
        out.stdout.contains("Seccomp:\t2"),
        "docker's default seccomp profile is not active:\n{out}"
    );
    assert!(
        out.stdout.contains(&format!("/{}/", d.cgroup_parent)),
        "not in the daemon's cgroup parent:\n{out}"
    );
    // --network none
    let out = d
        .d(&[
            "run",
            "--rm",
            "--runtime",
            "hull",
            "--network",
            "none",
            IMPORTED,
            "ls",
            "/sys/class/net",
        ])
        .ok();
    assert_eq!(out.stdout.trim(), "lo", "{out}");
}

#[test]
fn docker_exec_limits_and_lifecycle() {
    let Some(d) = Docker::start("docker/docker_exec_limits_and_lifecycle") else {
        return;
    };
    let name = name("dock");
    d.d(&[
        "run",
        "-d",
        "--name",
        &name,
        "--runtime",
        "hull",
        "--memory",
        "64m",
        "--pids-limit",
        "77",
        IMPORTED,
        "sleep",
        "1000",
    ])
    .ok();
    let rt = d
        .d(&["inspect", "-f", "{{.HostConfig.Runtime}}", &name])
        .ok();
    assert_eq!(rt.stdout.trim(), "hull");

    let script = "if [ -f /sys/fs/cgroup/cgroup.controllers ]; then \
                    cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; \
                  else \
                    cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; \
                  fi; echo $GREETING from $(pwd); ps";
    let out = d
        .d(&[
            "exec",
            "-e",
            "GREETING=hi",
            "-w",
            "/tmp",
            &name,
            "sh",
            "-c",
            script,
        ])
        .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"67108864"), "--memory 64m:\n{out}");
    assert_eq!(lines.get(1), Some(&"77"), "--pids-limit 77:\n{out}");
    assert!(out.stdout.contains("hi from /tmp"), "{out}");
    assert!(out.stdout.contains("sleep 1000"), "{out}");
    let out = d.d(&["exec", &name, "sh", "-c", "exit 4"]);
    assert_eq!(out.code(), Some(4), "{out}");
    // hull's message for exec reaches the user
    let out = d.d(&["exec", &name, "/no/such/program"]);
    assert!(!out.success(), "{out}");
    assert!(
        out.stdout.contains("no such file or directory")
            || out.stderr.contains("no such file or directory"),
        "{out}"
    );

    let out = d.d(&["top", &name]).ok();
    assert!(out.stdout.contains("sleep 1000"), "{out}");
    d.d(&["pause", &name]).ok();
    assert_eq!(
        d.d(&["inspect", "-f", "{{.State.Status}}", &name])
            .ok()
            .stdout
            .trim(),
        "paused"
    );
    d.d(&["unpause", &name]).ok();
    assert_eq!(
        d.d(&["inspect", "-f", "{{.State.Status}}", &name])
            .ok()
            .stdout
            .trim(),
        "running"
    );
    // docker update goes through `hull update`
    d.d(&["update", "--memory", "96m", "--memory-swap", "-1", &name])
        .ok();
    let out = d
        .d(&["exec", &name, "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"])
        .ok();
    assert_eq!(
        out.stdout.trim(),
        "100663296",
        "docker update --memory 96m:\n{out}"
    );
    // sleep as PID 1 ignores TERM: docker stop kills it after the timeout
    d.d(&["stop", "-t", "1", &name]).ok();
    let st = d
        .d(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            &name,
        ])
        .ok();
    assert_eq!(st.stdout.trim(), "exited 137", "{st}");
    d.d(&["rm", &name]).ok();
}

#[test]
fn docker_run_tty() {
    let Some(d) = Docker::start("docker/docker_run_tty") else {
        return;
    };
    let cmd = d.docker(&[
        "run",
        "--rm",
        "-it",
        "--runtime",
        "hull",
        "--network",
        "none",
        IMPORTED,
        "sh",
        "-c",
        "echo READY; exec sh",
    ]);
    assert_tty_shell(&env_argv(&cmd), d.tmp.path());
}

/// hull's message reaches the docker user, and docker maps it to exit status 127 as it
/// does runc's.
#[test]
fn docker_error_reaches_user() {
    let Some(d) = Docker::start("docker/docker_error_reaches_user") else {
        return;
    };
    let out = d.d(&[
        "run",
        "--rm",
        "--runtime",
        "hull",
        "--network",
        "none",
        IMPORTED,
        "/no/such/program",
    ]);
    assert!(!out.success(), "{out}");
    assert!(out.stderr.contains("/no/such/program"), "{out}");
    assert!(
        out.stderr.contains("no such file or directory"),
        "hull's message is not in docker's error:\n{out}"
    );
    assert_eq!(
        out.code(),
        Some(127),
        "docker's exit status for a missing command:\n{out}"
    );
}

/// A container that signals its own process group (`kill 0`, `trap 'kill 0' EXIT`) reaches
/// only itself: the shim lives on and docker reports the container's own exit status.
#[test]
fn docker_kill_zero_stays_in_the_container() {
    let Some(mut d) = Docker::start("docker/docker_kill_zero_stays_in_the_container") else {
        return;
    };
    let run = |flags: &[&str], script: &str| {
        let mut args = vec!["run", "--runtime", "hull", "--network", "none"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[IMPORTED, "sh", "-c", script]);
        d.d(&args)
    };
    let out = run(&["--rm"], "trap 'kill 0' EXIT; exit 5");
    assert_eq!(out.code(), Some(5), "{out}");
    // PID 1 of the namespace ignores the signal; a child of it dies of it
    let out = run(&["--rm"], "sh -c 'kill -KILL 0'; exit $?");
    assert_eq!(out.code(), Some(137), "{out}");

    let c = name("kz");
    run(&["-d", "--name", &c], "kill -KILL 0; exec sleep 1000").ok();
    let out = d.d(&["exec", &c, "sh", "-c", "kill -KILL 0"]);
    assert_eq!(out.code(), Some(137), "{out}");
    d.d(&["exec", &c, "true"]).ok();
    let st = d.d(&["inspect", "-f", "{{.State.Status}}", &c]).ok();
    assert_eq!(st.stdout.trim(), "running", "{st}");
    d.d(&["rm", "-f", &c]).ok();
    d.daemon.assert_alive();
}

/// dockerd parses `<default runtime> --version` for `docker info` (runc commit) and `docker
/// version` (the runtime's component): hull's runc-shaped output gives both, without the
/// "failed to parse … version" warning.
#[test]
fn docker_info_and_version_show_hulls_version() {
    let Some(d) = Docker::start("docker/docker_info_and_version_show_hulls_version") else {
        return;
    };
    let (text, commit) = hull_version();
    assert!(!commit.is_empty(), "{text}");
    let info = d.d(&["info", "--format", "{{json .}}"]).ok();
    let v: serde_json::Value = serde_json::from_str(info.stdout.trim())
        .unwrap_or_else(|e| panic!("docker info is not JSON ({e}): {info}"));
    assert_eq!(v["DefaultRuntime"], "hull", "{info}");
    assert_eq!(v["RuncCommit"]["ID"], commit.as_str(), "{info}");
    let ver = d
        .d(&["version", "--format", "{{json .Server.Components}}"])
        .ok();
    let comps: serde_json::Value =
        serde_json::from_str(ver.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {ver}"));
    let hull = comps
        .as_array()
        .and_then(|a| a.iter().find(|c| c["Name"] == "hull"))
        .unwrap_or_else(|| panic!("no hull component: {ver}"));
    assert_eq!(hull["Version"], env!("CARGO_PKG_VERSION"), "{ver}");
    assert_eq!(hull["Details"]["GitCommit"], commit.as_str(), "{ver}");
    let log = d.daemon.log_text();
    assert!(!log.contains("failed to parse"), "dockerd warned:\n{log}");
}

/// `--mount type=bind,...,bind-propagation=rshared` of a shared host directory: a mount the
/// container makes under it appears on the host; `--read-only` with `--tmpfs` works too.
#[test]
fn docker_rshared_bind_and_tmpfs() {
    let Some(d) = Docker::start("docker/docker_rshared_bind_and_tmpfs") else {
        return;
    };
    let host = d.tmp.join("shared");
    let _shared = hull_integration::mountinfo::HostMount::shared_bind(&host);
    let inner = host.join("inner");
    std::fs::create_dir_all(&inner).unwrap();
    let _inner = hull_integration::mountinfo::HostMount(inner.clone());
    let mount = format!(
        "type=bind,source={},destination=/shared,bind-propagation=rshared",
        host.display()
    );
    let out = d
        .d(&[
            "run",
            "--rm",
            "--runtime",
            "hull",
            "--network",
            "none",
            "--cap-add",
            "SYS_ADMIN",
            "--security-opt",
            "apparmor=unconfined",
            "--read-only",
            "--tmpfs",
            "/scratch:size=1m",
            "--mount",
            &mount,
            IMPORTED,
            "sh",
            "-c",
            "mount -t tmpfs tmpfs /shared/inner && echo made > /shared/inner/inside; \
             touch /scratch/x && echo scratch=writable",
        ])
        .ok();
    assert!(out.stdout.contains("scratch=writable"), "{out}");
    assert!(
        hull_integration::mountinfo::host_has_mount(&inner),
        "the container's mount did not reach the host:\n{out}"
    );
    assert_eq!(
        std::fs::read_to_string(inner.join("inside")).unwrap_or_default(),
        "made\n"
    );
}
