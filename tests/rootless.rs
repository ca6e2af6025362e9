//! Rootless: hull run by an unprivileged user (`hulltest`, created with `useradd` when
//! missing, and left in place), `--root` in that user's home, a config from
//! `hull spec --rootless`. With only the user's own id mapped nothing else is needed; wider
//! mappings go through `newuidmap`/`newgidmap` (Debian `uidmap`) and `/etc/subuid`.
//!
//! Each command runs as the user through `setpriv` (no PAM, environment kept).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hull_integration::userns::{chown_tree, map_lines, mapping};
use hull_integration::{hull_bin, leaks, poll, unique, Bundle, Out};
use serde_json::json;

const USER: &str = "hulltest";
const T: Duration = Duration::from_secs(30);

/// `(uid, gid, home)` of the test user, creating it if missing.
fn test_user() -> (u32, u32, PathBuf) {
    let lookup = || {
        let text = std::fs::read_to_string("/etc/passwd").unwrap();
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[0] == USER).then(|| {
                (
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                    PathBuf::from(f[5]),
                )
            })
        })
    };
    if let Some(u) = lookup() {
        return u;
    }
    // Concurrent tests may race to create it: whoever loses finds it made.
    let _ = Command::new("useradd")
        .args(["-m", "-s", "/bin/sh", USER])
        .stderr(Stdio::null())
        .status()
        .expect("run useradd (Debian package passwd)");
    let (uid, gid, home) = lookup().expect("useradd hulltest");
    std::fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
    (uid, gid, home)
}

/// The first `/etc/subuid` (or subgid) range of the test user: `(start, count)`.
fn sub_range(file: &str) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.trim().split(':').collect();
        if f.len() != 3 || f[0] != USER {
            return None;
        }
        Some((f[1].parse().ok()?, f[2].parse().ok()?))
    })
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

fn have(program: &str) -> bool {
    which(program).is_some()
}

/// hull as the test user, with a `--root` in its home; cleans up (as root) on drop.
struct Rootless {
    uid: u32,
    gid: u32,
    root: PathBuf,
    io: PathBuf,
    ids: std::cell::RefCell<Vec<String>>,
    dirs: std::cell::RefCell<Vec<PathBuf>>,
    path_env: Option<String>,
}

impl Rootless {
    fn new() -> Rootless {
        let (uid, gid, home) = test_user();
        let root = home.join(format!("hull-it-{}", unique()));
        let io = hull_integration::fresh_dir("rl-io");
        Rootless {
            uid,
            gid,
            root,
            io,
            ids: Default::default(),
            dirs: Default::default(),
            path_env: None,
        }
    }

    fn new_id(&self) -> String {
        let id = format!("{}{}", hull_integration::ID_PREFIX, unique());
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// The command `hull --root <root> <args>` as the user.
    fn command(&self, args: &[&str]) -> Command {
        // found before PATH may be changed for hull below
        let setpriv = which("setpriv").expect("setpriv (Debian package util-linux)");
        let mut c = Command::new(setpriv);
        c.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--clear-groups")
            .arg("--")
            .arg(hull_bin())
            .arg("--root")
            .arg(&self.root)
            .args(args);
        if let Some(p) = &self.path_env {
            c.env("PATH", p);
        }
        c
    }

    /// Runs a hull command to completion (stdout and stderr to files: a detached container
    /// inherits them and would hold a pipe open).
    #[track_caller]
    fn run(&self, args: &[&str]) -> Out {
        let n = unique();
        let (out, err) = (
            self.io.join(format!("{n}.out")),
            self.io.join(format!("{n}.err")),
        );
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap());
        let cmdline = format!("{cmd:?}").replace('"', "");
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{cmdline}: {e}"));
        let status = poll(Duration::from_secs(60), &cmdline, || {
            child.try_wait().unwrap()
        });
        Out {
            cmdline,
            status,
            stdout: std::fs::read_to_string(out).unwrap_or_default(),
            stderr: std::fs::read_to_string(err).unwrap_or_default(),
        }
    }

