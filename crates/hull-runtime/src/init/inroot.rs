//! Resolving paths inside the container's rootfs without ever leaving it
//! (CVE-2021-30465): every lookup is an `openat2(RESOLVE_IN_ROOT)` from the rootfs fd, so a
//! symlink such as `/mnt -> /` resolves to the rootfs itself, never to the host's `/`.
//! Missing components are created one by one under an already-resolved parent.
//!
//! Written by hand rather than with `pathrs`: we need only this one operation, and it is a
//! dozen lines over `openat2`, which `nix` already provides.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, Mode};

use crate::error::{Context, Result};

/// What to create at the end of a path that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Nothing: a missing path is an error.
    Nothing,
    /// A directory (mode 0755).
    Dir,
    /// An empty regular file (mode 0644), e.g. the target of a file bind mount.
    File,
}

fn how() -> OpenHow {
    OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

/// The components of an absolute or relative container path, without `.` and the root.
fn parts(path: &Path) -> Vec<PathBuf> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect()
}

/// Open the existing `path` (a container path) inside `root` as an `O_PATH` fd, following
/// symlinks only inside it; the kernel's errno is kept (ENOENT for a missing path).
pub fn lookup(root: &OwnedFd, path: &Path) -> nix::Result<OwnedFd> {
    let full: PathBuf = parts(path).iter().collect();
    let full = if full.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        full
    };
    openat2(root.as_fd(), &full, how())
}

/// Open `path` (a container path) inside `root`, creating what is missing as `create` says.
/// The result is an `O_PATH` fd of an object inside the rootfs.
pub fn open(root: &OwnedFd, path: &Path, create: Create) -> Result<OwnedFd> {
    open_following(root, path, create, 0).map(|(fd, _)| fd)
}

/// Like [`open`], and whether the path had to be made (so nothing was there before).
pub fn open_noting_made(root: &OwnedFd, path: &Path, create: Create) -> Result<(OwnedFd, bool)> {
    open_following(root, path, create, 0)
}

/// Like [`open`], but a last component that is a symlink is opened itself (`O_NOFOLLOW`), not
/// followed: what a mount onto that symlink needs.
pub fn open_unfollowed(root: &OwnedFd, path: &Path, create: Create) -> Result<OwnedFd> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return open(root, path, create);
    };
    let parent_create = match create {
        Create::Nothing => Create::Nothing,
        _ => Create::Dir,
    };
    let dir = open(root, parent, parent_create)?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    match openat2(dir.as_fd(), name, how) {
        Err(Errno::ENOENT) if create != Create::Nothing => {
            match make(&dir, Path::new(name), create) {
                Err(Errno::EEXIST) if create == Create::Dir => Ok(()),
                other => other,
            }
            .ctx(|| format!("create {} in the rootfs", path.display()))?;
            openat2(dir.as_fd(), name, how)
        }
        other => other,
    }
    .ctx(|| format!("resolve {} in the rootfs", path.display()))
}

/// How many dangling symlinks [`open`] follows before giving up (the kernel's own limit).
const MAX_LINKS: u32 = 40;

fn open_following(
    root: &OwnedFd,
    path: &Path,
    create: Create,
    links: u32,
) -> Result<(OwnedFd, bool)> {
    if links > MAX_LINKS {
        return Err(Errno::ELOOP).ctx(|| format!("resolve {} in the rootfs", path.display()));
    }
    let parts = parts(path);
    let full: PathBuf = parts.iter().collect();
    let full = if full.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        full
    };
    match openat2(root.as_fd(), &full, how()) {
        Err(Errno::ENOENT) if create != Create::Nothing => {}
        other => {
            return other
                .map(|fd| (fd, false))
                .ctx(|| format!("resolve {} in the rootfs", path.display()))
        }
    }
    // The deepest existing ancestor: a path resolves only if each of its prefixes does, so
    // every component after it is missing and is made without looking it up first.
    let (mut parent, found) = deepest_existing(root, &parts)?;
    let mut prefix: PathBuf = parts[..found].iter().collect();
    for (i, part) in parts.iter().enumerate().skip(found) {
        prefix.push(part);
        let kind = if i + 1 == parts.len() {
            create
        } else {
            Create::Dir
        };
        match make(&parent, part, kind) {
            Ok(()) => {}
            // There though it did not resolve: a dangling symlink. Create what it points to,
            // inside the rootfs (runc alike).
            Err(Errno::EEXIST) => {
                if let Ok(target) = nix::fcntl::readlinkat(parent.as_fd(), part.as_path()) {
                    let mut next: PathBuf = parts[..i].iter().collect();
                    next.push(target);
                    next.extend(&parts[i + 1..]);
                    return open_following(root, &next, create, links + 1);
                }
                if kind == Create::File {
                    return Err(Errno::EEXIST)
                        .ctx(|| format!("create {} in the rootfs", prefix.display()));
                }
            }
            Err(e) => return Err(e).ctx(|| format!("create {} in the rootfs", prefix.display())),
        }
        parent = openat2(root.as_fd(), &prefix, how())
            .ctx(|| format!("resolve {} in the rootfs", prefix.display()))?;
    }
    Ok((parent, true))
}

