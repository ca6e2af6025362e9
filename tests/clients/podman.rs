//! podman 4.3 (Debian `podman`) running containers on hull: `podman --runtime <hull> …`, with
//! conmon calling hull as it calls runc (`create --bundle … --pid-file … --console-socket …`,
//! `start`, `exec --process … --detach`, `kill`, `delete`, `pause`, `resume`, `update`).
//!
//! Each test has its own storage (graph root and run root), its own `containers.conf`
//! (cgroupfs, file events, the ulimits this machine allows: no CAP_SYS_RESOURCE here) and its
//! own CNI config dir whose default network "podman" is a bridge of the test's own
//! (`hullpN`, a /24 of 10.233.0.0/16), deleted at the end. No masquerading, port mapping or
//! firewall plugin: the tests need no way out, and the host's iptables stay untouched.

mod common;

use common::*;
use hull_integration::Out;
use std::process::Command;

struct Podman {
    /// Reserved for this test; deleted (with its reservation) when dropped.
    _bridge: Bridge,
    subnet_prefix: String,
    cgroup_parent: String,
    names: std::cell::RefCell<Vec<String>>,
    image: Image,
    tmp: TempDir,
}

impl Podman {
    fn new(test: &str) -> Option<Podman> {
        if !ensure(
            &["podman", "conmon", "/usr/lib/cni/bridge"],
            &["podman", "containernetworking-plugins"],
            test,
        ) {
            return None;
        }
        let tmp = TempDir::new("podman");
        let bridge = Bridge::reserve("hullp");
        let n = bridge.n;
        let subnet_prefix = format!("10.233.{n}");
        let cni = tmp.join("cni");
        std::fs::create_dir_all(&cni).unwrap();
        let conflist = serde_json::json!({
            "cniVersion": "0.4.0",
            "name": "podman",
            "plugins": [
                {"type": "bridge", "bridge": bridge.name, "isGateway": true, "ipMasq": false,
                 "hairpinMode": true,
                 "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
                          "ranges": [[{"subnet": format!("{subnet_prefix}.0/24"),
                                       "gateway": format!("{subnet_prefix}.1")}]],
                          "dataDir": tmp.join("cni-ipam")}},
                {"type": "tuning"}
            ]
        });
        std::fs::write(cni.join("87-podman-bridge.conflist"), conflist.to_string()).unwrap();
        std::fs::write(
            tmp.join("containers.conf"),
            format!(
                r#"[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{tmp}/events.log"
tmp_dir = "{tmp}/libpod-tmp"
volume_path = "{tmp}/volumes"
[network]
network_backend = "cni"
network_config_dir = "{cni}"
cni_plugin_dirs = ["/usr/lib/cni"]
"#,
                tmp = tmp.path().display(),
                cni = cni.display(),
            ),
        )
        .unwrap();
        std::fs::write(
            tmp.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"overlay\"\ngraphroot = \"{0}/storage\"\nrunroot = \"{0}/run\"\n",
                tmp.path().display()
            ),
        )
        .unwrap();
        std::fs::write(
            tmp.join("registries.conf"),
            "unqualified-search-registries = []\n",
        )
        .unwrap();
        let image = build_image(tmp.path());
        let p = Podman {
            _bridge: bridge,
            subnet_prefix,
            cgroup_parent: name("podman"),
            names: Default::default(),
            image,
            tmp,
        };
        let mut load = p.podman(&["load", "-i"]);
        load.arg(&p.image.archive);
        p.run(&mut load).ok();
        Some(p)
    }

    /// `podman --root … --runroot … --runtime <hull> <args>` with the test's own configuration.
    fn podman(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", self.tmp.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.tmp.join("storage.conf"))
            .env(
                "CONTAINERS_REGISTRIES_CONF",
                self.tmp.join("registries.conf"),
            )
            .arg("--root")
            .arg(self.tmp.join("storage"))
            .arg("--runroot")
            .arg(self.tmp.join("run"))
            .arg("--runtime")
            .arg(hull())
            .args(args);
        cmd
    }

    /// [`Podman::podman`] as an argv (`env K=V … podman …`), for the pty driver.
    fn args_vec(&self, args: &[&str]) -> Vec<String> {
        env_argv(&self.podman(args))
    }

    #[track_caller]
    fn run(&self, cmd: &mut Command) -> Out {
        run(cmd, self.tmp.path(), TIMEOUT)
    }

    #[track_caller]
    fn p(&self, args: &[&str]) -> Out {
        self.run(&mut self.podman(args))
    }

    /// A container name, removed at the end.
    fn new_name(&self) -> String {
        let n = name("pod");
        self.names.borrow_mut().push(n.clone());
        n
    }

    /// `podman run --cgroup-parent <ours> <flags>`.
    #[track_caller]
    fn podman_run(&self, flags: &[&str]) -> Out {
        let mut args = vec!["run", "--cgroup-parent", &self.cgroup_parent];
        args.extend_from_slice(flags);
        self.p(&args)
    }

    fn rootfs(&self) -> String {
        self.image.rootfs.to_string_lossy().into_owned()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let io = self.tmp.path().to_path_buf();
        let quiet = |args: &[&str]| {
            let _ = run(
                &mut self.podman(args),
                &io,
                std::time::Duration::from_secs(60),
            );
        };
        quiet(&["rm", "--all", "--force", "--time", "0"]);
        quiet(&["rmi", "--all", "--force"]);
        // what a failed test may have left: conmon (its args name our run root), hull's state
        kill_cmdline(&self.tmp.path().to_string_lossy());
        remove_cgroups(&self.cgroup_parent);
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.tmp.join("events.log")).unwrap_or_default();
            eprintln!("podman events:\n{log}");
        }
    }
}

