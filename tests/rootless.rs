//! Rootless: hull run by an unprivileged user (`hulltest`, see `support/rootless.rs`) with
//! nothing but its own `XDG_RUNTIME_DIR` set (the state root is then
//! `$XDG_RUNTIME_DIR/hull`), a config from `hull spec --rootless`. With only the user's own
//! id mapped nothing else is needed; wider mappings go through `newuidmap`/`newgidmap`
//! (Debian `uidmap`) and `/etc/subuid`. Also: root in a user namespace that is not the
//! initial one (as rootless podman runs its runtime), and the cgroup a rootless container
//! gets: none without delegation (with a warning, and an error for limits), the delegated
//! subtree on cgroup v2.
//!
//! Each command runs as the user through `setpriv` (no PAM).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hull_integration::rootless::{
    join_cgroup_on_exec, sub_range, util_linux, which, Delegated, TestUser, USER,
};
use hull_integration::userns::{chown_tree, map_lines, mapping};
use hull_integration::{hull_bin, leaks, poll, unique, Bundle, Out};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

fn have(program: &str) -> bool {
    which(program).is_some()
}

/// hull as the test user, with its own `XDG_RUNTIME_DIR` (so its state root is
/// `$XDG_RUNTIME_DIR/hull`); cleans up (as root) on drop.
struct Rootless {
    user: TestUser,
    uid: u32,
    gid: u32,
    xdg: PathBuf,
    io: PathBuf,
    ids: std::cell::RefCell<Vec<String>>,
    dirs: std::cell::RefCell<Vec<PathBuf>>,
    path_env: Option<String>,
    /// Runs hull through this wrapper (e.g. `unshare --user --map-root-user`).
    wrapper: Vec<String>,
    /// Leaves XDG_RUNTIME_DIR unset.
    no_xdg: bool,
    /// Runs hull in this cgroup (v2; joined as root before becoming the user).
    cgroup: Option<PathBuf>,
}

impl Rootless {
    fn new() -> Rootless {
        let user = TestUser::get();
        let xdg = user.runtime_dir();
        let io = hull_integration::fresh_dir("rl-io");
        Rootless {
            uid: user.uid,
            gid: user.gid,
            user,
            xdg,
            io,
            ids: Default::default(),
            dirs: Default::default(),
            path_env: None,
            wrapper: Vec::new(),
            no_xdg: false,
            cgroup: None,
        }
    }

