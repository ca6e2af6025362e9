//! Running the hull binary: a private `--root`, unique ids, and clean-up on drop.

use crate::bundle::Bundle;
use serde_json::Value;
use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long any single hull command may take before the test gives up on it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The result of one hull command.
pub struct Out {
    pub cmdline: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The exit code (`None` when hull itself was killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics (with everything known) unless the command succeeded.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(self.success(), "command should have succeeded:\n{self}");
        self
    }

    /// Panics unless the command failed.
    #[track_caller]
    pub fn fail(self) -> Self {
        assert!(!self.success(), "command should have failed:\n{self}");
        self
    }

    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    /// Asserts the command failed with a one-line error on stderr that mentions every one of
    /// `needles` (case-insensitively; each needle may list alternatives separated by `|`).
    /// With hull, the line must start with `hull:` (DESIGN.md section 4).
    #[track_caller]
    pub fn assert_error(&self, needles: &[&str]) {
        assert!(!self.success(), "command should have failed:\n{self}");
        let lines = self.stderr_lines();
        assert_eq!(
            lines.len(),
            1,
            "expected exactly one line of error on stderr:\n{self}"
        );
        let line = lines[0].to_lowercase();
        if crate::is_hull() {
            assert!(
                line.starts_with("hull:"),
                "error line should start with `hull:`:\n{self}"
            );
        }
        for needle in needles {
            assert!(
                needle
                    .split('|')
                    .any(|alt| line.contains(&alt.to_lowercase())),
                "error line should mention {needle:?}:\n{self}"
            );
        }
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "  $ {}\n  exit: {}\n  stdout: {}\n  stderr: {}",
            self.cmdline,
            self.status,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A hull command running in the background (e.g. a foreground `run` to be signalled).
pub struct Running {
    pub child: Child,
    cmdline: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `sig` to the hull process.
    pub fn signal(&self, sig: i32) {
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(
            rc,
            0,
            "kill({}, {sig}): {}",
            self.pid(),
            std::io::Error::last_os_error()
        );
    }

    /// Waits for the command to end; panics after `timeout` (killing it first).
    #[track_caller]
    pub fn wait(mut self, timeout: Duration) -> Out {
        match wait_timeout(&mut self.child, timeout) {
            Some(status) => Out {
                cmdline: self.cmdline,
                status,
                stdout: std::fs::read_to_string(&self.stdout).unwrap_or_default(),
                stderr: std::fs::read_to_string(&self.stderr).unwrap_or_default(),
            },
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "`{}` did not finish within {timeout:?}; stderr so far: {}",
                    self.cmdline,
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                );
            }
        }
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One test's view of hull: its own `--root` dir, the ids it created, the dirs it made.
///
/// Dropping it runs `delete --force` for every id handed out, then removes the bundles and
/// temp dirs (unless something is still mounted under them: that is left for the leak check
/// to report, never removed through a mount) and the root dir (unless a container state dir
/// is still in it).
pub struct Hull {
    pub root: PathBuf,
    io_dir: PathBuf,
    ids: RefCell<Vec<String>>,
    dirs: RefCell<Vec<PathBuf>>,
    seq: RefCell<u32>,
}

impl Default for Hull {
    fn default() -> Self {
        Hull::new()
    }
}

impl Hull {
    pub fn new() -> Hull {
        std::fs::create_dir_all(crate::ROOT_PARENT).expect("create /run/hull-it");
        let root = PathBuf::from(crate::ROOT_PARENT).join(format!("r-{}", crate::unique()));
        std::fs::create_dir(&root).expect("create the --root dir");
        let io_dir = crate::fresh_dir("io");
        Hull {
            root,
            io_dir,
            ids: RefCell::default(),
            dirs: RefCell::default(),
            seq: RefCell::new(0),
        }
    }

    /// A new unique container id (`hit-…`), deleted with `--force` when `self` drops.
    pub fn new_id(&self) -> String {
        let id = format!("{}{}", crate::ID_PREFIX, crate::unique());
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// A new bundle (see [`Bundle::new`]) removed when `self` drops.
    pub fn bundle(&self) -> Bundle {
        let dir = crate::fresh_dir("b");
        self.dirs.borrow_mut().push(dir.clone());
        Bundle::build(dir)
    }

    /// A fresh empty dir under `/tmp/hull-it/`, removed when `self` drops.
    pub fn temp_dir(&self) -> PathBuf {
        let d = crate::fresh_dir("t");
        self.dirs.borrow_mut().push(d.clone());
        d
    }

    /// Like [`Hull::temp_dir`], on a file system that can be id-mapped: under
    /// `$HULL_TEST_IDMAP_DIR` when it is set (the v2 guest sets it to an ext4 mount: its
    /// `/tmp` is a tmpfs, which has id-mapped mounts only from Linux 6.3 on).
    pub fn idmap_dir(&self) -> PathBuf {
        let Some(base) = std::env::var_os("HULL_TEST_IDMAP_DIR").filter(|b| !b.is_empty()) else {
            return self.temp_dir();
        };
        let d = PathBuf::from(base).join(format!("t-{}", crate::unique()));
        std::fs::create_dir(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        self.dirs.borrow_mut().push(d.clone());
        d
    }

    /// The state directory hull keeps for `id`.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// `hull --root <root> <args>` as a `Command` (nothing redirected).
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(crate::hull_bin());
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    /// Starts `hull --root <root> <args>` in the background, stdout and stderr to files
    /// (never pipes: a container inherits them and would keep a pipe open).
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Running {
        let n = {
            let mut s = self.seq.borrow_mut();
            *s += 1;
            *s
        };
        let stdout = self.io_dir.join(format!("{n}.out"));
        let stderr = self.io_dir.join(format!("{n}.err"));
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        let cmdline = format!("{cmd:?}").replace('"', "");
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
        Running {
            child,
            cmdline,
            stdout,
            stderr,
        }
    }

    /// Runs `hull --root <root> <args>` to completion (at most [`COMMAND_TIMEOUT`]).
    #[track_caller]
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Out {
        self.spawn(args).wait(COMMAND_TIMEOUT)
    }

    /// `create --bundle B id` (saves the bundle's config first).
    #[track_caller]
    pub fn create(&self, id: &str, b: &Bundle) -> Out {
        b.save();
        self.run(&["create", "--bundle", b.dir.to_str().unwrap(), id])
    }

    #[track_caller]
    pub fn create_ok(&self, id: &str, b: &Bundle) -> Out {
        self.create(id, b).ok()
    }

    #[track_caller]
    pub fn start(&self, id: &str) -> Out {
        self.run(&["start", id])
    }

    /// Foreground `run --bundle B <extra> id`; the container's output is in `stdout`.
    #[track_caller]
    pub fn run_fg(&self, id: &str, b: &Bundle, extra: &[&str]) -> Out {
        b.save();
        let mut args = vec!["run", "--bundle", b.dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(id);
        self.run(&args)
    }

    /// `create` then `start`, both asserted to succeed.
    #[track_caller]
    pub fn create_start(&self, id: &str, b: &Bundle) {
        self.create_ok(id, b);
        self.start(id).ok();
    }

    /// `state id`, asserted to succeed, parsed.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]).ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON ({e}):\n{out}"))
    }

    /// The `status` from `state id`, `None` if `state` fails.
    pub fn status(&self, id: &str) -> Option<String> {
        let out = self.run(&["state", id]);
        if !out.success() {
            return None;
        }
        let v: Value = serde_json::from_str(&out.stdout).ok()?;
        v["status"].as_str().map(String::from)
    }

    /// The init pid from `state id`.
    #[track_caller]
    pub fn pid(&self, id: &str) -> i64 {
        self.state(id)["pid"]
            .as_i64()
            .expect("state has a numeric pid")
    }

    /// `kill id [signal]`.
    #[track_caller]
    pub fn kill(&self, id: &str, signal: Option<&str>) -> Out {
        match signal {
            Some(s) => self.run(&["kill", id, s]),
            None => self.run(&["kill", id]),
        }
    }

    /// `delete [--force] id`.
    #[track_caller]
    pub fn delete(&self, id: &str, force: bool) -> Out {
        if force {
            self.run(&["delete", "--force", id])
        } else {
            self.run(&["delete", id])
        }
    }

    /// Polls `state id` until its status is `status`; returns that state. Panics after
    /// `timeout`.
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        let mut last = None;
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.run(&["state", id]);
            if out.success() {
                if let Ok(v) = serde_json::from_str::<Value>(&out.stdout) {
                    if v["status"] == status {
                        return v;
                    }
                }
            }
            if Instant::now() > deadline {
                panic!("container {id} did not reach status {status:?} within {timeout:?}; last state:\n{}", last.map(|o: Out| o.to_string()).unwrap_or_else(|| out.to_string()));
            }
            last = Some(out);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `wait_status(id, "stopped", 30 s)`.
    #[track_caller]
    pub fn wait_stopped(&self, id: &str) -> Value {
        self.wait_status(id, "stopped", Duration::from_secs(30))
    }
}

fn mounted_under(dir: &Path) -> bool {
    crate::leaks::mounts_mentioning(dir).next().is_some()
}

impl Drop for Hull {
    fn drop(&mut self) {
        // nothing here may panic: a panic while a failed test unwinds would abort the process
        for id in self.ids.borrow().iter() {
            let mut cmd = self.command(&["delete", "--force", id.as_str()]);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            match cmd.spawn() {
                Ok(mut child) => {
                    if wait_timeout(&mut child, Duration::from_secs(30)).is_none() {
                        let _ = child.kill();
                        let _ = child.wait();
                        eprintln!("cleanup: `delete --force {id}` timed out");
                    }
                }
                Err(e) => eprintln!("cleanup: cannot run `delete --force {id}`: {e}"),
            }
        }
        for dir in self
            .dirs
            .borrow()
            .iter()
            .chain(std::iter::once(&self.io_dir))
        {
            if mounted_under(dir) {
                eprintln!(
                    "cleanup: something is still mounted under {}; leaving it",
                    dir.display()
                );
                continue;
            }
            let _ = std::fs::remove_dir_all(dir);
        }
        let leftover = crate::leaks::state_dirs_in(&self.root);
        if leftover.is_empty() {
            let _ = std::fs::remove_dir_all(&self.root);
        } else {
            eprintln!(
                "cleanup: {} still holds {leftover:?}; leaving it",
                self.root.display()
            );
        }
    }
}
