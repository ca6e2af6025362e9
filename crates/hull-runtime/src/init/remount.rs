//! Remounting a bind mount with new flags, keeping those a user namespace locks.

use std::path::Path;

use nix::mount::{mount, MsFlags};

/// Flags the kernel refuses to drop on a bind remount in a user namespace; keep them as found.
const LOCKED: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// Remount a bind mount with `flags`, keeping the flags a user namespace would lock.
pub fn remount_bind(path: &Path, flags: MsFlags) -> nix::Result<()> {
    let locked = nix::sys::statvfs::statvfs(path)
        .map(|s| MsFlags::from_bits_truncate(s.flags().bits() as libc::c_ulong) & LOCKED)
        .unwrap_or(MsFlags::empty());
    let all = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | locked;
    mount(None::<&str>, path, None::<&str>, all, None::<&str>)
}