#[test]
fn podman_run_rootfs() {
    let Some(p) = Podman::new("podman/podman_run_rootfs") else {
        return;
    };
    let rootfs = p.rootfs();
    let out = p
        .podman_run(&[
            "--rm",
            "--network",
            "none",
            "--rootfs",
            &rootfs,
            "/bin/sh",
            "-c",
            "echo hello from podman; echo pid=$$; ls /sys/class/net",
        ])
        .ok();
    assert!(out.stdout.contains("hello from podman\npid=1\n"), "{out}");
    assert_eq!(
        out.stdout.lines().last(),
        Some("lo"),
        "--network none: only lo\n{out}"
    );
}

#[test]
fn podman_image_and_bridge_network() {
    let Some(p) = Podman::new("podman/podman_image_and_bridge_network") else {
        return;
    };
    // an imported rootfs tarball, on the default bridge network
    let mut import = p.podman(&["import"]);
    import
        .arg(&p.image.rootfs_tar)
        .arg("localhost/hull-imported:latest");
    p.run(&mut import).ok();
    let gw = format!("{}.1", p.subnet_prefix);
    let out = p
        .podman_run(&[
            "--rm",
            "localhost/hull-imported:latest",
            "/bin/sh",
            "-c",
            &format!("ip -4 addr show eth0; ip route; ping -c 1 -W 5 {gw}"),
        ])
        .ok();
    assert!(
        out.stdout.contains(&format!("inet {}.", p.subnet_prefix)),
        "no address of the bridge's subnet:\n{out}"
    );
    assert!(out.stdout.contains(&format!("default via {gw}")), "{out}");
    assert!(
        out.stdout.contains("1 packets received"),
        "gateway not reachable:\n{out}"
    );
    // the loaded docker-archive image, without network
    let out = p
        .podman_run(&[
            "--rm",
            "--network",
            "none",
            IMAGE_REF,
            "cat",
            "/etc/hostname",
        ])
        .ok();
    assert!(!out.stdout.trim().is_empty(), "{out}");
}

#[test]
fn podman_exec_and_lifecycle() {
    let Some(p) = Podman::new("podman/podman_exec_and_lifecycle") else {
        return;
    };
    let name = p.new_name();
    p.podman_run(&["-d", "--name", &name, IMAGE_REF, "sleep", "1000"])
        .ok();
    let runtime = p.p(&["inspect", "--format", "{{.OCIRuntime}}", &name]).ok();
    assert_eq!(runtime.stdout.trim(), hull().to_string_lossy(), "{runtime}");

    let out = p
        .p(&[
            "exec",
            "-e",
            "GREETING=hi",
            "-w",
            "/tmp",
            &name,
            "sh",
            "-c",
            "echo $GREETING from $(pwd); ps",
        ])
        .ok();
    assert!(out.stdout.contains("hi from /tmp"), "{out}");
    assert!(out.stdout.contains("sleep 1000"), "{out}");
    let out = p.p(&["exec", &name, "sh", "-c", "exit 4"]);
    assert_eq!(out.code(), Some(4), "{out}");
    let out = p.p(&["exec", &name, "/no/such/program"]);
    assert!(!out.success(), "{out}");
    assert!(out.stderr.contains("/no/such/program"), "{out}");

    let out = p.p(&["top", &name]).ok();
    assert!(out.stdout.contains("sleep 1000"), "{out}");

    p.p(&["pause", &name]).ok();
    let st = p
        .p(&["inspect", "--format", "{{.State.Status}}", &name])
        .ok();
    assert_eq!(st.stdout.trim(), "paused");
    p.p(&["unpause", &name]).ok();
    let st = p
        .p(&["inspect", "--format", "{{.State.Status}}", &name])
        .ok();
    assert_eq!(st.stdout.trim(), "running");

    // sleep as PID 1 ignores TERM: podman stop falls back to KILL after the timeout
    p.p(&["stop", "--time", "1", &name]).ok();
    let st = p
        .p(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            &name,
        ])
        .ok();
    assert_eq!(st.stdout.trim(), "exited 137", "{st}");
    p.p(&["rm", &name]).ok();
}

