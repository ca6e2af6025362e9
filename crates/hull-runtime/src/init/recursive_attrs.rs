//! The recursive mount options (`rro`, `rnosuid`, `rnoatime`, ... runc's list): attributes
//! applied with `mount_setattr(AT_RECURSIVE)` to a mount and every mount under it, which a
//! plain remount cannot do (newer docker's and Kubernetes' recursive read-only mounts).

use std::os::fd::OwnedFd;

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
/// The atime setting, a value (not a bit set) within this mask.
const MOUNT_ATTR_ATIME: u64 = 0x70;
const MOUNT_ATTR_RELATIME: u64 = 0x0;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x20_0000;

/// Attributes to set and to clear on a whole mount tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecursiveAttrs {
    set: u64,
    clear: u64,
}

/// The recursive option words, as `hull features` lists them.
pub const OPTIONS: [&str; 18] = [
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnorelatime",
    "rnoatime",
    "ratime",
    "rstrictatime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
];

impl RecursiveAttrs {
    /// Whether nothing is asked.
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0
    }

    /// Take in option `opt` if it is a recursive one (a later option overrides an earlier
    /// one); false if it is not.
    pub fn add(&mut self, opt: &str) -> bool {
        let (on, bit) = match opt {
            "rro" => (true, MOUNT_ATTR_RDONLY),
            "rrw" => (false, MOUNT_ATTR_RDONLY),
            "rnosuid" => (true, MOUNT_ATTR_NOSUID),
            "rsuid" => (false, MOUNT_ATTR_NOSUID),
            "rnodev" => (true, MOUNT_ATTR_NODEV),
            "rdev" => (false, MOUNT_ATTR_NODEV),
            "rnoexec" => (true, MOUNT_ATTR_NOEXEC),
            "rexec" => (false, MOUNT_ATTR_NOEXEC),
            "rnodiratime" => (true, MOUNT_ATTR_NODIRATIME),
            "rdiratime" => (false, MOUNT_ATTR_NODIRATIME),
            "rnosymfollow" => (true, MOUNT_ATTR_NOSYMFOLLOW),
            "rsymfollow" => (false, MOUNT_ATTR_NOSYMFOLLOW),
            // the atime setting is one value: every atime option replaces it (the kernel
            // wants the whole mask cleared to change it); clearing one means relatime
            "rnoatime" => return self.atime(MOUNT_ATTR_NOATIME),
            "rstrictatime" => return self.atime(MOUNT_ATTR_STRICTATIME),
            "rrelatime" | "ratime" | "rnorelatime" | "rnostrictatime" => {
                return self.atime(MOUNT_ATTR_RELATIME)
            }
            _ => return false,
        };
        if on {
            self.set |= bit;
            self.clear &= !bit;
        } else {
            self.clear |= bit;
            self.set &= !bit;
        }
        true
    }

    fn atime(&mut self, value: u64) -> bool {
        self.set = (self.set & !MOUNT_ATTR_ATIME) | value;
        self.clear |= MOUNT_ATTR_ATIME;
        true
    }

    /// Apply to the mount `mounted` (an fd of its root) and every mount under it.
    pub fn apply(&self, mounted: &OwnedFd) -> nix::Result<()> {
        crate::bootstrap::idmap_mount::mount_setattr(mounted, self.set, self.clear, 0, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_taken_and_atime_is_one_value() {
        for opt in OPTIONS {
            assert!(RecursiveAttrs::default().add(opt), "{opt}");
        }
        assert!(!RecursiveAttrs::default().add("ro"));
        let mut a = RecursiveAttrs::default();
        a.add("rro");
        a.add("rnoatime");
        a.add("rstrictatime");
        a.add("rnosuid");
        a.add("rsuid");
        assert_eq!(
            a.set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_STRICTATIME,
            "strictatime replaced noatime"
        );
        assert_eq!(a.clear, MOUNT_ATTR_ATIME | MOUNT_ATTR_NOSUID);
    }
}