    /// A bundle owned by the user whose config is the user's `hull spec --rootless`.
    fn bundle(&self) -> Bundle {
        let dir = hull_integration::fresh_dir("rl");
        self.dirs.borrow_mut().push(dir.clone());
        let mut b = Bundle::build(dir.clone());
        std::fs::remove_file(b.config_path()).unwrap();
        chown_tree(&dir, self.uid, self.gid);
        let bundle = dir.to_str().unwrap();
        self.run(&["spec", "--rootless", "--bundle", bundle]).ok();
        b.config = serde_json::from_str(&std::fs::read_to_string(b.config_path()).unwrap())
            .expect("hull spec --rootless wrote JSON");
        b.terminal(false);
        b.save();
        b
    }

    /// Foreground `run` of the bundle (saved first).
    #[track_caller]
    fn run_fg(&self, id: &str, b: &Bundle) -> Out {
        b.save();
        self.run(&["run", "--bundle", b.dir.to_str().unwrap(), id])
    }

    fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Nothing of `id` left: no state dir, no process rooted in the bundle, no cgroup.
    #[track_caller]
    fn assert_nothing_left(&self, id: &str, b: &Bundle) {
        assert!(
            !self.state_dir(id).exists(),
            "state dir of {id} left behind"
        );
        let procs = leaks::procs_rooted_in(&b.dir);
        assert!(procs.is_empty(), "processes left behind: {procs:?}");
        let cgroups = leaks::cgroup_dirs(4, &|name| name.contains(id));
        assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
    }
}

