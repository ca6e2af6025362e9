//! CVE-2019-5736: a process in the container must never be able to open the hull binary for
//! writing through `/proc/<pid>/exe` (for instance by having hull exec a `#!/proc/self/exe`
//! script). Before `create`, `run` and `exec` touch a container, hull moves itself into a
//! private mount namespace where its own binary is bind-mounted read-only, and re-executes
//! itself from there: every process it then starts has an `exe` on a read-only mount, so a
//! write open fails with EROFS. This costs one `unshare` and one `execve`, and no copy of the
//! binary (unlike a sealed memfd clone); other commands do not pay it.
//!
//! The re-executed hull goes straight back to the caller's mount namespace (its `exe` stays
//! the file on the read-only mount, which that reference keeps alive): the container's mount
//! namespace must be a copy of the caller's, sharing its peer groups, or `rshared` mounts
//! (Kubernetes' `Bidirectional`) could never reach the host.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::stat::Mode;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Context, Error, Result};

/// Set in the environment of the re-executed hull, and removed by it at once: `ns=<fd>`, the
/// fd of the caller's mount namespace to return to (any other value: already guarded, stay).
const GUARDED: &str = "_HULL_EXE_GUARDED";

/// Make sure this process runs from a read-only view of its binary; re-executes hull once.
/// Returns only in the guarded process.
pub fn ensure() -> Result<()> {
    if let Some(fd) = std::env::var_os(GUARDED) {
        // SAFETY (of the unsafe-free call): hull is single-threaded, so changing the
        // environment cannot race with a reader.
        std::env::remove_var(GUARDED);
        return return_to_caller_namespace(&fd);
    }
    // Rootless: an unprivileged caller cannot make a mount namespace here (unshare is EPERM
    // without a user namespace), and needs no guard: the container's processes run as the
    // caller's own ids at most, so they cannot write to a binary the caller itself cannot
    // write to, and a binary the caller owns is theirs to overwrite anyway.
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let exe = std::fs::read_link("/proc/self/exe").ctx(|| "read /proc/self/exe")?;
    // kept open (not close-on-exec) across the re-execution
    let caller_ns = nix::fcntl::open("/proc/self/ns/mnt", OFlag::O_RDONLY, Mode::empty())
        .ctx(|| "open /proc/self/ns/mnt")?;
    unshare(CloneFlags::CLONE_NEWNS).ctx(|| "unshare a mount namespace for the binary guard")?;
    // Our mounts must not propagate back to the host's namespace.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| "make / a slave mount")?;
    mount(
        Some(&exe),
        &exe,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .ctx(|| format!("bind {} onto itself", exe.display()))?;
    let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    mount(None::<&str>, &exe, None::<&str>, ro, None::<&str>)
        .ctx(|| format!("remount {} read-only", exe.display()))?;
    reexec(&exe, caller_ns.as_raw_fd())
}

/// In the re-executed hull: join the caller's mount namespace again (fd number `fd`), in the
/// same working directory; stay in the guard's when the kernel does not allow it (root of a
/// user namespace does not own the caller's mount namespace).
fn return_to_caller_namespace(fd: &std::ffi::OsStr) -> Result<()> {
    let Some(fd) = fd.to_str().and_then(|s| s.strip_prefix("ns=")) else {
        return Ok(());
    };
    let fd: RawFd = fd
        .parse()
        .map_err(|_| Error::Msg(format!("{GUARDED}: {fd:?} is not an fd number")))?;
    // SAFETY: the fd was opened for us by the hull that re-executed us, and nothing else owns it.
    let ns = unsafe { OwnedFd::from_raw_fd(fd) };
    let cwd = std::env::current_dir().ctx(|| "getcwd")?;
    match setns(&ns, CloneFlags::CLONE_NEWNS) {
        Ok(()) => {}
        // root of a user namespace may not join its creator's mount namespace: stay here
        Err(nix::errno::Errno::EPERM) => return Ok(()),
        Err(e) => return Err(e).ctx(|| "return to the caller's mount namespace"),
    }
    drop(ns);
    std::env::set_current_dir(&cwd).ctx(|| format!("chdir {}", cwd.display()))
}

fn reexec(exe: &Path, caller_ns: RawFd) -> Result<()> {
    let to_c =
        |s: OsString| CString::new(s.as_bytes()).map_err(|_| Error::Msg("NUL in argument".into()));
    let prog = to_c(exe.as_os_str().to_owned())?;
    let args: Vec<CString> = std::env::args_os().map(to_c).collect::<Result<_>>()?;
    let mut env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            to_c(kv)
        })
        .collect::<Result<_>>()?;
    env.push(to_c(format!("{GUARDED}=ns={caller_ns}").into())?);
    match nix::unistd::execve(&prog, &args, &env) {
        Err(e) => Err(e).ctx(|| format!("re-execute {}", exe.display())),
    }
}
