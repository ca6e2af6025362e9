//! An OCI bundle with a busybox-static rootfs and an editable `config.json`.

use serde_json::{json, Value};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const BUSYBOX: &str = "/bin/busybox";

/// A bundle directory: `<dir>/config.json` and `<dir>/rootfs/`.
///
/// Edits go to `self.config` in memory; [`Bundle::save`] writes `config.json` (the [`Hull`]
/// helpers that take a bundle save it first).
///
/// [`Hull`]: crate::Hull
pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
}

/// `busybox --list-full` (paths such as `usr/bin/env`), read once per test process.
fn applets() -> &'static Vec<String> {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let out = Command::new(BUSYBOX)
            .arg("--list-full")
            .output()
            .expect("run busybox --list-full (is busybox-static installed at /bin/busybox?)");
        assert!(out.status.success(), "busybox --list-full failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            // never replace the binary by a link to itself
            .filter(|l| {
                Path::new(l)
                    .file_name()
                    .map(|n| n != "busybox")
                    .unwrap_or(false)
            })
            .map(String::from)
            .collect()
    })
}

/// Builds a busybox rootfs at `rootfs`: `/bin/busybox`, one symlink per applet (at busybox's
/// own path for it, and in `/bin` too so `PATH` lookups and `/bin/sh` always work), and the
/// usual empty directories.
pub fn build_rootfs(rootfs: &Path) {
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "etc", "tmp", "root", "mnt",
        "var", "run",
    ] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("copy busybox");
    for applet in applets() {
        let link = rootfs.join(applet);
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        let _ = symlink("/bin/busybox", &link);
        let name = Path::new(applet).file_name().unwrap();
        let _ = symlink("/bin/busybox", rootfs.join("bin").join(name));
    }
    std::fs::set_permissions(
        rootfs.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nuser:x:1000:\n").unwrap();
}

impl Bundle {
    /// A new bundle in a fresh dir under `/tmp/hull-it/`, its config from `hull spec`, with
    /// `process.terminal` false. Prefer [`crate::Hull::bundle`], which also removes it.
    pub fn new() -> Bundle {
        Bundle::build(crate::fresh_dir("b"))
    }

    /// Makes the bundle in `dir` (an existing empty directory).
    pub fn build(dir: PathBuf) -> Bundle {
        build_rootfs(&dir.join("rootfs"));
        let out = Command::new(crate::hull_bin())
            .args(["spec", "--bundle"])
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("run {} spec: {e}", crate::hull_bin().display()));
        assert!(
            out.status.success(),
            "`hull spec --bundle {}` failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text =
            std::fs::read_to_string(dir.join("config.json")).expect("hull spec wrote config.json");
        let config: Value = serde_json::from_str(&text).expect("hull spec's config.json parses");
        let mut b = Bundle { dir, config };
        b.terminal(false);
        b.save();
        b
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// Writes `config.json`.
    pub fn save(&self) {
        std::fs::write(
            self.config_path(),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .expect("write config.json");
    }

    /// A path inside the rootfs, as seen from the host.
    pub fn host_path(&self, inside: &str) -> PathBuf {
        self.rootfs().join(inside.trim_start_matches('/'))
    }

    /// Reads a file the container wrote (path as seen inside the container).
    pub fn read(&self, inside: &str) -> String {
        std::fs::read_to_string(self.host_path(inside))
            .unwrap_or_else(|e| panic!("read {} from the rootfs: {e}", inside))
    }

    /// What the container wrote to `/out` (see [`Bundle::sh_out`]).
    pub fn out(&self) -> String {
        self.read("/out")
    }

    /// Waits until the container created `/out.done` (see [`Bundle::sh_out`]) and returns `/out`.
    pub fn wait_out(&self) -> String {
        let done = self.host_path("/out.done");
        crate::poll(
            std::time::Duration::from_secs(30),
            "the container to create /out.done",
            || done.exists().then_some(()),
        );
        self.out()
    }

    fn process(&mut self) -> &mut serde_json::Map<String, Value> {
        self.config["process"]
            .as_object_mut()
            .expect("config has process")
    }

    fn linux(&mut self) -> &mut serde_json::Map<String, Value> {
        if self.config.get("linux").is_none() {
            self.config["linux"] = json!({});
        }
        self.config["linux"].as_object_mut().unwrap()
    }

    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.process().insert("args".into(), json!(args));
        self
    }

    /// `process.args = ["/bin/sh", "-c", script]`.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["/bin/sh", "-c", script])
    }