impl Drop for Rootless {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self
                .command(&["delete", "--force", id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for d in self.dirs.borrow().iter().chain([&self.io, &self.root]) {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

#[test]
fn rootless_spec_runs_as_root_mapped_to_the_user() {
    let r = Rootless::new();
    let mut b = r.bundle();
    assert_eq!(b.config["linux"]["uidMappings"][0]["hostID"], json!(r.uid));
    b.sh("id -u; id -g; cat /proc/self/uid_map; hostname; touch /tmp/made; echo done");
    b.root_readonly(false);
    let id = r.new_id();
    let out = r.run_fg(&id, &b).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first().copied(), Some("0"), "{out}");
    assert_eq!(lines.get(1).copied(), Some("0"), "{out}");
    assert_eq!(map_lines(&out.stdout), [vec![0, r.uid as u64, 1]], "{out}");
    assert!(out.stdout.contains("done"), "{out}");
    let made = std::fs::metadata(b.host_path("/tmp/made")).unwrap();
    assert_eq!(made.uid(), r.uid, "container root is the user on the host");
    r.assert_nothing_left(&id, &b);
}

#[test]
fn rootless_without_newuidmap_maps_the_users_own_id_and_refuses_more() {
    let mut r = Rootless::new();
    // hull is run by its full path; no helper is found in an empty PATH
    r.path_env = Some("/nonexistent".into());
    let mut b = r.bundle();
    b.sh("cat /proc/self/uid_map /proc/self/setgroups");
    let id = r.new_id();
    let out = r.run_fg(&id, &b).ok();
    assert_eq!(map_lines(&out.stdout), [vec![0, r.uid as u64, 1]], "{out}");
    assert!(out.stdout.contains("deny"), "setgroups denied: {out}");

    let maps = mapping(&[(0, r.uid, 1), (1, 500_000, 1000)]);
    b.config["linux"]["uidMappings"] = maps.clone();
    b.config["linux"]["gidMappings"] = maps;
    let id = r.new_id();
    let out = r.run_fg(&id, &b);
    out.assert_error(&["newgidmap|newuidmap", "mappings"]);
    r.assert_nothing_left(&id, &b);
}

#[test]
fn rootless_with_subuid_ranges_uses_newuidmap() {
    let r = Rootless::new();
    if !have("newuidmap") || !have("newgidmap") {
        eprintln!("skipped: newuidmap/newgidmap not installed (Debian package uidmap)");
        return;
    }
    let (Some((su, sn)), Some((sg, gn))) = (sub_range("/etc/subuid"), sub_range("/etc/subgid"))
    else {
        eprintln!("skipped: no /etc/subuid and /etc/subgid range for {USER}");
        return;
    };
    let (sn, gn) = (sn.min(65536), gn.min(65536));
    let mut b = r.bundle();
    b.config["linux"]["uidMappings"] = mapping(&[(0, r.uid, 1), (1, su, sn)]);
    b.config["linux"]["gidMappings"] = mapping(&[(0, r.gid, 1), (1, sg, gn)]);
    let caps = json!(["CAP_CHOWN"]);
    b.config["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    b.root_readonly(false).sh(
        "echo '<uid>'; cat /proc/self/uid_map; echo '</uid>'; id -u; \
         touch /tmp/f && chown 1000:1000 /tmp/f && echo chown-ok",
    );
    let id = r.new_id();
    let out = r.run_fg(&id, &b).ok();
    assert_eq!(
        map_lines(&out.stdout),
        [vec![0, r.uid as u64, 1], vec![1, su as u64, sn as u64]],
        "{out}"
    );
    assert!(out.stdout.contains("chown-ok"), "{out}");
    let f = std::fs::metadata(b.host_path("/tmp/f")).unwrap();
    assert_eq!((f.uid(), f.gid()), (su + 999, sg + 999), "{out}");
    r.assert_nothing_left(&id, &b);
}

#[test]
fn rootless_create_start_exec_kill_delete() {
    let r = Rootless::new();
    let mut b = r.bundle();
    b.root_readonly(false).sh("touch /ready; exec sleep 1000");
    let id = r.new_id();
    let bundle = b.dir.to_str().unwrap().to_string();
    b.save();
    r.run(&["create", "--bundle", &bundle, &id]).ok();
    let state: serde_json::Value =
        serde_json::from_str(&r.run(&["state", &id]).ok().stdout).unwrap();
    assert_eq!(state["status"], "created");
    r.run(&["start", &id]).ok();
    let ready = b.host_path("/ready");
    poll(T, "/ready", || ready.exists().then_some(()));
    let pid = state["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|u| u == r.uid.to_string()),
        "the container runs as the user on the host: {uid_line}"
    );

    let out = r
        .run(&[
            "exec",
            &id,
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; echo pid=$$",
        ])
        .ok();
    assert!(out.stdout.starts_with("0\n"), "{out}");
    assert_eq!(map_lines(&out.stdout), [vec![0, r.uid as u64, 1]], "{out}");

    r.run(&["kill", &id, "KILL"]).ok();
    poll(T, "the container to stop", || {
        let out = r.run(&["state", &id]);
        out.stdout.contains("\"stopped\"").then_some(())
    });
    r.run(&["delete", &id]).ok();
    r.assert_nothing_left(&id, &b);
}

#[test]
fn rootless_memory_limit_without_a_writable_cgroup_is_refused() {
    let r = Rootless::new();
    let mut b = r.bundle();
    b.config["linux"]["resources"] = json!({"memory": {"limit": 64 * 1024 * 1024}});
    let id = r.new_id();
    let out = r.run_fg(&id, &b);
    if out.success() {
        eprintln!("skipped: the user has a writable (delegated) cgroup here");
        return;
    }
    out.assert_error(&["memory", "cgroup"]);
    r.assert_nothing_left(&id, &b);
}

#[test]
fn rootless_bad_mapping_is_refused() {
    let r = Rootless::new();
    let mut b = r.bundle();
    b.config["linux"]["uidMappings"] = mapping(&[(1, r.uid, 1)]);
    let id = r.new_id();
    r.run_fg(&id, &b).assert_error(&["uidMappings", "uid 0"]);
    r.assert_nothing_left(&id, &b);
}
