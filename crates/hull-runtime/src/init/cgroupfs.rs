//! The `cgroup` mount inside the container. On a cgroup v2 host it is one cgroup2 mount.
//! On v1 and hybrid hosts it is a tmpfs holding one mount per host hierarchy (as runc does):
//! a fresh cgroup mount when the container has its own cgroup namespace (the kernel shows the
//! namespace root), otherwise a bind mount of the container's own cgroup directory. The
//! hierarchies and this process's place in them are read with hull-cgroups' parsers.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use hull_cgroups::{parse_mountinfo, parse_proc_cgroup, Hierarchy, ProcCgroups};
use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::{mkdirat, Mode};

use super::inroot::{self, Create};
use super::mount_options::MountOptions;
use crate::error::{Context, Result};

/// Mount the container's view of the cgroup hierarchies at `dest`.
pub fn mount(root: &OwnedFd, dest: &Path, opts: &MountOptions, new_cgroupns: bool) -> Result<()> {
    let mountinfo =
        crate::kernel_text::read("/proc/self/mountinfo").ctx(|| "read /proc/self/mountinfo")?;
    let proc_cgroup =
        crate::kernel_text::read("/proc/self/cgroup").ctx(|| "read /proc/self/cgroup")?;
    let layout = parse_mountinfo(&mountinfo)?;
    let own = parse_proc_cgroup(&proc_cgroup)?;
    let all: Vec<&Hierarchy> = layout
        .v1
        .iter()
        .chain(layout.unified.iter())
        .filter(|h| h.mount_point.starts_with("/sys/fs/cgroup"))
        .collect();
    let flags = opts.flags
        & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME);
    let ro = opts.flags & MsFlags::MS_RDONLY;
    if let [only] = all.as_slice() {
        if only.is_unified() {
            return mount_hierarchy(root, dest, only, &own, flags | ro, new_cgroupns);
        }
    }
    let target = inroot::open(root, dest, Create::Dir)?;
    nix::mount::mount(
        Some("tmpfs"),
        &inroot::fd_path(&target),
        Some("tmpfs"),
        flags,
        Some("mode=755"),
    )
    .ctx(|| format!("mount tmpfs on {}", dest.display()))?;
    // Each hierarchy's directory is made in the new, empty tmpfs itself (one name, no walk);
    // its mount is still made on the path resolved inside the rootfs.
    let tmpfs = inroot::open(root, dest, Create::Nothing)?;
    for h in &all {
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        let at = dest.join(name);
        match mkdirat(tmpfs.as_fd(), name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e).ctx(|| format!("create {}", at.display())),
        }
        mount_hierarchy(root, &at, h, &own, flags | ro, new_cgroupns)?;
    }
    if !ro.is_empty() {
        nix::mount::mount(
            None::<&str>,
            &inroot::fd_path(&tmpfs),
            None::<&str>,
            MsFlags::MS_REMOUNT | flags | ro,
            Some("mode=755"),
        )
        .ctx(|| format!("remount {} read-only", dest.display()))?;
    }
    Ok(())
}

