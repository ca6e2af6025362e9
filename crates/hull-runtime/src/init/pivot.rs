//! Making the rootfs the container's `/`: `pivot_root` (the old root is detached and
//! unmounted), or with `--no-pivot` a move mount and `chroot`.

use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use crate::error::{Context, Result};

/// pivot_root into `rootfs` and drop every trace of the old root.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old_root = open("/", flags, Mode::empty()).ctx(|| "open /")?;
    let new_root =
        open(rootfs, flags, Mode::empty()).ctx(|| format!("open {}", rootfs.display()))?;
    fchdir(&new_root).ctx(|| format!("chdir {}", rootfs.display()))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; no directory needed.
    pivot_root(".", ".").ctx(|| "pivot_root")?;
    fchdir(&old_root).ctx(|| "chdir to the old root")?;
    // Keep the unmount of the old root from propagating back to the host.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| "make the old root a slave")?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "unmount the old root")?;
    drop(old_root);
    drop(new_root);
    chdir("/").ctx(|| "chdir /")
}

/// `--no-pivot`: move the rootfs mount over `/` and chroot into it.
pub fn move_root(rootfs: &Path) -> Result<()> {
    chdir(rootfs).ctx(|| format!("chdir {}", rootfs.display()))?;
    mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .ctx(|| "move the rootfs to /")?;
    chroot(".").ctx(|| "chroot")?;
    chdir("/").ctx(|| "chdir /")
}

/// Remount `/` read-only (`root.readonly`).
pub fn make_readonly() -> Result<()> {
    super::remount::remount_bind(Path::new("/"), MsFlags::MS_RDONLY | MsFlags::MS_REC)
        .ctx(|| "remount the root filesystem read-only")
}
