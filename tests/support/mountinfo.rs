//! Reading what a container printed of `/proc/self/mountinfo`, and host mounts made by a test.

use std::ffi::CString;
use std::path::{Path, PathBuf};

/// The fields of the mountinfo line for `mount_point` in `mountinfo` (the container's output):
/// (per-mount options, fs type, super options).
pub fn mount_line(mountinfo: &str, mount_point: &str) -> Option<(String, String, String)> {
    mountinfo.lines().rev().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 10 || f[4] != mount_point {
            return None;
        }
        let sep = f.iter().position(|x| *x == "-")?;
        Some((
            f[5].to_string(),
            f.get(sep + 1)?.to_string(),
            f.get(sep + 3)?.to_string(),
        ))
    })
}

pub fn has_opt(opts: &str, opt: &str) -> bool {
    opts.split(',').any(|o| o == opt)
}

/// A tmpfs mounted on the host, unmounted on drop (declare it after the `Hull`).
pub struct HostMount(pub PathBuf);

impl HostMount {
    pub fn tmpfs(at: &Path) -> HostMount {
        HostMount::tmpfs_with(at, 0)
    }

    /// A tmpfs at `at` mounted with the `MS_*` `flags`.
    pub fn tmpfs_with(at: &Path, flags: libc::c_ulong) -> HostMount {
        std::fs::create_dir_all(at).unwrap();
        let target = CString::new(at.to_str().unwrap()).unwrap();
        let fstype = CString::new("tmpfs").unwrap();
        let rc = unsafe {
            libc::mount(
                fstype.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                flags,
                std::ptr::null(),
            )
        };
        assert_eq!(
            rc,
            0,
            "mount tmpfs on {}: {}",
            at.display(),
            std::io::Error::last_os_error()
        );
        HostMount(at.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let target = CString::new(self.0.to_str().unwrap()).unwrap();
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

impl HostMount {
    /// `at` bound onto itself on the host and made shared (`mount --bind at at;
    /// mount --make-shared at`), as a kubelet's or CSI plugin's directory is.
    pub fn shared_bind(at: &Path) -> HostMount {
        std::fs::create_dir_all(at).unwrap();
        let target = CString::new(at.to_str().unwrap()).unwrap();
        for flags in [libc::MS_BIND, libc::MS_SHARED] {
            let src = if flags == libc::MS_BIND {
                target.as_ptr()
            } else {
                std::ptr::null()
            };
            let rc = unsafe {
                libc::mount(
                    src,
                    target.as_ptr(),
                    std::ptr::null(),
                    flags,
                    std::ptr::null(),
                )
            };
            assert_eq!(
                rc,
                0,
                "mount {flags:#x} on {}: {}",
                at.display(),
                std::io::Error::last_os_error()
            );
        }
        HostMount(at.to_path_buf())
    }
}

/// The optional fields (`shared:N`, `master:N`, `unbindable`, ...) of the last mountinfo line
/// for `mount_point` in `mountinfo`, space-separated; None when there is no such mount.
pub fn propagation_of(mountinfo: &str, mount_point: &str) -> Option<String> {
    mountinfo.lines().rev().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 10 || f[4] != mount_point {
            return None;
        }
        let sep = f.iter().position(|x| *x == "-")?;
        Some(f[6..sep].join(" "))
    })
}

/// Whether the host's mount table has a mount at `mount_point`.
pub fn host_has_mount(mount_point: &Path) -> bool {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let want = mount_point.to_str().unwrap();
    text.lines()
        .any(|l| l.split_whitespace().nth(4) == Some(want))
}