    /// Runs `script` with its stdout and stderr going to `/out` in the rootfs, then creates
    /// `/out.done`; makes the rootfs writable. Read the result with [`Bundle::wait_out`].
    pub fn sh_out(&mut self, script: &str) -> &mut Self {
        self.root_readonly(false);
        self.sh(&format!("{{ {script}\n}} >/out 2>&1; touch /out.done"))
    }

    pub fn terminal(&mut self, on: bool) -> &mut Self {
        self.process().insert("terminal".into(), json!(on));
        self
    }

    /// Adds (or replaces) `KEY=value` in `process.env`.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        let p = self.process();
        let env = p.entry("env").or_insert_with(|| json!([]));
        let list = env.as_array_mut().unwrap();
        list.retain(|e| !e.as_str().unwrap_or("").starts_with(&format!("{key}=")));
        list.push(json!(format!("{key}={value}")));
        self
    }

    pub fn cwd(&mut self, cwd: &str) -> &mut Self {
        self.process().insert("cwd".into(), json!(cwd));
        self
    }

    pub fn user(&mut self, uid: u32, gid: u32, additional_gids: &[u32]) -> &mut Self {
        let mut user = json!({"uid": uid, "gid": gid});
        if !additional_gids.is_empty() {
            user["additionalGids"] = json!(additional_gids);
        }
        self.process().insert("user".into(), user);
        self
    }

    pub fn hostname(&mut self, name: &str) -> &mut Self {
        self.config["hostname"] = json!(name);
        self
    }

    /// Removes `hostname` from the config (needed when joining another container's UTS
    /// namespace, whose name must not be changed).
    pub fn no_hostname(&mut self) -> &mut Self {
        if let Some(o) = self.config.as_object_mut() {
            o.remove("hostname");
        }
        self
    }

    pub fn domainname(&mut self, name: &str) -> &mut Self {
        self.config["domainname"] = json!(name);
        self
    }

    pub fn root_readonly(&mut self, ro: bool) -> &mut Self {
        self.config["root"]["readonly"] = json!(ro);
        self
    }

    pub fn namespaces(&mut self) -> &mut Vec<Value> {
        let linux = self.linux();
        linux
            .entry("namespaces")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .unwrap()
    }

    pub fn has_namespace(&self, ty: &str) -> bool {
        self.config["linux"]["namespaces"]
            .as_array()
            .map(|a| a.iter().any(|n| n["type"] == ty))
            .unwrap_or(false)
    }

    /// Adds a namespace (replacing one of the same type), optionally joined by `path`.
    pub fn add_namespace(&mut self, ty: &str, path: Option<&str>) -> &mut Self {
        self.remove_namespace(ty);
        let mut ns = json!({"type": ty});
        if let Some(p) = path {
            ns["path"] = json!(p);
        }
        self.namespaces().push(ns);
        self
    }

    pub fn remove_namespace(&mut self, ty: &str) -> &mut Self {
        self.namespaces().retain(|n| n["type"] != ty);
        self
    }

    /// Appends a mount (an OCI `mounts[]` entry).
    pub fn add_mount(&mut self, mount: Value) -> &mut Self {
        self.config["mounts"]
            .as_array_mut()
            .expect("config has mounts")
            .push(mount);
        self
    }

    /// Appends a hook to `hooks.<kind>` (`prestart`, `createRuntime`, `createContainer`,
    /// `startContainer`, `poststart`, `poststop`).
    pub fn add_hook(&mut self, kind: &str, hook: Value) -> &mut Self {
        if self.config.get("hooks").is_none() {
            self.config["hooks"] = json!({});
        }
        let hooks = self.config["hooks"].as_object_mut().unwrap();
        hooks
            .entry(kind)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .unwrap()
            .push(hook);
        self
    }

    /// Appends a `linux.devices` entry.
    pub fn add_device(&mut self, dev: Value) -> &mut Self {
        self.linux()
            .entry("devices")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .unwrap()
            .push(dev);
        self
    }
}

impl Default for Bundle {
    fn default() -> Self {
        Bundle::new()
    }
}
