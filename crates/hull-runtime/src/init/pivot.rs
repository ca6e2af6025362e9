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

/// `--no-pivot`: move the rootfs mount over `/` and chroot into it. The old root stays in the
/// mount namespace under the chroot, so its procfs and sysfs mounts are removed first (or, if
/// they cannot be, covered by an empty read-only tmpfs): while a fully visible procfs is in
/// the namespace, the kernel lets the container mount a fresh, unmasked `/proc` of its own.
pub fn move_root(rootfs: &Path) -> Result<()> {
    hide_host_proc_and_sys(rootfs)?;
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

/// Detach every procfs and sysfs mount outside `rootfs`, deepest first, without the unmount
/// reaching the host (each is made a slave first); one that cannot be detached is covered.
fn hide_host_proc_and_sys(rootfs: &Path) -> Result<()> {
    let text = crate::kernel_text::read("/proc/self/mountinfo").ctx(|| "read mountinfo")?;
    let outside: Vec<String> = text
        .lines()
        .filter_map(proc_or_sys_mount_point)
        .filter(|p| !Path::new(p).starts_with(rootfs))
        .collect();
    for point in outside.iter().rev() {
        let _ = mount(
            None::<&str>,
            point.as_str(),
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        );
        match umount2(point.as_str(), MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::EINVAL) => {}
            Err(_) => mount(
                Some("tmpfs"),
                point.as_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=0"),
            )
            .ctx(|| format!("cover the host's {point}"))?,
        }
    }
    Ok(())
}

/// The mount point of a mountinfo line whose file system is proc or sysfs.
fn proc_or_sys_mount_point(line: &str) -> Option<String> {
    let (head, tail) = line.split_once(" - ")?;
    let fstype = tail.split(' ').next()?;
    if fstype != "proc" && fstype != "sysfs" {
        return None;
    }
    let point = head.split(' ').nth(4)?;
    Some(
        point
            .replace("\\040", " ")
            .replace("\\011", "\t")
            .replace("\\134", "\\"),
    )
}

/// Remount `/` read-only (`root.readonly`).
pub fn make_readonly() -> Result<()> {
    super::remount::remount_bind(Path::new("/"), MsFlags::MS_RDONLY | MsFlags::MS_REC)
        .ctx(|| "remount the root filesystem read-only")
}