#[test]
fn podman_run_tty() {
    let Some(p) = Podman::new("podman/podman_run_tty") else {
        return;
    };
    let argv = p.args_vec(&[
        "run",
        "--rm",
        "-it",
        "--network",
        "none",
        "--cgroup-parent",
        &p.cgroup_parent,
        IMAGE_REF,
        "sh",
        "-c",
        "echo READY; exec sh",
    ]);
    assert_tty_shell(&argv, p.tmp.path());
}

#[test]
fn podman_limits_and_seccomp() {
    let Some(p) = Podman::new("podman/podman_limits_and_seccomp") else {
        return;
    };
    let script = "if [ -f /sys/fs/cgroup/cgroup.controllers ]; then \
                    cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; \
                  else \
                    cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; \
                  fi; grep -E 'Seccomp:|NoNewPrivs:' /proc/self/status; ulimit -n";
    let out = p
        .podman_run(&[
            "--rm",
            "--network",
            "none",
            "--memory",
            "64m",
            "--pids-limit",
            "77",
            IMAGE_REF,
            "sh",
            "-c",
            script,
        ])
        .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"67108864"), "--memory 64m:\n{out}");
    assert_eq!(lines.get(1), Some(&"77"), "--pids-limit 77:\n{out}");
    assert!(
        out.stdout.contains("Seccomp:\t2"),
        "podman's default seccomp profile is not active:\n{out}"
    );
    // the profile does not force no_new_privs: set-uid programs (su, sudo) keep working
    assert!(
        out.stdout.contains("NoNewPrivs:\t0"),
        "no_new_privs set without --security-opt no-new-privileges:\n{out}"
    );
    assert_eq!(lines.last(), Some(&"1024"), "--ulimit nofile:\n{out}");
}

/// hull's message reaches the podman user, and podman maps it to exit status 127 as it
/// does runc's.
#[test]
fn podman_error_reaches_user() {
    let Some(p) = Podman::new("podman/podman_error_reaches_user") else {
        return;
    };
    let out = p.podman_run(&["--rm", "--network", "none", IMAGE_REF, "/no/such/program"]);
    assert!(!out.success(), "{out}");
    assert!(out.stderr.contains("/no/such/program"), "{out}");
    assert!(
        out.stderr.contains("no such file or directory"),
        "hull's message is not in podman's error:\n{out}"
    );
    assert_eq!(
        out.code(),
        Some(127),
        "podman's exit status for a missing command:\n{out}"
    );
}

/// A container that signals its own process group (`kill 0`, `trap 'kill 0' EXIT`) reaches
/// only itself: conmon lives on and podman reports the container's own exit status, quickly.
#[test]
fn podman_kill_zero_stays_in_the_container() {
    let Some(p) = Podman::new("podman/podman_kill_zero_stays_in_the_container") else {
        return;
    };
    let run = |flags: &[&str], script: &str| {
        let mut args = vec!["--network", "none"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[IMAGE_REF, "sh", "-c", script]);
        p.podman_run(&args)
    };
    let started = std::time::Instant::now();
    let out = run(&["--rm", "--timeout", "60"], "trap 'kill 0' EXIT; exit 5");
    assert_eq!(out.code(), Some(5), "{out}");
    assert!(
        started.elapsed().as_secs() < 15,
        "took {:?}",
        started.elapsed()
    );
    // PID 1 of the namespace ignores the signal; a child of it dies of it
    let out = run(&["--rm"], "sh -c 'kill -KILL 0'; exit $?");
    assert_eq!(out.code(), Some(137), "{out}");
    // --timeout stops the container (TERM runs the trap's kill 0), and podman says so soon
    let started = std::time::Instant::now();
    let out = run(
        &["--rm", "--timeout", "2"],
        "trap 'kill 0' EXIT; sleep 100 & wait",
    );
    assert!(!out.success(), "{out}");
    assert!(
        started.elapsed().as_secs() < 15,
        "took {:?}\n{out}",
        started.elapsed()
    );

    let name = p.new_name();
    run(&["-d", "--name", &name], "kill -KILL 0; exec sleep 1000").ok();
    let out = p.p(&["exec", &name, "sh", "-c", "kill -KILL 0"]);
    assert_eq!(out.code(), Some(137), "{out}");
    p.p(&["exec", &name, "true"]).ok();
    let st = p
        .p(&["inspect", "--format", "{{.State.Status}}", &name])
        .ok();
    assert_eq!(st.stdout.trim(), "running", "{st}");
    p.p(&["rm", "--force", "--time", "0", &name]).ok();
}

