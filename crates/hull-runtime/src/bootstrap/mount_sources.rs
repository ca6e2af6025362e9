//! Bind sources opened by the parent for an init in a user namespace.
//!
//! Inside its user namespace, init is root only of the ids mapped to it: a bind source under a
//! directory only host root may enter (`0700 root:root`) is out of its reach. So, as runc does
//! (its "mount sources"), the parent, still host root, joins init's mount namespace for a
//! moment, opens every bind source there (`O_PATH`: no permission is needed on the file
//! itself), comes back, and passes the fds to init (`Msg::MountSource`, before `Proceed`). Init
//! mounts from `/proc/self/fd/N`, which reaches the file without walking the path again.
//!
//! The sources are opened in init's own mount namespace (still a copy of the host's at that
//! point), not in the parent's: a bind mount's source must be a mount of the caller's
//! namespace, and the copy carries the locks the kernel put on the mounts of a less privileged
//! namespace, which a detached clone of the host's mounts would not.
//!
//! A source that cannot be opened here is left to init, which then reports it as before; a
//! parent that may not join the namespace (rootless: the owner of the user namespace reaches
//! what it maps anyway) passes nothing.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sched::{setns, CloneFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chroot, fchdir};
use oci_spec::runtime::Spec;

use super::channel::{Channel, Msg};
use super::idmap_mount::IdmappedMounts;
use crate::error::{Context, Error, Result};

/// Bind sources opened by the parent, by index in `mounts`.
#[derive(Debug, Default)]
pub struct MountSources {
    fds: Vec<(usize, OwnedFd)>,
}

impl MountSources {
    /// The source opened for `mounts[index]`, if the parent opened one.
    pub fn get(&self, index: usize) -> Option<&OwnedFd> {
        self.fds.iter().find(|(i, _)| *i == index).map(|(_, fd)| fd)
    }

    /// In init: keep the source the parent sent for `mounts[index]`.
    pub fn add(&mut self, index: usize, fd: OwnedFd) {
        self.fds.push((index, fd));
    }
}

/// The bind mounts of `spec` whose source init gets from the parent: every bind mount that is
/// not id-mapped (those are cloned by the parent already).
fn wanted<'a>(
    spec: &'a Spec,
    bundle: &'a Path,
    idmapped: &'a IdmappedMounts,
) -> impl Iterator<Item = (usize, std::path::PathBuf)> + 'a {
    spec.mounts()
        .iter()
        .flatten()
        .enumerate()
        .filter(|(i, m)| {
            idmapped.get(*i).is_none()
                && crate::init::mount_options::parse(m.options().as_deref().unwrap_or_default())
                    .is_bind()
        })
        .map(move |(i, m)| (i, crate::spec::query::mount_source(bundle, m)))
}

/// In the parent, before `Proceed`: open the bind sources of `spec` in the mount namespace of
/// init (`pid`) and send each to init over `chan`.
pub fn send(
    chan: &Channel,
    pid: i32,
    spec: &Spec,
    bundle: &Path,
    idmapped: &IdmappedMounts,
) -> Result<()> {
    let sources: Vec<_> = wanted(spec, bundle, idmapped).collect();
    if sources.is_empty() {
        return Ok(());
    }
    let opened = open_in_namespace_of(pid, &sources)?;
    for (index, fd) in &opened {
        chan.send_with_fds(&Msg::MountSource { index: *index }, &[fd.as_raw_fd()])?;
    }
    Ok(())
}

/// Open each `(index, path)` with `O_PATH` in the mount namespace of `pid`, then return to
/// the parent's own namespace, root and working directory.
fn open_in_namespace_of(
    pid: i32,
    sources: &[(usize, std::path::PathBuf)],
) -> Result<Vec<(usize, OwnedFd)>> {
    let dir = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let ns = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let own_ns = open("/proc/self/ns/mnt", ns, Mode::empty()).ctx(|| "open /proc/self/ns/mnt")?;
    let own_root = open("/", dir, Mode::empty()).ctx(|| "open /")?;
    let own_cwd = open(".", dir, Mode::empty()).ctx(|| "open the working directory")?;
    let init_ns = format!("/proc/{pid}/ns/mnt");
    let init_ns = open(init_ns.as_str(), ns, Mode::empty()).ctx(|| format!("open {init_ns}"))?;
    match setns(&init_ns, CloneFlags::CLONE_NEWNS) {
        Ok(()) => {}
        // Not allowed to (rootless): init reaches what it maps, as the parent does.
        Err(Errno::EPERM) => return Ok(Vec::new()),
        Err(e) => return Err(e).ctx(|| "join the container's mount namespace"),
    }
    let opened: Vec<(usize, OwnedFd)> = sources
        .iter()
        .filter_map(|(i, path)| {
            open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
                .ok()
                .map(|fd| (*i, fd))
        })
        .collect();
    back_home(&own_ns, &own_root, &own_cwd).map_err(|e| {
        Error::Msg(format!(
            "return from the container's mount namespace (hull exits): {e}"
        ))
    })?;
    Ok(opened)
}

/// Rejoin the parent's mount namespace and its root and working directory (setns moved both to
/// the namespace's root).
fn back_home(ns: &OwnedFd, root: &OwnedFd, cwd: &OwnedFd) -> nix::Result<()> {
    setns(ns, CloneFlags::CLONE_NEWNS)?;
    fchdir(root)?;
    chroot(".")?;
    fchdir(cwd)
}
