//! What the kubelet calls: containerd 1.6's CRI plugin with a runtime handler `hull` whose
//! `BinaryName` is hull, driven over the CRI gRPC API (`runtime.v1.RuntimeService`) by a small
//! Python client (`cri/cri_client.py`, Debian's python3-grpcio, and `cri/api.proto`, the
//! part of the CRI API it needs). Pod networking is the bridge CNI plugin (Debian's
//! containernetworking-plugins) on a bridge of the test's own (`hullcN`, a /24 of
//! 10.235.0.0/16, no masquerading).
//!
//! Each test starts its own containerd (own config, root, state, socket; CNI conf dir, IPAM
//! data dir, runtime root and pod cgroup parent of its own; `restrict_oom_score_adj`, as this
//! machine lacks CAP_SYS_RESOURCE), imports a local pause image and the busybox image into
//! the `k8s.io` namespace, and removes every pod, the bridge and the cgroups at the end.

mod common;

use common::*;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::path::PathBuf;
use std::process::Command;

const PYTHON: &str = "/usr/bin/python3";
const PAUSE_REF: &str = "localhost/hull-pause:latest";

struct Cri {
    sock: PathBuf,
    /// The shim's runtime root (`Root` option): hull's `--root` is `<it>/k8s.io`.
    hull_root: PathBuf,
    /// Reserved for this test; deleted (with its reservation) when dropped.
    _bridge: Bridge,
    subnet_prefix: String,
    cgroup_parent: String,
    /// `SystemdCgroup = true`: hull runs with `--systemd-cgroup`, pods go in a slice.
    systemd: bool,
    pods: RefCell<Vec<String>>,
    daemon: Daemon,
    tmp: TempDir,
}