    fn new_id(&self) -> String {
        let id = format!("{}{}", hull_integration::ID_PREFIX, unique());
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// The state root hull picks for the user: `$XDG_RUNTIME_DIR/hull`.
    fn root(&self) -> PathBuf {
        self.xdg.join("hull")
    }

    /// The command `hull <args>` as the user.
    fn command(&self, args: &[&str]) -> Command {
        let xdg = (!self.no_xdg).then_some(self.xdg.as_path());
        let mut c = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = self.user.command(xdg, program);
                c.args(rest).arg(hull_bin());
                c
            }
            None => self.user.command(xdg, hull_bin()),
        };
        c.args(args);
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
        if let Some(cg) = &self.cgroup {
            join_cgroup_on_exec(&mut cmd, cg);
        }
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
        self.root().join(id)
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
        for d in self.dirs.borrow().iter().chain([&self.io, &self.xdg]) {
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
    let out = without_cgroup_warning(r.run_fg(&id, &b));
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

/// `out` without the warning that the container runs without a cgroup (printed, where the
/// user has no cgroup of its own, before a later step fails).
fn without_cgroup_warning(mut out: Out) -> Out {
    let kept: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !(l.contains("level=warning") && l.contains("without a cgroup")))
        .collect();
    out.stderr = kept.join("\n");
    out
}

#[test]
fn rootless_state_root_is_in_xdg_runtime_dir() {
    let r = Rootless::new();
    let mut b = r.bundle();
    b.sh("exec sleep 1000");
    let id = r.new_id();
    b.save();
    r.run(&["create", "--bundle", b.dir.to_str().unwrap(), &id])
        .ok();
    assert!(
        r.state_dir(&id).join("state.json").exists(),
        "no state in $XDG_RUNTIME_DIR/hull/{id}"
    );
    let meta = std::fs::metadata(r.root()).unwrap();
    assert_eq!(meta.uid(), r.uid, "the state root belongs to the user");
    assert_eq!(
        meta.permissions().mode() & 0o7777,
        0o1700,
        "0700 and sticky, as runc makes $XDG_RUNTIME_DIR/runc"
    );
    let list = r.run(&["list", "--quiet"]).ok();
    assert_eq!(list.stdout.trim(), id, "{list}");
    r.run(&["delete", "--force", &id]).ok();
    r.assert_nothing_left(&id, &b);
}

#[test]
fn rootless_without_xdg_runtime_dir_names_both_roots() {
    let mut r = Rootless::new();
    let b = r.bundle();
    r.no_xdg = true;
    let id = r.new_id();
    let out = r.run_fg(&id, &b);
    out.assert_error(&["XDG_RUNTIME_DIR", "/run/hull", "--root"]);
    r.run(&["list"])
        .assert_error(&["XDG_RUNTIME_DIR", "/run/hull"]);
    // --root still works without it
    let root = r.xdg.join("given");
    let out = r
        .run(&["--root", root.to_str().unwrap(), "list", "--quiet"])
        .ok();
    assert_eq!(out.stdout.trim(), "", "{out}");
    r.assert_nothing_left(&id, &b);
}

#[test]
fn rootless_without_a_writable_cgroup_runs_without_one_and_warns() {
    let r = Rootless::new();
    let mut b = r.bundle();
    b.sh("cat /proc/self/cgroup; echo ran");
    let id = r.new_id();
    let out = r.run_fg(&id, &b).ok();
    assert!(out.stdout.contains("ran"), "{out}");
    assert!(
        out.stderr.contains("running without a cgroup"),
        "runc's rootless cgroup manager goes on without one; hull says so:\n{out}"
    );
    let cgroups = leaks::cgroup_dirs(4, &|name| name == id);
    assert!(cgroups.is_empty(), "a cgroup was made: {cgroups:?}");
    r.assert_nothing_left(&id, &b);
}

#[test]
fn rootless_false_makes_the_cgroup_required() {
    let r = Rootless::new();
    let mut b = r.bundle();
    b.sh("echo ran");
    let id = r.new_id();
    b.save();
    let out = r.run(&[
        "--rootless",
        "false",
        "run",
        "--bundle",
        b.dir.to_str().unwrap(),
        &id,
    ]);
    out.assert_error(&["/sys/fs/cgroup", "permission denied"]);
    assert!(!out.stdout.contains("ran"), "{out}");
    r.assert_nothing_left(&id, &b);
    let out = r.run(&["--rootless", "maybe", "list"]);
    assert!(!out.success(), "{out}");
    assert!(out.stderr.contains("maybe"), "{out}");
}

/// hull run as rootless podman runs it, as root of a user namespace of the user's
/// (`unshare --user --map-root-user`, with `unshare` the binary given), and a bundle without a
/// user namespace or id mappings of its own.
fn root_in_a_user_namespace(unshare: &Path) -> (Rootless, Bundle) {
    let mut r = Rootless::new();
    let unshare = unshare.to_string_lossy().into_owned();
    r.wrapper = vec![unshare, "--user".into(), "--map-root-user".into()];
    let mut b = r.bundle();
    b.remove_namespace("user");
    let linux = b.config["linux"].as_object_mut().unwrap();
    linux.remove("uidMappings");
    linux.remove("gidMappings");
    (r, b)
}

/// As rootless podman runs its runtime: root in a user namespace of the user's (here
/// `unshare --user --map-root-user`), a config without a user namespace of its own. hull is
/// rootless there too: state in `$XDG_RUNTIME_DIR/hull`, no cgroup.
#[test]
fn root_in_a_user_namespace_is_rootless() {
    let Some(unshare) = util_linux("unshare") else {
        eprintln!("skipped: unshare (util-linux) not installed");
        return;
    };
    let (r, mut b) = root_in_a_user_namespace(&unshare);
    b.sh("id -u; cat /proc/self/uid_map; echo ran");
    let id = r.new_id();
    let out = r.run_fg(&id, &b).ok();
    assert!(out.stdout.starts_with("0\n"), "{out}");
    assert_eq!(map_lines(&out.stdout), [vec![0, r.uid as u64, 1]], "{out}");
    assert!(out.stdout.contains("ran"), "{out}");
    assert!(out.stderr.contains("running without a cgroup"), "{out}");

    // detached, then found again in $XDG_RUNTIME_DIR/hull
    b.sh("exec sleep 1000");
    let id = r.new_id();
    b.save();
    r.run(&["run", "--detach", "--bundle", b.dir.to_str().unwrap(), &id])
        .ok();
    assert!(r.state_dir(&id).join("state.json").exists());
    let state = r.run(&["state", &id]).ok();
    assert!(state.stdout.contains("\"running\""), "{state}");
    r.run(&["delete", "--force", &id]).ok();
    r.assert_nothing_left(&id, &b);
}

/// `exec` by root of the user namespace a container was made in, from another process (as
/// rootless podman runs every command, in its pause process's user namespace): the process
/// is in the container's PID namespace, with the container's mapping. hull may not go back
/// to the host's PID namespace there (that needs `CAP_SYS_ADMIN` over the host's user
/// namespace), so it does not leave it for the clone.
#[test]
fn root_in_a_user_namespace_execs_into_its_container() {
    let (Some(unshare), Some(nsenter)) = (util_linux("unshare"), util_linux("nsenter")) else {
        eprintln!("skipped: unshare/nsenter (util-linux) not installed");
        return;
    };
    let (mut r, mut b) = root_in_a_user_namespace(&unshare);
    b.sh("exec sleep 1000");
    b.save();
    let id = r.new_id();
    r.run(&["run", "--detach", "--bundle", b.dir.to_str().unwrap(), &id])
        .ok();
    let state: serde_json::Value =
        serde_json::from_str(&r.run(&["state", &id]).ok().stdout).unwrap();
    // every later command as root of the user namespace the container's init is in
    r.wrapper = vec![
        nsenter.to_string_lossy().into_owned(),
        "--user".into(),
        "--preserve-credentials".into(),
        "--target".into(),
        state["pid"].to_string(),
    ];
    let out = r
        .run(&[
            "exec",
            &id,
            "sh",
            "-c",
            "cat /proc/self/uid_map; echo pid=$(readlink /proc/self)",
        ])
        .ok();
    assert_eq!(map_lines(&out.stdout), [vec![0, r.uid as u64, 1]], "{out}");
    let pid = out.stdout.lines().find_map(|l| l.strip_prefix("pid="));
    assert!(
        pid.is_some_and(|p| p.parse::<u32>().is_ok()),
        "not in the container's PID namespace: {out}"
    );
    let out = r.run(&["exec", &id, "sh", "-c", "exit 3"]);
    assert_eq!(out.code(), Some(3), "{out}");
    r.run(&["delete", "--force", &id]).ok();
    r.assert_nothing_left(&id, &b);
}

/// A cgroup v2 subtree delegated to the user (a directory chowned to it, with controllers
/// enabled, as systemd's `Delegate=yes` makes): a rootless container gets a cgroup there,
/// with its limits; without limits or path, one under hull's own cgroup.
#[test]
fn rootless_delegated_cgroup_v2_subtree_is_used() {
    if !hull_integration::cgroup_v2_only() {
        eprintln!("skipped: not a cgroup v2 host (make test-v2 runs it in the v2 guest)");
        return;
    }
    let delegated = Delegated::new(&TestUser::get());
    let mut r = Rootless::new();
    r.cgroup = Some(delegated.session.clone());
    let mut b = r.bundle();
    b.sh("cat /proc/self/cgroup; echo ran");
    let id = r.new_id();
    let rel = format!("/{}/{id}", delegated.name);
    b.config["linux"]["cgroupsPath"] = json!(rel);
    b.config["linux"]["resources"] =
        json!({"memory": {"limit": 64 * 1024 * 1024}, "pids": {"limit": 50}});
    b.save();
    let bundle = b.dir.to_str().unwrap().to_string();
    let out = r.run(&["create", "--bundle", &bundle, &id]).ok();
    assert!(!out.stderr.contains("without a cgroup"), "{out}");
    let cg = delegated.dir.join(&id);
    let read = |f: &str| std::fs::read_to_string(cg.join(f)).unwrap_or_default();
    assert_eq!(read("memory.max").trim(), "67108864");
    assert_eq!(read("pids.max").trim(), "50");
    let state: serde_json::Value =
        serde_json::from_str(&r.run(&["state", &id]).ok().stdout).unwrap();
    assert_eq!(read("cgroup.procs").trim(), state["pid"].to_string());
    r.run(&["start", &id]).ok();
    poll(T, "the container to stop", || {
        let out = r.run(&["state", &id]);
        out.stdout.contains("\"stopped\"").then_some(())
    });
    r.run(&["delete", &id]).ok();
    assert!(!cg.exists(), "{} left behind", cg.display());

    // no path, no limits: a cgroup under hull's own (the session), not a warning
    let mut b = r.bundle();
    b.sh("cat /proc/self/cgroup; echo ran");
    let id = r.new_id();
    let out = r.run_fg(&id, &b).ok();
    assert!(out.stdout.contains("ran"), "{out}");
    assert!(!out.stderr.contains("without a cgroup"), "{out}");
    r.assert_nothing_left(&id, &b);
}

/// Without a cgroup, `ps` and `kill --all` find the container's processes by its namespace.
#[test]
fn rootless_ps_and_kill_all_without_a_cgroup() {
    let r = Rootless::new();
    let mut b = r.bundle();
    // sh as PID 1 ignores TERM; its two sleeps do not, and once they die it exits
    b.root_readonly(false)
        .sh("sleep 1001 & sleep 1002 & touch /ready; wait");
    let id = r.new_id();
    b.save();
    let out = r
        .run(&["run", "--detach", "--bundle", b.dir.to_str().unwrap(), &id])
        .ok();
    assert!(out.stderr.contains("without a cgroup"), "{out}");
    let ready = b.host_path("/ready");
    poll(T, "/ready", || ready.exists().then_some(()));
    let ps = r.run(&["ps", "--format", "json", &id]).ok();
    let pids: Vec<i64> = serde_json::from_str(&ps.stdout).unwrap();
    assert_eq!(pids.len(), 3, "sh and its two sleeps: {ps}");
    let table = r.run(&["ps", &id]).ok();
    assert!(table.stdout.contains("sleep 1002"), "{table}");

    r.run(&["kill", &id, "TERM"]).ok();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        r.run(&["state", &id]).stdout.contains("\"running\""),
        "PID 1 ignores TERM"
    );
    r.run(&["kill", "--all", &id, "TERM"]).ok();
    poll(T, "the container to stop", || {
        let out = r.run(&["state", &id]);
        out.stdout.contains("\"stopped\"").then_some(())
    });
    r.run(&["delete", &id]).ok();
    r.assert_nothing_left(&id, &b);
}
