//! The end of init: find the program, wait on `exec.fifo` for `start`, and `execve`.

use std::ffi::CString;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

use crate::error::{Context, Error, Result};

/// Find `program` as execve would after a PATH search in the container's environment: a name
/// with a slash is used as it is; otherwise the first executable file in `PATH`.
pub fn find_program(program: &str, env: &[String]) -> Result<PathBuf> {
    if program.contains('/') {
        // Go's wording (runc's): podman and docker read "no such file or directory" as exit
        // status 127 (command not found) and "permission denied" as 126.
        return match std::fs::metadata(program) {
            Err(_) => Err(Error::Msg(format!(
                "exec: {program:?}: stat {program}: no such file or directory"
            ))),
            Ok(_) if !is_executable(Path::new(program)) => {
                Err(Error::Msg(format!("exec: {program:?}: permission denied")))
            }
            Ok(_) => Ok(PathBuf::from(program)),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            Error::Msg(format!(
                "exec: {program:?}: executable file not found in $PATH"
            ))
        })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Block until `hull start` opens the fifo (given as an `O_PATH` fd opened before pivot_root),
/// then tell it we are going on. This is the CVE-2016-9962 handshake: nothing of the host is
/// reachable any more when the user's program is released. The returned write end is
/// close-on-exec and must stay open until execve: `start` waits for its closing to know the
/// program runs (and only then runs poststart hooks).
pub fn wait_for_start(fifo: RawFd) -> Result<OwnedFd> {
    let path = format!("/proc/self/fd/{fifo}");
    let fd = open(
        path.as_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open exec.fifo")?;
    nix::unistd::write(&fd, b"0").ctx(|| "write exec.fifo")?;
    Ok(fd)
}

/// Keep fds 3..3+`preserve` open across exec and mark every other fd from 3 up close-on-exec,
/// so no host fd reaches the program (CVE-2024-21626).
pub fn close_inherited_fds(preserve: u32) -> Result<()> {
    for fd in 3..3 + preserve as i32 {
        // Preserved fds come from hull's caller; they must survive the exec.
        // SAFETY: F_SETFD only changes the flags of an fd number; an unused number gives EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    // SAFETY: close_range only changes fd flags; no memory is involved.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 + preserve,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    nix::errno::Errno::result(r).ctx(|| "close_range").map(drop)
}

/// Replace this process with the program; returns only on failure.
pub fn execve(program: &Path, args: &[String], env: &[String]) -> Error {
    let to_c = |s: &str| CString::new(s).map_err(|_| Error::Msg(format!("NUL byte in {s:?}")));
    let prog = match to_c(&program.to_string_lossy()) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let argv: Result<Vec<CString>> = args.iter().map(|a| to_c(a)).collect();
    let envp: Result<Vec<CString>> = env.iter().map(|e| to_c(e)).collect();
    match (argv, envp) {
        (Ok(argv), Ok(envp)) => match nix::unistd::execve(&prog, &argv, &envp) {
            // Worded as runc's (Go's) error, which tools and suites match on:
            // `exec /run.sh: no such file or directory`.
            Err(e) => Error::Msg(format!(
                "exec {}: {}",
                program.display(),
                crate::error::errno_words(e)
            )),
        },
        (Err(e), _) | (_, Err(e)) => e,
    }
}
