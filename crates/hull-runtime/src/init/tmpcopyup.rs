//! `tmpcopyup`: a tmpfs mounted over a directory of the image starts with a copy of that
//! directory (podman's `--read-only` and `--tmpfs` ask for it). The directory is opened before
//! the tmpfs covers it, so the copy reads the image through that fd and writes into the new
//! mount; no path outside the rootfs is involved. Everything is copied with `*at` calls from
//! directory fds, never following a symlink of the image: directories, regular files, symlinks,
//! device nodes, fifos and sockets, with owner, mode, timestamps and (where the tmpfs takes
//! them) extended attributes.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstat, fstatat, mkdirat, mknodat, utimensat, FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, symlinkat, Gid, Uid};

use crate::error::{Context, Result};

/// Open a directory (an `O_PATH` fd from `inroot::open`) for reading its entries.
pub fn open_dir(dir: &OwnedFd) -> nix::Result<OwnedFd> {
    openat(
        dir.as_fd(),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Copy the contents of directory `from` into directory `to` (both opened with [`open_dir`]),
/// and give `to` the owner and mode of `from` unless `keep_owner` / `keep_mode` (the mount's
/// own `uid=`/`gid=` or `mode=` say what they are). `what` names the mount in errors.
pub fn copy_up(
    from: &OwnedFd,
    to: &OwnedFd,
    keep_owner: bool,
    keep_mode: bool,
    what: &str,
) -> Result<()> {
    copy_dir_contents(from.as_fd(), to.as_fd()).ctx(|| format!("tmpcopyup {what}"))?;
    let st = fstat(from).ctx(|| format!("tmpcopyup {what}: stat the directory"))?;
    if !keep_owner {
        fchown(
            to,
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
        )
        .ctx(|| format!("tmpcopyup {what}: chown the tmpfs root"))?;
    }
    if !keep_mode {
        fchmod(to, Mode::from_bits_truncate(st.st_mode & 0o7777))
            .ctx(|| format!("tmpcopyup {what}: chmod the tmpfs root"))?;
    }
    Ok(())
}

/// Give directory `to` the permission bits of directory `from`.
pub fn copy_mode(from: &OwnedFd, to: &OwnedFd) -> nix::Result<()> {
    let st = fstat(from)?;
    fchmod(to, Mode::from_bits_truncate(st.st_mode & 0o7777))
}

fn copy_dir_contents(from: BorrowedFd, to: BorrowedFd) -> std::result::Result<(), CopyError> {
    let mut dir = Dir::openat(
        from,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| CopyError::at(".", e))?;
    let names: Vec<(CString, Option<Type>)> = dir
        .iter()
        .filter_map(|e| e.ok())
        .filter(|e| !matches!(e.file_name().to_bytes(), b"." | b".."))
        .map(|e| (e.file_name().to_owned(), e.file_type()))
        .collect();
    for (name, _) in names {
        copy_entry(from, to, &name).map_err(|e| e.within(&name))?;
    }
    Ok(())
}

fn copy_entry(from: BorrowedFd, to: BorrowedFd, name: &CStr) -> std::result::Result<(), CopyError> {
    let here = |e| CopyError::at("", e);
    let st = fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(here)?;
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
    match kind {
        SFlag::S_IFDIR => {
            match mkdirat(to, name, Mode::from_bits_truncate(0o700)) {
                Err(Errno::EEXIST) | Ok(()) => {}
                Err(e) => return Err(here(e)),
            }
            let src = open_child(from, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY).map_err(here)?;
            let dst = open_child(to, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY).map_err(here)?;
            copy_dir_contents(src.as_fd(), dst.as_fd())?;
            finish_fd(&src, &dst, &st, perm).map_err(here)
        }
        SFlag::S_IFREG => {
            let src = open_child(from, name, OFlag::O_RDONLY).map_err(here)?;
            let dst = openat(
                to,
                name,
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(here)?;
            let (mut r, mut w) = (File::from(src), File::from(dst));
            std::io::copy(&mut r, &mut w)
                .map_err(|e| here(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
            let (src, dst): (OwnedFd, OwnedFd) = (r.into(), w.into());
            finish_fd(&src, &dst, &st, perm).map_err(here)
        }
        SFlag::S_IFLNK => {
            let target = readlinkat(from, name).map_err(here)?;
            symlinkat(target.as_os_str(), to, name).map_err(here)?;
            fchownat(
                to,
                name,
                owner(&st),
                group(&st),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(here)?;
            set_times(to, name, &st).map_err(here)
        }
        _ => {
            // character and block devices, fifos and sockets
            mknodat(to, name, kind, Mode::from_bits_truncate(0o600), st.st_rdev).map_err(here)?;
            fchownat(
                to,
                name,
                owner(&st),
                group(&st),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(here)?;
            nix::sys::stat::fchmodat(to, name, perm, nix::sys::stat::FchmodatFlags::FollowSymlink)
                .map_err(here)?;
            set_times(to, name, &st).map_err(here)
        }
    }
}

fn open_child(dir: BorrowedFd, name: &CStr, flags: OFlag) -> nix::Result<OwnedFd> {
    openat(
        dir,
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

fn owner(st: &FileStat) -> Option<Uid> {
    Some(Uid::from_raw(st.st_uid))
}

fn group(st: &FileStat) -> Option<Gid> {
    Some(Gid::from_raw(st.st_gid))
}

/// Extended attributes, owner, then mode (chown clears set-id bits), then timestamps.
fn finish_fd(src: &OwnedFd, dst: &OwnedFd, st: &FileStat, perm: Mode) -> nix::Result<()> {
    copy_xattrs(src, dst);
    fchown(dst, owner(st), group(st))?;
    fchmod(dst, perm)?;
    nix::sys::stat::futimens(dst, &atime(st), &mtime(st))
}

fn set_times(dir: BorrowedFd, name: &CStr, st: &FileStat) -> nix::Result<()> {
    utimensat(
        dir,
        name,
        &atime(st),
        &mtime(st),
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
}

fn atime(st: &FileStat) -> TimeSpec {
    TimeSpec::new(st.st_atime, st.st_atime_nsec)
}

fn mtime(st: &FileStat) -> TimeSpec {
    TimeSpec::new(st.st_mtime, st.st_mtime_nsec)
}

/// Copy what extended attributes the target filesystem accepts; the others (a namespace tmpfs
/// does not support, or one the process may not set) are skipped, as "where possible" allows.
fn copy_xattrs(src: &OwnedFd, dst: &OwnedFd) {
    let mut names = vec![0u8; 4096];
    // SAFETY: the buffer is valid for its length; the kernel writes at most that many bytes.
    let len = unsafe { libc::flistxattr(src.as_raw_fd(), names.as_mut_ptr().cast(), names.len()) };
    if len <= 0 {
        return;
    }
    names.truncate(len as usize);
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(cname) = CString::new(name) else {
            continue;
        };
        let mut value = vec![0u8; 65536];
        // SAFETY: `cname` is NUL-terminated, the buffer is valid for its length.
        let n = unsafe {
            libc::fgetxattr(
                src.as_raw_fd(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        if n < 0 {
            continue;
        }
        // SAFETY: `cname` is NUL-terminated, `value` holds `n` initialised bytes.
        unsafe {
            libc::fsetxattr(
                dst.as_raw_fd(),
                cname.as_ptr(),
                value.as_ptr().cast(),
                n as usize,
                0,
            )
        };
    }
}

/// A failure somewhere in the tree, with the path (relative to the copied directory).
#[derive(Debug)]
struct CopyError {
    path: String,
    errno: Errno,
}

impl CopyError {
    fn at(path: &str, errno: Errno) -> CopyError {
        CopyError {
            path: path.to_string(),
            errno,
        }
    }

    fn within(mut self, name: &CStr) -> CopyError {
        let name = name.to_string_lossy();
        self.path = if self.path.is_empty() {
            name.into_owned()
        } else {
            format!("{name}/{}", self.path)
        };
        self
    }
}

trait CopyContext<T> {
    fn ctx<D: std::fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T> CopyContext<T> for std::result::Result<T, CopyError> {
    fn ctx<D: std::fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| crate::error::Error::Sys {
            what: format!("{}: copy {}", what(), e.path),
            source: e.errno,
        })
    }
}
