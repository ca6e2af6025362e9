//! The unprivileged user the rootless tests run as (`hulltest`, created with `useradd` when
//! missing, with a `/etc/subuid` and `/etc/subgid` range of its own, and left in place), and
//! commands run as that user through `setpriv` (no PAM): its own uid, gid, `HOME`, `USER` and
//! an `XDG_RUNTIME_DIR` of the test's own under `/run/hull-it/` (so the leak check sees any
//! state dir left in `$XDG_RUNTIME_DIR/hull`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The test user's name.
pub const USER: &str = "hulltest";

/// The subordinate id range given to the test user when it has none: `(start, count)`.
const OWN_RANGE: (u32, u32) = (1_500_000, 65536);

/// The test user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl TestUser {
    /// The test user, created (with a subordinate id range) if missing.
    pub fn get() -> TestUser {
        if let Some(u) = lookup() {
            return u;
        }
        // Concurrent tests may race to create it: whoever loses finds it made.
        let _ = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", USER])
            .stderr(Stdio::null())
            .status()
            .expect("run useradd (Debian package passwd)");
        let u = lookup().expect("useradd hulltest");
        std::fs::create_dir_all(&u.home).unwrap();
        std::os::unix::fs::chown(&u.home, Some(u.uid), Some(u.gid)).unwrap();
        if sub_range("/etc/subuid").is_none() || sub_range("/etc/subgid").is_none() {
            let range = format!("{}-{}", OWN_RANGE.0, OWN_RANGE.0 + OWN_RANGE.1 - 1);
            let _ = Command::new("usermod")
                .args(["--add-subuids", &range, "--add-subgids", &range, USER])
                .stderr(Stdio::null())
                .status();
        }
        u
    }

    /// A new `XDG_RUNTIME_DIR` for the user: `/run/hull-it/xdg-<unique>`, mode 0700, owned by
    /// the user. The caller removes it.
    pub fn runtime_dir(&self) -> PathBuf {
        std::fs::create_dir_all(crate::ROOT_PARENT).expect("create /run/hull-it");
        let dir = PathBuf::from(crate::ROOT_PARENT).join(format!("xdg-{}", crate::unique()));
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        std::os::unix::fs::chown(&dir, Some(self.uid), Some(self.gid)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }

    /// `program` run as the user by `setpriv`, with the user's `HOME`, `USER` and `LOGNAME`,
    /// `XDG_RUNTIME_DIR` set to `xdg` (removed when None), and the caller's other variables.
    pub fn command(&self, xdg: Option<&Path>, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let setpriv = util_linux("setpriv").expect("setpriv (Debian package util-linux)");
        let mut c = Command::new(setpriv);
        c.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--clear-groups")
            .arg("--")
            .arg(program)
            .env("HOME", &self.home)
            .env("USER", USER)
            .env("LOGNAME", USER)
            .current_dir("/");
        match xdg {
            Some(dir) => c.env("XDG_RUNTIME_DIR", dir),
            None => c.env_remove("XDG_RUNTIME_DIR"),
        };
        c
    }
}

fn lookup() -> Option<TestUser> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 6 || f[0] != USER {
            return None;
        }
        Some(TestUser {
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: PathBuf::from(f[5]),
        })
    })
}

/// The first `/etc/subuid` (or subgid) range of the test user: `(start, count)`.
pub fn sub_range(file: &str) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.trim().split(':').collect();
        if f.len() != 3 || f[0] != USER {
            return None;
        }
        Some((f[1].parse().ok()?, f[2].parse().ok()?))
    })
}

/// util-linux's `program` (`/usr/bin/<program>`, where the v2 guest's PATH puts busybox's
/// applet of that name first), else the one in `$PATH`.
pub fn util_linux(program: &str) -> Option<PathBuf> {
    let usr = Path::new("/usr/bin").join(program);
    if usr.is_file() {
        return Some(usr);
    }
    which(program)
}

/// The path of `program` in `$PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// Makes `cmd` move itself into the v2 cgroup `dir` before it execs (while still root).
pub fn join_cgroup_on_exec(cmd: &mut Command, dir: &Path) {
    use std::os::fd::IntoRawFd;
    use std::os::unix::process::CommandExt;
    let procs = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.procs"))
        .unwrap_or_else(|e| panic!("open {}/cgroup.procs: {e}", dir.display()));
    let fd = procs.into_raw_fd();
    // SAFETY: write(2) and close(2) on an fd of our own are async-signal-safe; "0" moves the
    // writing process itself.
    unsafe {
        cmd.pre_exec(move || {
            if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            Ok(())
        });
    }
}

/// A cgroup v2 subtree delegated to the test user, as systemd's `Delegate=yes` makes one:
/// `/sys/fs/cgroup/hit-rl-…` with memory, pids and cpu enabled below it, and a `session`
/// child (where the user's commands run), both owned by the user. Removed (depth first,
/// once its processes are gone) when dropped.
pub struct Delegated {
    /// The directory's name under `/sys/fs/cgroup`.
    pub name: String,
    pub dir: PathBuf,
    pub session: PathBuf,
}

impl Delegated {
    pub fn new(user: &TestUser) -> Delegated {
        let name = format!("hit-rl-{}", crate::unique());
        let dir = Path::new("/sys/fs/cgroup").join(&name);
        let controllers = "+memory +pids +cpu";
        let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", controllers);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("cgroup.subtree_control"), controllers).unwrap();
        let session = dir.join("session");
        std::fs::create_dir(&session).unwrap();
        for d in [&dir, &session] {
            for f in [
                "",
                "cgroup.procs",
                "cgroup.threads",
                "cgroup.subtree_control",
            ] {
                std::os::unix::fs::chown(d.join(f), Some(user.uid), Some(user.gid)).unwrap();
            }
        }
        Delegated { name, dir, session }
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while rmdir_tree(&self.dir).is_err() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

fn rmdir_tree(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for e in std::fs::read_dir(dir)?.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            rmdir_tree(&e.path())?;
        }
    }
    std::fs::remove_dir(dir)
}
