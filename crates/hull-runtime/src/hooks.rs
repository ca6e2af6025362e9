//! The six OCI hook points. A hook gets the container's state JSON on stdin, runs with its own
//! args and env, and is killed when its `timeout` passes.
//!
//! As runc: a hook without `env` inherits the environment of whoever runs it, hull's own
//! (PATH included) for the hooks the runtime runs, the container process's for
//! createContainer and startContainer, which init runs ([`run_point_in`]); createContainer
//! hooks run in the rootfs directory.

use std::io::{Read, Seek, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::path::Path;

use oci_spec::runtime::{Hook, Hooks};

use crate::error::{Error, Result};

/// Where in the lifecycle a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookPoint {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl HookPoint {
    fn name(self) -> &'static str {
        match self {
            HookPoint::Prestart => "prestart",
            HookPoint::CreateRuntime => "createRuntime",
            HookPoint::CreateContainer => "createContainer",
            HookPoint::StartContainer => "startContainer",
            HookPoint::Poststart => "poststart",
            HookPoint::Poststop => "poststop",
        }
    }
}

fn hooks_of(hooks: Option<&Hooks>, point: HookPoint) -> &[Hook] {
    let Some(h) = hooks else { return &[] };
    let list = match point {
        HookPoint::Prestart => h.prestart(),
        HookPoint::CreateRuntime => h.create_runtime(),
        HookPoint::CreateContainer => h.create_container(),
        HookPoint::StartContainer => h.start_container(),
        HookPoint::Poststart => h.poststart(),
        HookPoint::Poststop => h.poststop(),
    };
    list.as_deref().unwrap_or_default()
}

/// The same state document with another `status` (init gets one and reports several).
pub fn with_status(state: &str, status: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(state) {
        Ok(mut v) => {
            v["status"] = serde_json::json!(status);
            v.to_string()
        }
        Err(_) => state.to_string(),
    }
}

/// Whether any hook is configured at one of `points`.
pub fn has_any(hooks: Option<&Hooks>, points: &[HookPoint]) -> bool {
    points.iter().any(|p| !hooks_of(hooks, *p).is_empty())
}

/// Run every hook of `point` in order (env and cwd inherited from hull); the first failure
/// stops and is returned.
pub fn run_point(hooks: Option<&Hooks>, point: HookPoint, state: &str) -> Result<()> {
    run_point_in(hooks, point, state, None, None)
}

/// [`run_point`] with the working directory `cwd` and, for hooks without `env`, the
/// environment `inherited` instead of hull's.
pub fn run_point_in(
    hooks: Option<&Hooks>,
    point: HookPoint,
    state: &str,
    cwd: Option<&Path>,
    inherited: Option<&[String]>,
) -> Result<()> {
    for (i, hook) in hooks_of(hooks, point).iter().enumerate() {
        run_one(hook, state, cwd, inherited).map_err(|why| {
            // runc's words, which its tests match on: "error running prestart hook #1:"
            Error::Hook(format!(
                "error running {} hook #{i}: {}: {why}",
                point.name(),
                hook.path().display()
            ))
        })?;
    }
    Ok(())
}

/// The hooks of one point with the state document they get, gathered before a command acts
/// (so that a damaged record stops it before it has done anything).
#[derive(Debug)]
pub struct Due {
    hooks: Hooks,
    point: HookPoint,
    state: String,
}

impl Due {
    /// The hooks at `point` of `hooks`, with the state document `state()` makes for them;
    /// None, without calling `state`, when there are none.
    pub fn of(
        hooks: Option<Hooks>,
        point: HookPoint,
        state: impl FnOnce() -> Result<String>,
    ) -> Result<Option<Due>> {
        match hooks {
            Some(hooks) if has_any(Some(&hooks), &[point]) => Ok(Some(Due {
                hooks,
                point,
                state: state()?,
            })),
            _ => Ok(None),
        }
    }

