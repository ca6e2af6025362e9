//! Remounting a bind mount with new flags, keeping those of the source that the options do not
//! change: in a user namespace the kernel locks `ro`, `nosuid`, `nodev`, `noexec` and the atime
//! setting of a mount it got from a more privileged namespace, and refuses a remount dropping
//! them; runc keeps them too. A flag the options explicitly clear (`rw`, `suid`, `dev`, `exec`,
//! `atime`...) is not kept, so the kernel's refusal then reaches the user.

use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::sys::statvfs::FsFlags;

/// Flags kept from the source mount unless cleared.
const KEPT: [(FsFlags, MsFlags); 5] = [
    (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
    (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
    (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
    (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
];

/// The atime setting (one of these, or none for strictatime).
const ATIME: MsFlags = MsFlags::MS_NOATIME
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME);

/// Remount a bind mount with `flags`, keeping what the source has that `flags` leaves alone.
pub fn remount_bind(path: &Path, flags: MsFlags) -> nix::Result<()> {
    remount_bind_as_asked(path, flags, MsFlags::empty())
}

/// Remount the bind mount at `path` with `set`, keeping the source's `ro`, `nosuid`, `nodev`,
/// `noexec`, `nodiratime` and atime setting unless `cleared` (or, for atime, `set`) changes
/// them.
pub fn remount_bind_as_asked(path: &Path, set: MsFlags, cleared: MsFlags) -> nix::Result<()> {
    let kept = nix::sys::statvfs::statvfs(path)
        .map(|s| kept_flags(s.flags(), set, cleared))
        .unwrap_or(MsFlags::empty());
    let all = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | set | kept;
    mount(None::<&str>, path, None::<&str>, all, None::<&str>)
}

fn kept_flags(source: FsFlags, set: MsFlags, cleared: MsFlags) -> MsFlags {
    let mut kept = KEPT
        .iter()
        .filter(|(st, ms)| source.contains(*st) && !cleared.contains(*ms))
        .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms);
    if !(set | cleared).intersects(ATIME) {
        kept |= if source.contains(FsFlags::ST_NOATIME) {
            MsFlags::MS_NOATIME
        } else if source.contains(FsFlags::ST_RELATIME) {
            MsFlags::MS_RELATIME
        } else {
            MsFlags::MS_STRICTATIME
        };
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_flags_are_kept_unless_cleared() {
        let src = FsFlags::ST_NOSUID | FsFlags::ST_NODEV | FsFlags::ST_NOATIME;
        assert_eq!(
            kept_flags(src, MsFlags::MS_RDONLY, MsFlags::empty()),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOATIME
        );
        assert_eq!(
            kept_flags(src, MsFlags::MS_RDONLY, MsFlags::MS_NOSUID),
            MsFlags::MS_NODEV | MsFlags::MS_NOATIME
        );
        assert_eq!(
            kept_flags(src, MsFlags::MS_STRICTATIME, MsFlags::empty()),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV
        );
        assert_eq!(
            kept_flags(
                FsFlags::ST_RDONLY | FsFlags::ST_RELATIME,
                MsFlags::MS_NOEXEC,
                MsFlags::MS_RDONLY
            ),
            MsFlags::MS_RELATIME
        );
    }
}
