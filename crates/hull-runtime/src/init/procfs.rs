//! The container's `/proc`, trusted only once checked. A rootfs or a mount of the config can put
//! something else at `/proc` (a directory of fake files, a symlink, a bind of another procfs
//! file over the one written): runc's CVE-2019-16884, CVE-2019-19921 and CVE-2025-52881. So
//! mounts that land on or inside `/proc` are checked where they really land, and every write
//! hull makes to the container's procfs goes through a checked handle: the root of a procfs
//! mount, from which the file is reached without crossing a mount or a magic link.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, Mode};
use nix::sys::statfs::fstatfs;
use oci_spec::runtime::Mount;

use super::inroot;
use crate::error::{Context, Error, Result};

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// The inode number of a procfs mount's root directory.
const PROC_ROOT_INO: u64 = 1;

/// Files under `/proc` that may be mounted over (what lxcfs emulates), as runc allows.
const MOUNTABLE_UNDER_PROC: &[&str] = &[
    "cpuinfo",
    "diskstats",
    "meminfo",
    "stat",
    "swaps",
    "uptime",
    "loadavg",
    "slabinfo",
    "pressure/cpu",
    "pressure/io",
    "pressure/memory",
    "net/dev",
    "sys/kernel/ns_last_pid",
];

fn is_procfs(fd: &impl AsFd) -> nix::Result<bool> {
    Ok(fstatfs(fd)?.filesystem_type().0 as i64 == PROC_SUPER_MAGIC)
}

/// Check mount `index` of the config before it is made: its destination, resolved inside the
/// rootfs `root`, may be `/proc` only for a procfs (or a bind of one), and inside `/proc` only
/// one of the files lxcfs emulates; `/proc` and `/sys` themselves must not be symlinks.
/// Returns whether the destination is the root of the rootfs itself (`/`, or a symlink to
/// it), where the mount replaces the rootfs.
pub fn check_mount(root: &OwnedFd, index: usize, m: &Mount, source: Option<&Path>) -> Result<bool> {
    let dest = m.destination();
    let at = || format!("mounts[{index}] ({})", dest.display());
    let rootfs = std::fs::read_link(inroot::fd_path(root)).ctx(|| "read the rootfs path")?;
    for top in ["proc", "sys"] {
        if *dest == Path::new("/").join(top) && rootfs.join(top).is_symlink() {
            return Err(Error::Msg(format!(
                "{}: /{top} is a symlink in the rootfs: refused",
                at()
            )));
        }
    }
    let (real, exists) = resolved(root, dest)?;
    if exists && real == rootfs {
        return Ok(true);
    }
    let Ok(rel) = real.strip_prefix(&rootfs) else {
        return Ok(false);
    };
    let Ok(in_proc) = rel.strip_prefix("proc") else {
        return Ok(false);
    };
    if in_proc.as_os_str().is_empty() {
        let is_proc = match source {
            Some(src) => File::open(src).is_ok_and(|f| is_procfs(&f).unwrap_or(false)),
            None => m.typ().as_deref() == Some("proc"),
        };
        return match is_proc {
            true => Ok(false),
            false => Err(Error::Msg(format!(
                "{}: lands on /proc, which must be of type proc",
                at()
            ))),
        };
    }
    match MOUNTABLE_UNDER_PROC
        .iter()
        .any(|ok| in_proc == Path::new(ok))
    {
        true => Ok(false),
        false => Err(Error::Msg(format!(
            "{}: lands on /proc/{}, inside /proc: refused",
            at(),
            in_proc.display()
        ))),
    }
}

/// Where `dest` lands on the host: its deepest existing ancestor, resolved inside the rootfs,
/// followed by the components that do not exist yet; and whether there are none.
fn resolved(root: &OwnedFd, dest: &Path) -> Result<(PathBuf, bool)> {
    let mut existing = dest.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(fd) = inroot::open(root, &existing, inroot::Create::Nothing) {
            let mut real = std::fs::read_link(inroot::fd_path(&fd))
                .ctx(|| format!("resolve {}", dest.display()))?;
            real.extend(rest.iter().rev());
            return Ok((real, rest.is_empty()));
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(PathBuf::from(name));
                existing = parent.to_path_buf();
            }
            _ => return Err(Error::Msg(format!("resolve {}", dest.display()))),
        }
    }
}

/// The container's `/proc` (after pivot_root), checked to be the root of a procfs mount and
/// not a symlink, a directory of fake files, or a procfs subdirectory bound over it.
pub fn open_root() -> Result<OwnedFd> {
    let fd = nix::fcntl::open(
        "/proc",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open /proc (it must be a procfs mount, not a symlink)")?;
    let real = is_procfs(&fd).ctx(|| "statfs /proc")?
        && fstat(fd.as_fd()).ctx(|| "stat /proc")?.st_ino == PROC_ROOT_INO;
    if !real {
        return Err(Error::Msg(
            "/proc is not a procfs mount: a fake /proc is refused".into(),
        ));
    }
    Ok(fd)
}

/// How a file under a checked procfs root is reached: beneath it, crossing no mount and no
/// magic link.
fn beneath(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_XDEV
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        )
}

/// Read `rel` (e.g. `thread-self/status`) under the checked procfs `root`, reached as
/// [`write`] reaches its file, and checked to be on procfs.
pub fn read(root: &OwnedFd, rel: &str) -> Result<String> {
    let fd =
        openat2(root.as_fd(), rel, beneath(OFlag::O_RDONLY)).ctx(|| format!("open /proc/{rel}"))?;
    if !is_procfs(&fd).ctx(|| format!("statfs /proc/{rel}"))? {
        return Err(Error::Msg(format!("/proc/{rel} is not on procfs")));
    }
    crate::kernel_text::read_all(File::from(fd)).ctx(|| format!("read /proc/{rel}"))
}

/// Write `value` to `rel` (e.g. `sys/net/ipv4/ip_forward`, `thread-self/attr/exec`) under the
/// checked procfs `root`: the path stays beneath it, crosses no mount (a file bound over the
/// one meant is refused) and no magic link, and the file opened is on procfs.
pub fn write(root: &OwnedFd, rel: &str, value: &str) -> Result<()> {
    let fd =
        openat2(root.as_fd(), rel, beneath(OFlag::O_WRONLY)).ctx(|| format!("open /proc/{rel}"))?;
    if !is_procfs(&fd).ctx(|| format!("statfs /proc/{rel}"))? {
        return Err(Error::Msg(format!("/proc/{rel} is not on procfs")));
    }
    nix::unistd::write(&fd, value.as_bytes()).ctx(|| format!("write /proc/{rel}"))?;
    Ok(())
}
