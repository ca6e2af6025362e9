//! Bind sources that init cannot take itself, taken for it by the parent when init reaches them.
//!
//! Two cases. In a user namespace init is root only of the ids mapped to it: a bind source
//! under a directory only host root may enter (`0700 root:root`) is out of its reach. And an
//! id-mapped mount needs host root to set the mapping (`mount_setattr(MOUNT_ATTR_IDMAP)`). In
//! both, init asks (`Msg::OpenMountSource`) when its turn in `mounts` comes; the parent, still
//! host root, joins init's mount namespace for a moment, takes the source there (an `O_PATH` fd,
//! or a detached id-mapped copy of the tree), comes back, and sends it (`Msg::MountSource`).
//! Init then mounts from `/proc/self/fd/N` (which reaches the file without walking its path
//! again) or attaches the copy with `move_mount`.
//!
//! Taken in init's namespace and only then, the source is what the mounts before it made of it
//! (a source inside the tree being built), and its mounts keep the locks the kernel put on the
//! mounts of a less privileged namespace (a copy of the host's own mounts would not). runc
//! opens its "mount sources" in the container's namespace too, but all before the first mount.
//!
//! A plain source the parent cannot open (or a parent that may not join: rootless, where the
//! owner of the user namespace reaches what it maps anyway) gets `Msg::NoMountSource`, and init
//! reports its own error; an id-mapped mount that cannot be made fails `create` in the parent.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sched::{setns, CloneFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chroot, fchdir};
use oci_spec::runtime::Spec;

use super::channel::{Channel, Msg};
use super::idmap_mount::{self, MappingNamespaces};
use crate::error::{Context, Error, Result};

/// In init: ask the parent for the source of `mounts[index]`; `None` when it has none to give.
pub fn request(chan: &Channel, index: usize) -> Result<Option<OwnedFd>> {
    chan.send(&Msg::OpenMountSource { index })?;
    match chan.recv_with_fds()? {
        Some((Msg::MountSource { index: i }, mut fds)) if i == index && fds.len() == 1 => {
            Ok(Some(fds.remove(0)))
        }
        Some((Msg::NoMountSource, _)) => Ok(None),
        other => Err(Error::Msg(format!(
            "expected the source of mounts[{index}], got {:?}",
            other.map(|(m, _)| m)
        ))),
    }
}

/// In the parent: takes mount sources in the mount namespace of init (`pid`) on request.
#[derive(Debug)]
pub struct Server<'a> {
    pid: i32,
    spec: &'a Spec,
    bundle: &'a Path,
    mappings: MappingNamespaces,
}

impl<'a> Server<'a> {
    /// A server for the init `pid` of the container `spec` whose bundle is `bundle`.
    pub fn new(pid: i32, spec: &'a Spec, bundle: &'a Path) -> Server<'a> {
        Server {
            pid,
            spec,
            bundle,
            mappings: MappingNamespaces::default(),
        }
    }

    /// Answer `Msg::OpenMountSource { index }` on `chan`. Errors only for an id-mapped mount
    /// that cannot be made (or a channel that fails): then `create` fails.
    pub fn serve(&mut self, chan: &Channel, index: usize) -> Result<()> {
        let m = self
            .spec
            .mounts()
            .as_deref()
            .and_then(|ms| ms.get(index))
            .ok_or_else(|| {
                Error::Msg(format!(
                    "init asked for mounts[{index}], which is not there"
                ))
            })?;
        let source = crate::spec::query::mount_source(self.bundle, m);
        let taken = if idmap_mount::is_idmapped(m) {
            let prepared = self.mappings.prepare(self.spec, index, m)?;
            let tree = in_mount_namespace_of(self.pid, || prepared.clone_mapped(&source))
                .map_err(|e| Error::Msg(format!("mounts[{index}]: {e}")))?;
            Some(tree?)
        } else {
            let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
            in_mount_namespace_of(self.pid, || open(&source, flags, Mode::empty()).ok())
                .ok()
                .flatten()
        };
        match taken {
            Some(fd) => chan.send_with_fds(&Msg::MountSource { index }, &[fd.as_raw_fd()]),
            None => chan.send(&Msg::NoMountSource),
        }
    }
}

/// Run `f` in the mount namespace of `pid`, then return to the caller's own namespace, root
/// and working directory.
fn in_mount_namespace_of<T>(pid: i32, f: impl FnOnce() -> T) -> Result<T> {
    let dir = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let ns = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let own_ns = open("/proc/self/ns/mnt", ns, Mode::empty()).ctx(|| "open /proc/self/ns/mnt")?;
    let own_root = open("/", dir, Mode::empty()).ctx(|| "open /")?;
    let own_cwd = open(".", dir, Mode::empty()).ctx(|| "open the working directory")?;
    let init_ns = format!("/proc/{pid}/ns/mnt");
    let init_ns = open(init_ns.as_str(), ns, Mode::empty()).ctx(|| format!("open {init_ns}"))?;
    setns(&init_ns, CloneFlags::CLONE_NEWNS).ctx(|| "join the container's mount namespace")?;
    let result = f();
    back_home(&own_ns, &own_root, &own_cwd).map_err(|e| {
        Error::Msg(format!(
            "return from the container's mount namespace: {}",
            Errno::desc(e)
        ))
    })?;
    Ok(result)
}

/// Rejoin the caller's mount namespace, root and working directory (setns moved both to the
/// namespace's root).
fn back_home(ns: &OwnedFd, root: &OwnedFd, cwd: &OwnedFd) -> nix::Result<()> {
    setns(ns, CloneFlags::CLONE_NEWNS)?;
    fchdir(root)?;
    chroot(".")?;
    fchdir(cwd)
}