/// The deepest proper prefix of `parts` (the full path is known missing) that resolves
/// inside `root`, opened, and its length; the rootfs itself (length 0) when none does.
fn deepest_existing(root: &OwnedFd, parts: &[PathBuf]) -> Result<(OwnedFd, usize)> {
    for len in (1..parts.len()).rev() {
        let prefix: PathBuf = parts[..len].iter().collect();
        match openat2(root.as_fd(), &prefix, how()) {
            Ok(fd) => return Ok((fd, len)),
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(e).ctx(|| format!("resolve {} in the rootfs", prefix.display())),
        }
    }
    let fd = openat2(root.as_fd(), ".", how()).ctx(|| "open the rootfs")?;
    Ok((fd, 0))
}

/// Make `name` in `parent` as `create` says; EEXIST when the name is taken (by anything,
/// a dangling symlink too).
fn make(parent: &OwnedFd, name: &Path, create: Create) -> nix::Result<()> {
    match create {
        Create::File => {
            let flags = OFlag::O_CREAT
                | OFlag::O_EXCL
                | OFlag::O_WRONLY
                | OFlag::O_CLOEXEC
                | OFlag::O_NOFOLLOW;
            nix::fcntl::openat(parent.as_fd(), name, flags, Mode::from_bits_truncate(0o644))
                .map(drop)
        }
        _ => mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(0o755)),
    }
}

/// Open the directory `rootfs` (a host path) as the `root` of the other functions here.
pub fn open_root(rootfs: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open the rootfs {}", rootfs.display()))
}

/// The `/proc/self/fd/N` path through which `mount(2)` reaches an fd from [`open`].
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_root() -> (PathBuf, OwnedFd) {
        let dir = std::env::temp_dir().join(format!(
            "hull-inroot-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let fd = nix::fcntl::open(
            &dir,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        (dir, fd)
    }

    fn rand_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    #[test]
    fn symlink_to_host_root_stays_inside() {
        let (dir, root) = tmp_root();
        std::os::unix::fs::symlink("/", dir.join("mnt")).unwrap();
        let name = format!("hull-inroot-escape-{}", rand_suffix());
        open(&root, &Path::new("/mnt").join(&name), Create::Dir).unwrap();
        assert!(dir.join(&name).is_dir(), "created inside the rootfs");
        assert!(!Path::new("/").join(&name).exists(), "nothing on the host");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn creates_files_and_nested_dirs() {
        let (dir, root) = tmp_root();
        open(&root, Path::new("/a/b/c"), Create::File).unwrap();
        assert!(dir.join("a/b/c").is_file());
        assert!(open(&root, Path::new("/missing"), Create::Nothing).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dangling_symlinks_are_followed_inside() {
        let (dir, root) = tmp_root();
        std::fs::create_dir(dir.join("etc")).unwrap();
        std::os::unix::fs::symlink("../srv/data", dir.join("etc/rel")).unwrap();
        std::os::unix::fs::symlink("/opt/abs", dir.join("etc/abs")).unwrap();
        std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
        open(&root, Path::new("/etc/rel/sub"), Create::Dir).unwrap();
        open(&root, Path::new("/etc/abs"), Create::File).unwrap();
        assert!(dir.join("srv/data/sub").is_dir());
        assert!(dir.join("opt/abs").is_file());
        assert!(open(&root, Path::new("/loop"), Create::Dir).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
