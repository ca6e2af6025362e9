//! Propagation of the container's `/` (`linux.rootfsPropagation`, default `rslave`), set so
//! that `pivot_root` works whatever is asked: the kernel refuses `pivot_root` when the new
//! root, or the mount it sits on, is shared. So, as runc does, the mount holding the rootfs
//! is made private (only in the container's namespace) before the rootfs is bound onto
//! itself, and the requested propagation is applied to the new `/` again after `pivot_root`
//! (and after the read-only and masked paths are bound, which an unbindable `/` would refuse).
//!
//! Before the bind, the whole tree gets the requested propagation, so a `shared` or `rshared`
//! container stays in the host's peer groups (what Kubernetes' `Bidirectional` mounts need),
//! except that `unbindable` is applied only afterwards (an unbindable rootfs cannot be bound).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Spec;

use super::mount_options;
use crate::error::{Context, Error, Result};

/// `linux.rootfsPropagation` as mount flags; None when not given.
fn requested(spec: &Spec) -> Result<Option<MsFlags>> {
    let wanted = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone());
    match wanted.as_deref() {
        None | Some("") => Ok(None),
        Some(p) => mount_options::propagation(p)
            .map(Some)
            .ok_or_else(|| Error::Msg(format!("linux.rootfsPropagation: unknown value {p:?}"))),
    }
}

/// Before the rootfs is bound onto itself: give `/` the requested propagation (recursively
/// slave by default, so nothing the container mounts reaches the host), and make the mount
/// `rootfs` lives on private if it is shared.
pub fn before_bind(spec: &Spec, rootfs: &Path) -> Result<()> {
    let flags = match requested(spec)? {
        None => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        Some(f) if f.contains(MsFlags::MS_UNBINDABLE) => {
            (f & MsFlags::MS_REC) | MsFlags::MS_PRIVATE
        }
        Some(f) => f,
    };
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .ctx(|| format!("set propagation {flags:?} on /"))?;
    let holder = mount_holding(rootfs)?;
    if holder.shared {
        mount(
            None::<&str>,
            &holder.mount_point,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .ctx(|| {
            format!(
                "make {} (the mount holding the rootfs) private",
                holder.mount_point.display()
            )
        })?;
    }
    Ok(())
}

/// After `pivot_root` and the paths: apply `linux.rootfsPropagation`, if given, to the new `/`.
pub fn after_pivot(spec: &Spec) -> Result<()> {
    match requested(spec)? {
        Some(flags) => mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .ctx(|| format!("linux.rootfsPropagation: set {flags:?} on /")),
        None => Ok(()),
    }
}

/// The mount a path lives on, from `/proc/self/mountinfo`.
struct Holder {
    mount_point: PathBuf,
    shared: bool,
}

fn mount_holding(path: &Path) -> Result<Holder> {
    let id = mount_id(path)?;
    let text =
        crate::kernel_text::read("/proc/self/mountinfo").ctx(|| "read /proc/self/mountinfo")?;
    text.lines()
        .find_map(|l| parse_line(l).filter(|(mid, _, _)| *mid == id))
        .map(|(_, mount_point, shared)| Holder {
            mount_point,
            shared,
        })
        .ok_or_else(|| {
            Error::Msg(format!(
                "the mount holding {} (id {id}) is not in /proc/self/mountinfo",
                path.display()
            ))
        })
}

/// The id of the mount `path` is on (`statx(STATX_MNT_ID)`, Linux 5.8).
fn mount_id(path: &Path) -> Result<u64> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::Msg(format!("{} contains a NUL byte", path.display())))?;
    // SAFETY: an all-zero statx is a valid value of the plain C struct.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `stx` is a valid, writable statx.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_STATX_SYNC_AS_STAT,
            libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    if rc != 0 {
        return Err(nix::errno::Errno::last())
            .ctx(|| format!("statx {} for its mount id", path.display()));
    }
    if stx.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(Error::Msg(format!(
            "statx {}: the kernel gives no mount id (Linux 5.8 or later is needed)",
            path.display()
        )));
    }
    Ok(stx.stx_mnt_id)
}

/// `(mount id, mount point, shared)` of one mountinfo line.
fn parse_line(line: &str) -> Option<(u64, PathBuf, bool)> {
    let fields: Vec<&str> = line.split(' ').collect();
    let id = fields.first()?.parse().ok()?;
    let mount_point = unescape(fields.get(4)?);
    let optional = fields.get(6..)?.iter().take_while(|f| **f != "-");
    let shared = optional.clone().any(|f| f.starts_with("shared:"));
    Some((id, mount_point, shared))
}

/// Undo mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|o| o.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(o)) => {
                out.push(
                    o.iter()
                        .fold(0u8, |acc, b| acc.wrapping_mul(8) + (b - b'0')),
                );
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsStr::from_bytes(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_are_read() {
        let l = "44 27 254:0 /run/netns /run/my\\040dir rw,relatime shared:1 master:3 - ext4 /dev/vda rw";
        assert_eq!(
            parse_line(l),
            Some((44, PathBuf::from("/run/my dir"), true))
        );
        let l = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw";
        assert_eq!(parse_line(l), Some((27, PathBuf::from("/"), false)));
    }

    #[test]
    fn the_root_of_this_process_has_a_holder() {
        let h = mount_holding(Path::new("/")).unwrap();
        assert_eq!(h.mount_point, PathBuf::from("/"));
    }
}