/// The CRI client's Python modules are there (installing Debian's packages if need be).
fn ensure_grpc(test: &str) -> bool {
    let ok = || {
        Command::new(PYTHON)
            .args(["-c", "import grpc, grpc_tools, google.protobuf"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ok() {
        return true;
    }
    let packages = ["python3-grpcio", "python3-grpc-tools"];
    let why = apt_install(&packages);
    if ok() {
        return true;
    }
    skipped(test, &packages, &why);
    false
}

impl Cri {
    fn start(test: &str) -> Option<Cri> {
        Cri::start_with(test, false)
    }

    /// With `systemd`, the runtime's `SystemdCgroup = true` and the pods' cgroup parent a
    /// kubelet-style pod slice (`kubepods-besteffort-pod<uid>.slice`); needs systemd as PID 1.
    fn start_with(test: &str, systemd: bool) -> Option<Cri> {
        if systemd && !std::path::Path::new("/run/systemd/system").is_dir() {
            eprintln!("{test}: skipped: systemd is not PID 1 here (run `make test-systemd`)");
            return None;
        }
        if !ensure(
            &[
                "containerd",
                "ctr",
                "containerd-shim-runc-v2",
                "/usr/lib/cni/bridge",
                "ip",
            ],
            &["containerd", "containernetworking-plugins", "iproute2"],
            test,
        ) || !ensure_grpc(test)
        {
            return None;
        }
        let tmp = TempDir::new("cri");
        let bridge = Bridge::reserve("hullc");
        let n = bridge.n;
        let subnet_prefix = format!("10.235.{n}");
        let cni = tmp.join("cni");
        std::fs::create_dir_all(&cni).unwrap();
        std::fs::create_dir_all(tmp.join("logs")).unwrap();
        let conflist = json!({
            "cniVersion": "0.4.0",
            "name": "hull-cri",
            "plugins": [{
                "type": "bridge", "bridge": bridge.name, "isGateway": true, "ipMasq": false,
                "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
                         "ranges": [[{"subnet": format!("{subnet_prefix}.0/24")}]],
                         "dataDir": tmp.join("ipam")}
            }]
        });
        std::fs::write(cni.join("10-hull.conflist"), conflist.to_string()).unwrap();
        let sock = tmp.join("containerd.sock");
        let hull_root = tmp.join("hull-root");
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  level = "debug"
[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "hull"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hull]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hull.options]
        BinaryName = "{hull}"
        Root = "{hull_root}"
        SystemdCgroup = {systemd}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
"#,
            root = tmp.join("root").display(),
            state = tmp.join("state").display(),
            sock = sock.display(),
            opt = tmp.join("opt").display(),
            pause = PAUSE_REF,
            hull = hull().display(),
            hull_root = hull_root.display(),
            cni = cni.display(),
        );
        let cgroup_parent = if systemd {
            format!(
                "kubepods-besteffort-pod{}.slice",
                name("").replace('-', "_")
            )
        } else {
            name("cri")
        };
        std::fs::write(tmp.join("config.toml"), config).unwrap();
        let mut daemon = Daemon::spawn(
            "containerd (CRI)",
            Command::new("containerd")
                .arg("--config")
                .arg(tmp.join("config.toml")),
            tmp.join("containerd.log"),
        );
        let (s, io) = (sock.clone(), tmp.0.clone());
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
        let pause = tmp.join("pause.tar");
        docker_archive(
            &image.rootfs_tar,
            &pause,
            PAUSE_REF,
            &["/bin/sleep", "2147483647"],
            &[],
        );
        let c = Cri {
            sock,
            hull_root,
            _bridge: bridge,
            subnet_prefix,
            cgroup_parent,
            systemd,
            pods: RefCell::default(),
            daemon,
            tmp,
        };
        for archive in [&pause, &image.archive] {
            let mut import = Command::new("ctr");
            import
                .arg("-a")
                .arg(&c.sock)
                .args(["-n", "k8s.io", "images", "import"])
                .arg(archive);
            run(&mut import, c.tmp.path(), TIMEOUT).ok();
        }
        Some(c)
    }

    /// Calls `RuntimeService/<method>`; the response, or the gRPC error object.
    fn try_call(&self, method: &str, request: Value) -> Result<Value, Value> {
        let mut cmd = Command::new(PYTHON);
        cmd.arg(hull_integration::workspace_dir().join("tests/clients/cri/cri_client.py"))
            .arg("--socket")
            .arg(&self.sock)
            .arg("--gen")
            .arg(self.tmp.join("gen"))
            .arg(method)
            .arg(request.to_string());
        let out = run(&mut cmd, self.tmp.path(), TIMEOUT);
        let v: Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("CRI client output is not JSON ({e}):\n{out}"));
        match v.get("error") {
            Some(e) => Err(e.clone()),
            None => Ok(v),
        }
    }

    #[track_caller]
    fn call(&self, method: &str, request: Value) -> Value {
        self.try_call(method, request)
            .unwrap_or_else(|e| panic!("CRI {method} failed: {e}"))
    }

    /// A pod sandbox config named `name`, logs in our temp dir, cgroups under ours.
    fn sandbox_config(&self, name: &str) -> Value {
        json!({
            "metadata": {"name": name, "uid": format!("uid-{name}"), "namespace": "hull-test", "attempt": 0},
            "hostname": "hullpod",
            "log_directory": self.tmp.join("logs"),
            "linux": {
                "cgroup_parent": if self.systemd {
                    self.cgroup_parent.clone()
                } else {
                    format!("/{}", self.cgroup_parent)
                },
                "security_context": {"namespace_options": {"network": "POD", "pid": "CONTAINER", "ipc": "POD"}}
            }
        })
    }

    /// RunPodSandbox with the `hull` handler; the pod is removed at the end.
    #[track_caller]
    fn run_pod(&self, config: &Value) -> String {
        let resp = self.call(
            "RunPodSandbox",
            json!({"config": config, "runtime_handler": "hull"}),
        );
        let id = resp["pod_sandbox_id"]
            .as_str()
            .expect("pod_sandbox_id")
            .to_string();
        self.pods.borrow_mut().push(id.clone());
        id
    }

    /// hull's view: `hull --root <Root>/k8s.io state <id>`'s status, None if unknown to it.
    fn hull_status(&self, id: &str) -> Option<String> {
        let mut cmd = Command::new(hull());
        cmd.arg("--root")
            .arg(self.hull_root.join("k8s.io"))
            .args(["state", id]);
        let out = run(&mut cmd, self.tmp.path(), TIMEOUT);
        if !out.success() {
            return None;
        }
        let v: Value = serde_json::from_str(&out.stdout).ok()?;
        v["status"].as_str().map(String::from)
    }
}