    /// [`run_point`] of these hooks.
    pub fn run(&self) -> Result<()> {
        run_point(Some(&self.hooks), self.point, &self.state)
    }

    /// Run these hooks, each failure only a warning: the others still run.
    pub fn run_warning(&self) {
        run_point_warning(Some(&self.hooks), self.point, &self.state)
    }
}

/// Run every hook of `point` (env and cwd inherited from hull), each failure only a
/// warning: the remaining hooks still run (the runtime-spec's rule for poststop).
fn run_point_warning(hooks: Option<&Hooks>, point: HookPoint, state: &str) {
    for (i, hook) in hooks_of(hooks, point).iter().enumerate() {
        if let Err(why) = run_one(hook, state, None, None) {
            tracing::warn!(
                "error running {} hook #{i}: {}: {why}",
                point.name(),
                hook.path().display()
            );
        }
    }
}

fn run_one(
    hook: &Hook,
    state: &str,
    cwd: Option<&Path>,
    inherited: Option<&[String]>,
) -> std::result::Result<(), String> {
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args().as_deref().filter(|a| !a.is_empty()) {
        cmd.arg0(&args[0]).args(&args[1..]);
    }
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    if let Some(env) = hook.env().as_deref().or(inherited) {
        cmd.env_clear();
        for kv in env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    // The hook's output is kept aside (a memfd cannot fill up and block the hook) and shown
    // only when it fails, inside the one-line error.
    let output = output_file().map_err(|e| e.to_string())?;
    let share = || {
        output
            .try_clone()
            .map(Stdio::from)
            .map_err(|e| e.to_string())
    };
    // The state is read from a memfd, not a pipe: hull never blocks writing it (a hook may
    // not read it, and 256 KiB of annotations fill any pipe), so the timeout always holds.
    let stdin = state_file(state).map_err(|e| e.to_string())?;
    cmd.stdin(stdin).stdout(share()?).stderr(share()?);
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let timeout = hook.timeout().map(|t| Duration::from_secs(t as u64));
    let started = Instant::now();
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) if status.success() => return Ok(()),
            Some(status) => return Err(format!("{}{}", go_status(status), output_text(output))),
            None if timeout.is_some_and(|t| started.elapsed() >= t) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "timed out after {}s",
                    timeout.unwrap_or_default().as_secs()
                ));
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// How Go (so runc) words a failed exit: `exit status 1`, `signal: bad system call`.
fn go_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("signal: {}", signal_words(sig)),
        (None, None) => status.to_string(),
    }
}

/// The C library's description of signal `sig`, lower-case as Go prints it ("killed",
/// "bad system call").
fn signal_words(sig: i32) -> String {
    // SAFETY: strsignal returns a pointer to a NUL-terminated string (or NULL), valid until
    // the next call; hull runs hooks from one thread and copies it at once.
    let text = unsafe {
        let p = libc::strsignal(sig);
        if p.is_null() {
            return sig.to_string();
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => sig.to_string(),
    }
}

/// An anonymous in-memory file for a hook's output.
/// A memfd holding `state`, positioned at its start, for the hook's stdin.
fn state_file(state: &str) -> std::io::Result<std::fs::File> {
    let mut file = output_file()?;
    file.write_all(state.as_bytes())?;
    file.seek(std::io::SeekFrom::Start(0))?;
    Ok(file)
}

fn output_file() -> std::io::Result<std::fs::File> {
    // SAFETY: memfd_create reads a NUL-terminated name and returns a new fd or -1.
    let fd = unsafe { libc::memfd_create(c"hull-hook".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the fd is new and owned by nobody else.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// What the hook printed, on one line, prefixed for an error message ("" when silent).
fn output_text(mut file: std::fs::File) -> String {
    let mut text = String::new();
    let _ = file.seek(std::io::SeekFrom::Start(0));
    let _ = file.read_to_string(&mut text);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        text
    } else {
        format!(": {text}")
    }
}
