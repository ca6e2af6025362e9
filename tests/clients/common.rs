//! What the client tests (containerd, podman, docker, CRI) share: installing the client,
//! running its commands with a timeout, daemons stopped by pid, a busybox image built here,
//! and a pty driver for the `-t` cases.
//!
//! Every test keeps everything of its own in one temp dir under `/tmp/hull-it/` (the daemons'
//! roots, states, sockets and logs), names its containers `hit-…` (so the leak check finds what
//! it leaves), and undoes everything when it drops its fixture, even when it panics.

#![allow(dead_code)]

use hull_integration::{fresh_dir, hull_bin, workspace_dir, Out};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long one client command may take before the test gives up on it.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// True when `name` is an executable in `$PATH` (or an existing path).
pub fn have(name: &str) -> bool {
    if name.contains('/') {
        return Path::new(name).exists();
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let path = format!("{path}:/usr/sbin:/sbin:/usr/bin:/bin");
    path.split(':').any(|d| Path::new(d).join(name).is_file())
}

/// Makes sure every one of `binaries` is there, installing Debian `packages` if one is not.
/// Returns false, after printing a loud SKIPPED banner, only when they cannot be installed.
pub fn ensure(binaries: &[&str], packages: &[&str], test: &str) -> bool {
    if binaries.iter().all(|b| have(b)) {
        return true;
    }
    eprintln!("{test}: installing {packages:?} (missing one of {binaries:?})");
    let why = apt_install(packages);
    if binaries.iter().all(|b| have(b)) {
        return true;
    }
    skipped(test, packages, &why);
    false
}

/// `apt-get install -y PACKAGES` (waiting for the dpkg lock); returns what apt-get said on
/// stderr.
pub fn apt_install(packages: &[&str]) -> String {
    let out = Command::new("apt-get")
        .args(["install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
        Err(e) => e.to_string(),
    }
}

/// The loud banner of a test that cannot run here.
pub fn skipped(test: &str, packages: &[&str], why: &str) {
    let bar = "#".repeat(78);
    eprintln!(
        "\n{bar}\n## SKIPPED {test}: {packages:?} cannot be installed here; this client is NOT tested.\n## apt-get said: {}\n{bar}\n",
        why.trim()
    );
}

/// The absolute path of the hull binary under test (clients are given it as their runtime).
pub fn hull() -> PathBuf {
    let bin = hull_bin();
    assert!(
        bin.exists(),
        "{} does not exist: run `cargo build -p hull` first",
        bin.display()
    );
    std::fs::canonicalize(bin).unwrap()
}

/// A unique name: `hit-<tag>-<n>` plus this process's pid (the `hit-` prefix makes cgroups
/// and processes left behind visible to the leak check).
pub fn name(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "hit-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Runs `cmd` to completion (at most `timeout`: then it is killed and the test fails), its
/// stdout and stderr going to files in `io` (never pipes: a container or a shim could inherit
/// them and hold them open).
#[track_caller]
pub fn run(cmd: &mut Command, io: &Path, timeout: Duration) -> Out {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let stdout = io.join(format!("cmd{n}.out"));
    let stderr = io.join(format!("cmd{n}.err"));
    let cmdline = format!("{cmd:?}").replace('"', "");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "timed out after {timeout:?}: {cmdline}\nstdout: {}\nstderr: {}",
                std::fs::read_to_string(&stdout).unwrap_or_default(),
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Out {
        cmdline,
        status,
        stdout: std::fs::read_to_string(&stdout).unwrap_or_default(),
        stderr: std::fs::read_to_string(&stderr).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(stdout);
    let _ = std::fs::remove_file(stderr);
    out
}

/// A daemon of the test's own, stopped (SIGTERM, then SIGKILL after `grace`) by its pid when
/// dropped. Its output goes to `log`.
pub struct Daemon {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
    pub grace: Duration,
}

impl Daemon {
    pub fn spawn(name: &str, cmd: &mut Command, log: PathBuf) -> Daemon {
        let f = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Daemon {
            name: name.to_string(),
            child,
            log,
            grace: Duration::from_secs(15),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Panics (showing the log) if the daemon has exited.
    #[track_caller]
    pub fn assert_alive(&mut self) {
        if let Some(st) = self.child.try_wait().unwrap() {
            panic!("{} exited ({st}); its log:\n{}", self.name, self.log_text());
        }
    }

    /// Polls `ready` every 100 ms (up to 60 s) while the daemon lives.
    #[track_caller]
    pub fn wait_ready(&mut self, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready() {
            self.assert_alive();
            if Instant::now() > deadline {
                panic!(
                    "{} not ready after 60s; its log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// Stops the daemon; idempotent.
    pub fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not stop on SIGTERM: SIGKILL", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The pids of live processes whose command line contains `needle`.
pub fn pids_with_cmdline(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(pid);
        }
    }
    found
}

/// SIGKILLs every process whose command line contains `needle` (shims, conmons left behind
/// by a failed test), by pid.
pub fn kill_cmdline(needle: &str) {
    for pid in pids_with_cmdline(needle) {
        eprintln!("killing left-behind process {pid} ({needle})");
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Unmounts (lazily, deepest first) everything mounted under `dir`.
pub fn unmount_under(dir: &Path) {
    let dir = dir.to_string_lossy().into_owned();
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(&dir))
        .map(String::from)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let c = std::ffi::CString::new(p).unwrap();
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Removes `/sys/fs/cgroup/<every hierarchy>/<rel>` and what is below it (empty cgroups only:
/// a cgroup with processes stays, and the leak check reports it).
pub fn remove_cgroups(rel: &str) {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        return;
    }
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        rmdir_tree(&h.path().join(rel));
    }
}

fn rmdir_tree(dir: &Path) {
    if !dir.is_dir() {
        return;
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            rmdir_tree(&e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// A temp dir under `/tmp/hull-it/`: unmounted under and removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        TempDir(fresh_dir(prefix))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        unmount_under(&self.0);
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("remove {}: {e}", self.0.display());
        }
    }
}

/// The test image, made from the suite's busybox rootfs.
pub struct Image {
    /// The rootfs directory (for `--rootfs`).
    pub rootfs: PathBuf,
    /// A plain tar of the rootfs (for `docker import`, `podman import`).
    pub rootfs_tar: PathBuf,
    /// A docker-archive tarball (`docker save` format) tagged [`IMAGE_REF`] (for
    /// `ctr images import`, `podman load`, `docker load`).
    pub archive: PathBuf,
}

/// The name the test image is tagged with.
pub const IMAGE_REF: &str = "docker.io/hull-test/busybox:latest";

/// Builds the busybox rootfs in `dir/rootfs`, its tar, and a docker-archive of one layer.
pub fn build_image(dir: &Path) -> Image {
    let rootfs = dir.join("rootfs");
    hull_integration::bundle::build_rootfs(&rootfs);
    // what images have and the bare rootfs lacks
    std::fs::write(rootfs.join("etc/hostname"), "busybox\n").unwrap();
    let rootfs_tar = dir.join("rootfs.tar");
    tar(&[
        "--numeric-owner",
        "-C",
        rootfs.to_str().unwrap(),
        "-cf",
        rootfs_tar.to_str().unwrap(),
        ".",
    ]);
    let archive = dir.join("image.tar");
    docker_archive(&rootfs_tar, &archive, IMAGE_REF, &[], &["sh"]);
    Image {
        rootfs,
        rootfs_tar,
        archive,
    }
}

fn tar(args: &[&str]) {
    let st = Command::new("tar").args(args).status().expect("run tar");
    assert!(st.success(), "tar {args:?} failed");
}

/// Writes to `out` a docker-archive (`docker save` format) of one layer, the rootfs tarball
/// `layer`, tagged `tag`, whose config runs `entrypoint` + `cmd` with a usual `PATH`.
pub fn docker_archive(layer: &Path, out: &Path, tag: &str, entrypoint: &[&str], cmd: &[&str]) {
    let img = out.with_extension("d");
    std::fs::create_dir_all(&img).unwrap();
    std::fs::copy(layer, img.join("layer.tar")).unwrap();
    let sha = Command::new("sha256sum").arg(layer).output().unwrap();
    let sha = String::from_utf8_lossy(&sha.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let mut config = serde_json::json!({
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": cmd,
        "WorkingDir": "/"
    });
    if !entrypoint.is_empty() {
        config["Entrypoint"] = serde_json::json!(entrypoint);
    }
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{sha}")]},
        "history": [{"created_by": "hull tests/clients"}]
    });
    std::fs::write(img.join("config.json"), config.to_string()).unwrap();
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": [tag],
        "Layers": ["layer.tar"]
    }]);
    std::fs::write(img.join("manifest.json"), manifest.to_string()).unwrap();
    tar(&[
        "-C",
        img.to_str().unwrap(),
        "-cf",
        out.to_str().unwrap(),
        "manifest.json",
        "config.json",
        "layer.tar",
    ]);
    let _ = std::fs::remove_dir_all(&img);
}

/// What a command run on a pty wrote, and how it ended.
pub struct PtyOut {
    pub output: String,
    /// The exit code, or None when it timed out.
    pub code: Option<i32>,
}

/// Runs `argv` on a new pty (see `ptydrive.py`): types `send` once `expect` appears.
#[track_caller]
pub fn pty_run(argv: &[&str], expect: &str, send: &str, io: &Path, timeout_s: u32) -> PtyOut {
    let script = workspace_dir().join("tests/clients/ptydrive.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .args(["--expect", expect, "--send", send, "--timeout"])
        .arg(timeout_s.to_string())
        .arg("--")
        .args(argv);
    let out = run(&mut cmd, io, Duration::from_secs(timeout_s as u64 + 30));
    assert!(out.success(), "ptydrive failed:\n{out}");
    let (output, last) = out
        .stdout
        .trim_end()
        .rsplit_once("PTYDRIVE-EXIT ")
        .unwrap_or_else(|| panic!("no PTYDRIVE-EXIT line:\n{out}"));
    PtyOut {
        output: output.replace('\r', ""),
        code: last.trim().parse().ok(),
    }
}

/// `cmd` as an argv for [`pty_run`]: `env K=V… PROGRAM ARGS…`, with the environment `cmd`
/// sets.
pub fn env_argv(cmd: &Command) -> Vec<String> {
    let mut argv = vec!["env".to_string()];
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            argv.push(format!("{}={}", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    argv.push(cmd.get_program().to_string_lossy().into_owned());
    argv.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    argv
}

/// Runs on a pty `argv`, a client's `-t` run of `sh -c "echo READY; exec sh"`, and checks
/// that the shell has the pty as its terminal and that its exit status comes back.
#[track_caller]
pub fn assert_tty_shell(argv: &[String], io: &Path) {
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    // what is typed is echoed back: the checks look for what only running it prints; the
    // pause before exiting lets the client drain the pty (ctr can drop the last output)
    let out = pty_run(
        &argv,
        "READY",
        "tty; test -t 0 && echo IS-$((20+3))-TTY; sleep 0.5; exit 3\\n",
        io,
        60,
    );
    assert_eq!(
        out.code,
        Some(3),
        "exit status through the tty:\n{}",
        out.output
    );
    assert!(out.output.contains("/dev/pts/0"), "{}", out.output);
    assert!(out.output.contains("IS-23-TTY"), "{}", out.output);
}

/// A bridge name `<prefix><n>` (n in 1..=250) reserved for this test: no interface has the
/// name, and no other live test holds it (a file `/tmp/hull-it/bridge-<name>` holding the
/// owner's pid, made with `O_EXCL`; one whose owner is dead is taken over). Tests running side
/// by side so never share a bridge or its subnet, even where the client makes the bridge
/// itself later on. The reservation ends when this is dropped.
pub struct Bridge {
    pub name: String,
    pub n: u32,
    lock: PathBuf,
}

impl Bridge {
    pub fn reserve(prefix: &str) -> Bridge {
        std::fs::create_dir_all(hull_integration::BUNDLE_PARENT).unwrap();
        let start = std::process::id() % 250;
        for n in (0..250).map(|i| (start + i) % 250 + 1) {
            let name = format!("{prefix}{n}");
            if Path::new("/sys/class/net").join(&name).exists() {
                continue;
            }
            let lock = Path::new(hull_integration::BUNDLE_PARENT).join(format!("bridge-{name}"));
            let owner_dead = std::fs::read_to_string(&lock)
                .ok()
                .and_then(|p| p.trim().parse::<i64>().ok())
                .is_some_and(|pid| !hull_integration::pid_alive(pid));
            if owner_dead {
                let _ = std::fs::remove_file(&lock);
            }
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock);
            if let Ok(mut f) = created {
                use std::io::Write;
                let _ = write!(f, "{}", std::process::id());
                return Bridge { name, n, lock };
            }
        }
        panic!("no free bridge name {prefix}1..250");
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(&self.lock);
    }
}

/// The `hull --version` text (trimmed) and its `commit:` value.
pub fn hull_version() -> (String, String) {
    let out = Command::new(hull())
        .arg("--version")
        .output()
        .expect("run hull --version");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let commit = text
        .lines()
        .find_map(|l| l.strip_prefix("commit:"))
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    (text, commit)
}