impl Drop for Cri {
    fn drop(&mut self) {
        // as the kubelet would: stop and remove every pod (its containers go with it)
        for pod in self.pods.borrow().iter() {
            let _ = self.try_call("StopPodSandbox", json!({"pod_sandbox_id": pod}));
            let _ = self.try_call("RemovePodSandbox", json!({"pod_sandbox_id": pod}));
        }
        self.daemon.stop();
        kill_cmdline(&self.sock.to_string_lossy());
        // what hull may still hold after a failed test
        for dir in hull_integration::leaks::state_dirs_in(&self.hull_root.join("k8s.io")) {
            let id = dir.file_name().unwrap().to_string_lossy().into_owned();
            let mut cmd = Command::new(hull());
            cmd.arg("--root")
                .arg(self.hull_root.join("k8s.io"))
                .args(["delete", "--force", &id]);
            let _ = run(
                &mut cmd,
                self.tmp.path(),
                std::time::Duration::from_secs(30),
            );
        }
        if self.systemd {
            let _ = Command::new("systemctl")
                .args(["stop", &self.cgroup_parent])
                .status();
        } else {
            remove_cgroups(&self.cgroup_parent);
        }
        if std::thread::panicking() {
            eprintln!("containerd log:\n{}", self.daemon.log_text());
        }
    }
}

#[test]
fn cri_pod_lifecycle() {
    let Some(c) = Cri::start("cri/cri_pod_lifecycle") else {
        return;
    };
    let v = c.call("Version", json!({}));
    assert_eq!(v["runtime_api_version"], "v1", "{v}");
    let st = c.call("Status", json!({}));
    for cond in st["status"]["conditions"].as_array().expect("conditions") {
        assert_eq!(cond["status"], true, "runtime condition not ready: {st}");
    }

    // the pod: a pause container run by hull, on the bridge network
    let sandbox = c.sandbox_config("hit-pod");
    let pod = c.run_pod(&sandbox);
    let ps = c.call("PodSandboxStatus", json!({"pod_sandbox_id": pod}));
    assert_eq!(ps["status"]["state"], "SANDBOX_READY", "{ps}");
    assert_eq!(ps["status"]["runtime_handler"], "hull", "{ps}");
    let ip = ps["status"]["network"]["ip"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        ip.starts_with(&format!("{}.", c.subnet_prefix)),
        "pod IP {ip:?} not on the CNI bridge's subnet: {ps}"
    );
    assert_eq!(
        c.hull_status(&pod).as_deref(),
        Some("running"),
        "hull does not hold the pod"
    );

    // a container in it
    let config = json!({
        "metadata": {"name": "c1"},
        "image": {"image": IMAGE_REF},
        "command": ["sh", "-c", "trap 'exit 7' TERM; echo started on $(hostname); while :; do sleep 0.2; done"],
        "envs": [{"key": "GREETING", "value": "hi"}],
        "log_path": "c1.log",
        "linux": {
            "resources": {"memory_limit_in_bytes": 67108864},
            "security_context": {"namespace_options": {"network": "POD", "pid": "CONTAINER", "ipc": "POD"}}
        }
    });
    let created = c.call(
        "CreateContainer",
        json!({"pod_sandbox_id": pod, "config": config, "sandbox_config": sandbox}),
    );
    let cid = created["container_id"]
        .as_str()
        .expect("container_id")
        .to_string();
    c.call("StartContainer", json!({"container_id": cid}));
    let cs = c.call("ContainerStatus", json!({"container_id": cid}));
    assert_eq!(cs["status"]["state"], "CONTAINER_RUNNING", "{cs}");
    assert_eq!(c.hull_status(&cid).as_deref(), Some("running"));

    // ExecSync: output, stderr, exit status, the pod's network, the container's limits
    let script = "echo $GREETING; echo pid=$$; \
         cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; \
         ip -4 addr show eth0; echo oops >&2; exit 3";
    let ex = c.call(
        "ExecSync",
        json!({"container_id": cid, "cmd": ["sh", "-c", script], "timeout": 30}),
    );
    assert_eq!(ex["exit_code"], 3, "{ex}");
    let stdout = ex["stdout"].as_str().unwrap_or_default();
    assert!(stdout.starts_with("hi\n"), "{ex}");
    assert!(
        stdout.contains("67108864"),
        "memory limit not applied: {ex}"
    );
    assert!(
        stdout.contains(&format!("inet {ip}/")),
        "not in the pod's network: {ex}"
    );
    assert_eq!(ex["stderr"], "oops\n", "{ex}");
    let log = std::fs::read_to_string(c.tmp.join("logs/c1.log")).unwrap_or_default();
    assert!(log.contains("started on hullpod"), "container log: {log:?}");

    // stop (TERM, trapped: exit 7), remove
    c.call("StopContainer", json!({"container_id": cid, "timeout": 10}));
    let cs = c.call("ContainerStatus", json!({"container_id": cid}));
    assert_eq!(cs["status"]["state"], "CONTAINER_EXITED", "{cs}");
    assert_eq!(cs["status"]["exit_code"], 7, "{cs}");
    c.call("RemoveContainer", json!({"container_id": cid}));
    assert_eq!(
        c.hull_status(&cid),
        None,
        "hull still knows the removed container"
    );

    c.call("StopPodSandbox", json!({"pod_sandbox_id": pod}));
    c.call("RemovePodSandbox", json!({"pod_sandbox_id": pod}));
    c.pods.borrow_mut().clear();
    assert_eq!(
        c.hull_status(&pod),
        None,
        "hull still knows the removed pod"
    );
    assert!(
        hull_integration::leaks::state_dirs_in(&c.hull_root.join("k8s.io")).is_empty(),
        "hull state left after the pod was removed"
    );
}