/// The mount options naming a v1 hierarchy's controllers (`cpu,cpuacct`, `name=systemd`).
fn controller_options(h: &Hierarchy) -> Option<String> {
    let ctrls = h.controllers.as_ref()?;
    Some(
        ctrls
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// The host directory of this process's cgroup in `h` (its path, under the mount's root).
fn own_dir(h: &Hierarchy, own: &ProcCgroups) -> std::path::PathBuf {
    let path = own.path_in(h).unwrap_or("/");
    let below_root = path.strip_prefix(h.mount_root.as_str()).unwrap_or(path);
    h.mount_point.join(below_root.trim_start_matches('/'))
}

fn mount_hierarchy(
    root: &OwnedFd,
    dest: &Path,
    h: &Hierarchy,
    own: &ProcCgroups,
    flags: MsFlags,
    new_ns: bool,
) -> Result<()> {
    let target = inroot::open(root, dest, Create::Dir)?;
    let path = inroot::fd_path(&target);
    if new_ns {
        let fstype = if h.is_unified() { "cgroup2" } else { "cgroup" };
        let data = controller_options(h);
        let mounted =
            nix::mount::mount(Some("cgroup"), &path, Some(fstype), flags, data.as_deref());
        // EBUSY: `dest` is already the root of a mount of this very cgroup2 (a `/sys`
        // rbind of the host's, as `spec --rootless` makes it), and the kernel refuses the
        // same file system twice on one mount point; a detached mount moved there is not.
        let mounted = match mounted {
            Err(Errno::EBUSY) if h.is_unified() => fresh_cgroup2(&target, flags),
            other => other,
        };
        return mounted.ctx(|| {
            format!(
                "mount {fstype} ({}) on {}",
                data.as_deref().unwrap_or(""),
                dest.display()
            )
        });
    }
    let source = own_dir(h, own);
    nix::mount::mount(
        Some(&source),
        &path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("bind mount {} on {}", source.display(), dest.display()))?;
    let mounted = inroot::open(root, dest, Create::Nothing)?;
    super::remount::remount_bind(&inroot::fd_path(&mounted), flags)
        .ctx(|| format!("remount {}", dest.display()))
}

/// A new cgroup2 mount (of this process's cgroup namespace) with `flags`, made detached with
/// fsopen/fsmount and moved onto `target` (an `O_PATH` fd inside the rootfs).
fn fresh_cgroup2(target: &OwnedFd, flags: MsFlags) -> nix::Result<()> {
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    let attrs = [
        (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
    ]
    .iter()
    .filter(|(f, _)| flags.contains(*f))
    .fold(0, |acc, (_, a)| acc | a);
    // SAFETY: fsopen reads the static C string and returns a new fd (or -1).
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, c"cgroup2".as_ptr(), libc::FSOPEN_CLOEXEC) };
    let fs = owned(fs)?;
    // SAFETY: FSCONFIG_CMD_CREATE takes no key or value (null, 0); the fd is live.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    Errno::result(rc)?;
    // SAFETY: fsmount takes the live fs-context fd and plain flags, returns a new fd.
    let mnt = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            attrs,
        )
    };
    let mnt = owned(mnt)?;
    crate::bootstrap::idmap_mount::attach(&mnt, target)
}

/// The fd a system call returned, or its errno.
fn owned(ret: libc::c_long) -> nix::Result<OwnedFd> {
    let fd = Errno::result(ret)?;
    // SAFETY: the kernel just gave us this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str =
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
        22 1 0:5 / /proc rw - proc proc rw\n";

    #[test]
    fn controllers_become_mount_options() {
        let layout = parse_mountinfo(HYBRID).unwrap();
        assert_eq!(
            controller_options(&layout.v1[0]).as_deref(),
            Some("cpu,cpuacct")
        );
        assert_eq!(
            controller_options(&layout.v1[1]).as_deref(),
            Some("name=systemd")
        );
        assert_eq!(controller_options(layout.unified.as_ref().unwrap()), None);
    }

    #[test]
    fn own_dirs_follow_proc_self_cgroup() {
        let layout = parse_mountinfo(HYBRID).unwrap();
        let own = parse_proc_cgroup("4:memory:/a\n1:cpu,cpuacct:/b/c\n9:name=systemd:/s\n0::/u\n")
            .unwrap();
        assert_eq!(
            own_dir(&layout.v1[0], &own),
            Path::new("/sys/fs/cgroup/cpu,cpuacct/b/c")
        );
        assert_eq!(
            own_dir(&layout.v1[1], &own),
            Path::new("/sys/fs/cgroup/systemd/s")
        );
        assert_eq!(
            own_dir(layout.unified.as_ref().unwrap(), &own),
            Path::new("/sys/fs/cgroup/unified/u")
        );
    }
}