/// `--read-only` (tmpfs /tmp, /var/tmp and /run, all `tmpcopyup`), `--tmpfs` over an image
/// directory (its contents copied in) and `--mount type=tmpfs` with size and mode.
#[test]
fn podman_read_only_and_tmpfs() {
    let Some(p) = Podman::new("podman/podman_read_only_and_tmpfs") else {
        return;
    };
    let script = "touch /tmp/t && echo tmp=writable; touch /var/tmp/t && echo vartmp=writable; \
                  touch /etc/x 2>/dev/null || echo root=readonly; \
                  echo env=$(readlink /usr/bin/env); touch /usr/bin/new && echo usrbin=writable; \
                  echo scratch=$(stat -c %a /scratch); \
                  grep -E ' /(tmp|usr/bin|scratch) ' /proc/self/mountinfo";
    let out = p
        .podman_run(&[
            "--rm",
            "--network",
            "none",
            "--read-only",
            "--tmpfs",
            "/usr/bin",
            "--mount",
            "type=tmpfs,destination=/scratch,tmpfs-size=1m,tmpfs-mode=1770",
            IMAGE_REF,
            "sh",
            "-c",
            script,
        ])
        .ok();
    for want in [
        "tmp=writable",
        "vartmp=writable",
        "root=readonly",
        "env=/bin/busybox",
        "usrbin=writable",
        "scratch=1770",
    ] {
        assert!(
            out.stdout.lines().any(|l| l == want),
            "missing {want:?}:\n{out}"
        );
    }
    for dest in ["/tmp", "/usr/bin", "/scratch"] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains(&format!(" {dest} ")) && l.contains(" - tmpfs ")),
            "{dest} is not a tmpfs:\n{out}"
        );
    }
}

/// `podman info` reports the runtime's `--version` text as its version.
#[test]
fn podman_info_shows_hulls_version() {
    let Some(p) = Podman::new("podman/podman_info_shows_hulls_version") else {
        return;
    };
    let (text, _) = hull_version();
    let out = p.p(&["info", "--format", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("podman info is not JSON ({e}): {out}"));
    let rt = &v["host"]["ociRuntime"];
    assert_eq!(rt["path"], hull().to_string_lossy().as_ref(), "{out}");
    let version = rt["version"].as_str().unwrap_or("");
    assert_eq!(version.trim(), text, "{out}");
    assert!(version.starts_with("hull version 0."), "{out}");
}

/// A bind with `bind-propagation=rshared` of a shared host directory: a mount the container
/// makes under it appears on the host (podman gives hull `rshared` on the mount and on `/`).
#[test]
fn podman_rshared_bind() {
    let Some(p) = Podman::new("podman/podman_rshared_bind") else {
        return;
    };
    let host = p.tmp.join("shared");
    let _shared = hull_integration::mountinfo::HostMount::shared_bind(&host);
    let inner = host.join("inner");
    std::fs::create_dir_all(&inner).unwrap();
    let _inner = hull_integration::mountinfo::HostMount(inner.clone());
    let mount = format!(
        "type=bind,source={},destination=/shared,bind-propagation=rshared",
        host.display()
    );
    p.podman_run(&[
        "--rm",
        "--network",
        "none",
        "--cap-add",
        "SYS_ADMIN",
        "--mount",
        &mount,
        IMAGE_REF,
        "sh",
        "-c",
        "mount -t tmpfs tmpfs /shared/inner && echo made > /shared/inner/inside",
    ])
    .ok();
    assert!(
        hull_integration::mountinfo::host_has_mount(&inner),
        "the container's mount did not reach the host"
    );
    assert_eq!(
        std::fs::read_to_string(inner.join("inside")).unwrap_or_default(),
        "made\n"
    );
}
