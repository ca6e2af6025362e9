//! CVE-2019-5736: a process in the container must never be able to open the hull binary for
//! writing through `/proc/<pid>/exe` (for instance by having hull exec a `#!/proc/self/exe`
//! script). Before `create`, `run` and `exec` touch a container, hull re-executes itself
//! through a detached, read-only bind mount of its own binary: `open_tree(OPEN_TREE_CLONE)`
//! of `/proc/self/exe`, `mount_setattr(MOUNT_ATTR_RDONLY)` on it, then `execveat` of that
//! mount's fd. Every process hull then starts has an `exe` on a read-only mount, so a write
//! open of it fails with EROFS; the mount lives as long as a process references it, in no
//! mount namespace, so nothing is left and hull stays in its caller's mount namespace (the
//! container's must be a copy of the caller's, sharing its peer groups, or `rshared` mounts
//! could never reach the host). This costs one `execve` and three cheap syscalls: no mount
//! namespace, no copy of the binary (unlike a sealed memfd clone); other commands do not pay it.
//!
//! A binary that already lives on a read-only mount (or a read-only filesystem) is not
//! re-executed: a write open of its `/proc/<pid>/exe` fails with EROFS already, which is all
//! the bind mount would give. Only the host can make that mount writable again: a container
//! has its own copies of the mounts, and `/proc/<pid>/exe` names the caller's.

use std::ffi::{CString, OsString};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;

use crate::bootstrap::idmap_mount::mount_setattr;
use crate::error::{Context, Error, Result};

/// Set in the environment of the re-executed hull, and removed by it at once.
const GUARDED: &str = "_HULL_EXE_GUARDED";

/// Make sure this process runs from a read-only view of its binary; re-executes hull once.
/// Returns only in the guarded process (or at once for a caller that is not root, or when
/// the binary is already on a read-only mount).
pub fn ensure() -> Result<()> {
    if std::env::var_os(GUARDED).is_some() {
        // hull is single-threaded, so changing the environment cannot race with a reader.
        std::env::remove_var(GUARDED);
        return Ok(());
    }
    // Rootless: an unprivileged caller cannot make a mount here (EPERM without a user
    // namespace), and needs no guard: the container's processes run as the caller's own ids
    // at most, so they cannot write to a binary the caller itself cannot write to, and a
    // binary the caller owns is theirs to overwrite anyway.
    if !nix::unistd::geteuid().is_root() || on_read_only_mount() {
        return Ok(());
    }
    let tree = match read_only_self() {
        // Root of a user namespace that does not own its mount namespace (`unshare --user`
        // alone, as podman runs): no mount can be made, and the rootless reasoning holds, as
        // every process hull starts is confined to that user namespace's ids.
        Err(Errno::EPERM) if !crate::container::rootless::in_initial_user_namespace() => {
            return Ok(())
        }
        other => other,
    };
    let tree = tree.map_err(|e| match e {
        Errno::ENOSYS => Error::Msg(
            "the CVE-2019-5736 guard needs open_tree and mount_setattr (Linux 5.12 or later)"
                .into(),
        ),
        e => Error::Msg(format!("bind the hull binary read-only: {e}")),
    })?;
    reexec(&tree)
}

/// Whether this process's binary is on a read-only mount or filesystem (`statvfs` of
/// `/proc/self/exe` reports either as `ST_RDONLY`), so that it cannot be opened for writing
/// through any process's `exe`.
fn on_read_only_mount() -> bool {
    nix::sys::statvfs::statvfs("/proc/self/exe")
        .is_ok_and(|v| v.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// A detached read-only bind mount of this process's binary, as an `O_PATH`-like mount fd.
fn read_only_self() -> nix::Result<OwnedFd> {
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    // SAFETY: the path is a static NUL-terminated string; the syscall takes no other pointer.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c"/proc/self/exe".as_ptr(),
            flags,
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this new descriptor; nothing else owns it.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    mount_setattr(&tree, libc::MOUNT_ATTR_RDONLY, 0, 0, false)?;
    Ok(tree)
}

/// `execveat(tree, "", argv, envp + GUARDED, AT_EMPTY_PATH)`: this same program, from the
/// read-only mount, with the same arguments and environment.
fn reexec(tree: &OwnedFd) -> Result<()> {
    let to_c =
        |s: OsString| CString::new(s.as_bytes()).map_err(|_| Error::Msg("NUL in argument".into()));
    let args: Vec<CString> = std::env::args_os().map(to_c).collect::<Result<_>>()?;
    let mut env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            to_c(kv)
        })
        .collect::<Result<_>>()?;
    env.push(to_c(format!("{GUARDED}=1").into())?);
    match nix::unistd::execveat(tree, c"", &args, &env, nix::fcntl::AtFlags::AT_EMPTY_PATH) {
        Err(e) => Err(e).ctx(|| "re-execute hull from its read-only bind mount"),
    }
}
