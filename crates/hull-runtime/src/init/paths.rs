//! `linux.readonlyPaths` and `linux.maskedPaths`, applied after pivot_root, so the paths are
//! the container's own. A path that does not exist is skipped. Every path is resolved inside
//! the container's root and mounted on through its fd, and what masks a file must really be
//! the null device: a `/dev/null` replaced by a symlink (say to
//! `/proc/sys/kernel/core_pattern`) would otherwise bind a host-writable file over the masked
//! path (runc's CVE-2025-31133).

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fstat, makedev, Mode, SFlag};

use super::inroot::{self, fd_path};
use crate::error::{Context, Error, Result};

/// The container's `/`, the base every path here is resolved in.
fn container_root() -> Result<OwnedFd> {
    nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open /")
}

/// `path` resolved inside `root`, or None when it does not exist.
fn find(root: &OwnedFd, path: &str) -> Result<Option<OwnedFd>> {
    match inroot::lookup(root, Path::new(path)) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e).ctx(|| format!("resolve {path}")),
    }
}

/// Make each path a read-only bind mount of itself. `/proc` must have been checked
/// (`procfs::open_root`): the mounts go through `/proc/self/fd`.
pub fn make_readonly(paths: &[String]) -> Result<()> {
    let root = container_root()?;
    for p in paths {
        let Some(target) = find(&root, p)? else {
            continue;
        };
        let at = fd_path(&target);
        mount(
            Some(&at),
            &at,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx(|| format!("bind {p} for readonlyPaths"))?;
        // The old fd still names what is now covered: the new mount is reached afresh.
        let mounted = find(&root, p)?.ok_or_else(|| Error::Msg(format!("{p} vanished")))?;
        super::remount::remount_bind(&fd_path(&mounted), MsFlags::MS_RDONLY | MsFlags::MS_REC)
            .ctx(|| format!("remount {p} read-only"))?;
    }
    Ok(())
}

/// Hide each path: a directory under an empty read-only tmpfs, anything else under the
/// container's `/dev/null`, checked to be the null device. `/proc` must have been checked.
pub fn mask(paths: &[String]) -> Result<()> {
    let root = container_root()?;
    let mut null = None;
    for p in paths {
        let Some(target) = find(&root, p)? else {
            continue;
        };
        let is_dir = fstat(target.as_fd())
            .map(|st| st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFDIR.bits())
            .ctx(|| format!("stat masked path {p}"))?;
        let done = if is_dir {
            mount(
                Some("tmpfs"),
                &fd_path(&target),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
        } else {
            let null = match &null {
                Some(fd) => fd,
                None => null.insert(dev_null(&root)?),
            };
            mount(
                Some(&fd_path(null)),
                &fd_path(&target),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        done.ctx(|| format!("mask {p}"))?;
    }
    Ok(())
}

/// The container's `/dev/null`, reached without following any symlink and checked to be the
/// character device 1:3.
fn dev_null(root: &OwnedFd) -> Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(
            ResolveFlag::RESOLVE_IN_ROOT
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    let fd = openat2(root.as_fd(), "dev/null", how)
        .ctx(|| "maskedPaths: open /dev/null (a symlink there is refused)")?;
    let st = fstat(fd.as_fd()).ctx(|| "maskedPaths: stat /dev/null")?;
    let is_char = st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFCHR.bits();
    if !is_char || st.st_rdev != makedev(1, 3) {
        return Err(Error::Msg(
            "maskedPaths: /dev/null is not the null device (char 1:3): refused".into(),
        ));
    }
    Ok(fd)
}