/// `SystemdCgroup = true` (a kubelet with `cgroupDriver: systemd`): every pod container is
/// a scope `cri-containerd-<id>.scope` in the pod's slice, which systemd places where the
/// kubelet expects it (`kubepods.slice/kubepods-besteffort.slice/<pod>.slice/`), with the
/// container's limits as unit properties; nothing is left in systemd once the pod is removed.
#[test]
fn cri_systemd_cgroup_places_pods_in_kubelet_slices() {
    let Some(c) = Cri::start_with("cri/cri_systemd_cgroup_places_pods_in_kubelet_slices", true)
    else {
        return;
    };
    let sandbox = c.sandbox_config("hit-pod-sd");
    let pod = c.run_pod(&sandbox);
    let config = json!({
        "metadata": {"name": "c1"},
        "image": {"image": IMAGE_REF},
        "command": ["sleep", "1000"],
        "log_path": "c1.log",
        "linux": {
            "resources": {"memory_limit_in_bytes": 67108864},
            "security_context": {"namespace_options": {"network": "POD", "pid": "CONTAINER", "ipc": "POD"}}
        }
    });
    let created = c.call(
        "CreateContainer",
        json!({"pod_sandbox_id": pod, "config": config, "sandbox_config": sandbox}),
    );
    let cid = created["container_id"]
        .as_str()
        .expect("container_id")
        .to_string();
    c.call("StartContainer", json!({"container_id": cid}));
    let slice_dir = format!(
        "/kubepods.slice/kubepods-besteffort.slice/{}",
        c.cgroup_parent
    );
    let show = |unit: &str, p: &str| {
        let out = Command::new("systemctl")
            .args(["show", unit, "-p", p, "--value"])
            .output()
            .expect("systemctl show");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    for id in [&pod, &cid] {
        let mut cmd = Command::new(hull());
        cmd.arg("--root")
            .arg(c.hull_root.join("k8s.io"))
            .args(["state", id]);
        let state: Value = serde_json::from_str(&run(&mut cmd, c.tmp.path(), TIMEOUT).ok().stdout)
            .expect("hull state JSON");
        let pid = state["pid"].as_i64().expect("pid");
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let unit = format!("cri-containerd-{id}.scope");
        assert_eq!(cgroup.trim(), format!("0::{slice_dir}/{unit}"));
        assert_eq!(show(&unit, "Slice"), c.cgroup_parent);
        assert_eq!(show(&unit, "Delegate"), "yes");
    }
    assert_eq!(
        show(&format!("cri-containerd-{cid}.scope"), "MemoryMax"),
        "67108864"
    );
    c.call("StopPodSandbox", json!({"pod_sandbox_id": pod}));
    c.call("RemovePodSandbox", json!({"pod_sandbox_id": pod}));
    c.pods.borrow_mut().clear();
    let out = Command::new("systemctl")
        .args(["list-units", "--all", "--no-legend", "--plain"])
        .output()
        .expect("systemctl list-units");
    let units = String::from_utf8_lossy(&out.stdout);
    let stray: Vec<&str> = units
        .lines()
        .filter(|l| l.contains("cri-containerd-"))
        .collect();
    assert!(
        stray.is_empty(),
        "units left after the pod was removed: {stray:?}"
    );
}

/// hull's message reaches the CRI caller (what `kubectl describe pod` would show).
#[test]
fn cri_error_reaches_user() {
    let Some(c) = Cri::start("cri/cri_error_reaches_user") else {
        return;
    };
    let sandbox = c.sandbox_config("hit-pod-err");
    let pod = c.run_pod(&sandbox);
    let config = json!({
        "metadata": {"name": "bad"},
        "image": {"image": IMAGE_REF},
        "command": ["/no/such/program"],
        "log_path": "bad.log"
    });
    let created = c.call(
        "CreateContainer",
        json!({"pod_sandbox_id": pod, "config": config, "sandbox_config": sandbox}),
    );
    let cid = created["container_id"]
        .as_str()
        .expect("container_id")
        .to_string();
    let err = c
        .try_call("StartContainer", json!({"container_id": cid}))
        .expect_err("StartContainer of a missing program succeeded");
    let details = err["details"].as_str().unwrap_or_default();
    assert!(details.contains("/no/such/program"), "{err}");
    assert!(
        details.contains("no such file or directory"),
        "hull's message is not in the CRI error: {err}"
    );
    assert_eq!(c.hull_status(&cid), None, "hull kept the failed container");
}

/// Kubernetes hostPath propagation through the CRI plugin: `Bidirectional` (containerd gives
/// hull `rshared` on the bind and on `/`): a mount made in the container reaches the host;
/// `HostToContainer` (`rslave`): a host mount reaches the container, not the other way.
#[test]
fn cri_hostpath_propagation() {
    let Some(c) = Cri::start("cri/cri_hostpath_propagation") else {
        return;
    };
    use hull_integration::mountinfo::{host_has_mount, HostMount};
    let (bidi, h2c) = (c.tmp.join("bidi"), c.tmp.join("h2c"));
    let _bidi = HostMount::shared_bind(&bidi);
    let _h2c = HostMount::shared_bind(&h2c);
    for d in [bidi.join("inner"), h2c.join("inner"), h2c.join("fromhost")] {
        std::fs::create_dir_all(d).unwrap();
    }
    let _bidi_inner = HostMount(bidi.join("inner"));
    let _h2c_inner = HostMount(h2c.join("inner"));
    let mut sandbox = c.sandbox_config("hit-pod-prop");
    sandbox["linux"]["security_context"]["privileged"] = json!(true);
    let pod = c.run_pod(&sandbox);
    let config = json!({
        "metadata": {"name": "csi"},
        "image": {"image": IMAGE_REF},
        "command": ["sh", "-c", "mount -t tmpfs tmpfs /bidi/inner && echo made > /bidi/inner/inside; \
                                 while :; do sleep 0.2; done"],
        "log_path": "csi.log",
        "mounts": [
            {"container_path": "/bidi", "host_path": bidi, "propagation": "PROPAGATION_BIDIRECTIONAL"},
            {"container_path": "/h2c", "host_path": h2c, "propagation": "PROPAGATION_HOST_TO_CONTAINER"}
        ],
        "linux": {"security_context": {"privileged": true,
            "namespace_options": {"network": "POD", "pid": "CONTAINER", "ipc": "POD"}}}
    });
    let created = c.call(
        "CreateContainer",
        json!({"pod_sandbox_id": pod, "config": config, "sandbox_config": sandbox}),
    );
    let cid = created["container_id"]
        .as_str()
        .expect("container_id")
        .to_string();
    c.call("StartContainer", json!({"container_id": cid}));
    hull_integration::poll(TIMEOUT, "the container's mount on the host", || {
        bidi.join("inner/inside").exists().then_some(())
    });
    assert!(
        host_has_mount(&bidi.join("inner")),
        "Bidirectional: no mount on the host"
    );

    let _from_host = HostMount::tmpfs(&h2c.join("fromhost"));
    std::fs::write(h2c.join("fromhost/hostfile"), "from-the-host").unwrap();
    let script = "cat /h2c/fromhost/hostfile; mount -t tmpfs tmpfs /h2c/inner && echo mounted";
    let ex = c.call(
        "ExecSync",
        json!({"container_id": cid, "cmd": ["sh", "-c", script], "timeout": 30}),
    );
    assert_eq!(ex["stdout"], "from-the-hostmounted\n", "{ex}");
    assert!(
        !host_has_mount(&h2c.join("inner")),
        "HostToContainer: the container's mount reached the host"
    );
    c.call("StopContainer", json!({"container_id": cid, "timeout": 1}));
    c.call("RemoveContainer", json!({"container_id": cid}));
}
