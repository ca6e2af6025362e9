//! The `cgroup` mount inside the container. On a cgroup v2 host it is one cgroup2 mount.
//! On v1 and hybrid hosts it is a tmpfs holding one mount per host hierarchy (as runc does):
//! a fresh cgroup mount when the container has its own cgroup namespace (the kernel shows the
//! namespace root), otherwise a bind mount of the container's own cgroup directory.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::inroot::{self, Create};
use super::mount_options::MountOptions;
use crate::error::{Context, Result};

/// One cgroup hierarchy mounted on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where the host mounts it, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// Controller options, e.g. `cpu,cpuacct` or `name=systemd` (empty for cgroup2).
    pub controllers: String,
}

/// The cgroup hierarchies in a mountinfo text.
pub fn hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split_whitespace().nth(4)?;
            let mut r = right.split_whitespace();
            let fstype = r.next()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            let super_opts = r.nth(1).unwrap_or("");
            let controllers = super_opts
                .split(',')
                .filter(|o| {
                    !matches!(*o, "rw" | "ro")
                        && (fstype == "cgroup")
                        && !o.starts_with("clone_children")
                        && !o.starts_with("release_agent")
                })
                .collect::<Vec<_>>()
                .join(",");
            Some(Hierarchy {
                mount_point: PathBuf::from(mount_point),
                fstype: fstype.into(),
                controllers,
            })
        })
        .collect()
}

/// This process's cgroup path in the hierarchy with these controllers ("" for cgroup2).
fn own_cgroup(proc_cgroup: &str, h: &Hierarchy) -> Option<String> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if h.fstype == "cgroup2" {
            ctrls.is_empty()
        } else {
            ctrls == h.controllers
        };
        matches.then(|| path.to_string())
    })
}

/// Mount the container's view of the cgroup hierarchies at `dest`.
pub fn mount(root: &OwnedFd, dest: &Path, opts: &MountOptions, new_cgroupns: bool) -> Result<()> {
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").ctx(|| "read /proc/self/mountinfo")?;
    let proc_cgroup =
        std::fs::read_to_string("/proc/self/cgroup").ctx(|| "read /proc/self/cgroup")?;
    let mut all = hierarchies(&mountinfo);
    all.retain(|h| h.mount_point.starts_with("/sys/fs/cgroup"));
    let flags = opts.flags
        & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME);
    let ro = opts.flags & MsFlags::MS_RDONLY;
    if let [only] = all.as_slice() {
        if only.fstype == "cgroup2" {
            return mount_hierarchy(root, dest, only, &proc_cgroup, flags | ro, new_cgroupns);
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
    for h in &all {
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        mount_hierarchy(
            root,
            &dest.join(name),
            h,
            &proc_cgroup,
            flags | ro,
            new_cgroupns,
        )?;
    }
    if !ro.is_empty() {
        let target = inroot::open(root, dest, Create::Nothing)?;
        nix::mount::mount(
            None::<&str>,
            &inroot::fd_path(&target),
            None::<&str>,
            MsFlags::MS_REMOUNT | flags | ro,
            Some("mode=755"),
        )
        .ctx(|| format!("remount {} read-only", dest.display()))?;
    }
    Ok(())
}

fn mount_hierarchy(
    root: &OwnedFd,
    dest: &Path,
    h: &Hierarchy,
    proc_cgroup: &str,
    flags: MsFlags,
    new_ns: bool,
) -> Result<()> {
    let target = inroot::open(root, dest, Create::Dir)?;
    let path = inroot::fd_path(&target);
    if new_ns {
        let data = (!h.controllers.is_empty()).then_some(h.controllers.as_str());
        return nix::mount::mount(Some("cgroup"), &path, Some(h.fstype.as_str()), flags, data).ctx(
            || {
                format!(
                    "mount {} ({}) on {}",
                    h.fstype,
                    h.controllers,
                    dest.display()
                )
            },
        );
    }
    let own = own_cgroup(proc_cgroup, h).unwrap_or_default();
    let source = h.mount_point.join(own.trim_start_matches('/'));
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

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
        22 1 0:5 / /proc rw - proc proc rw\n";

    #[test]
    fn finds_every_hierarchy_with_its_controllers() {
        let h = hierarchies(HYBRID);
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].controllers, "cpu");
        assert_eq!(h[1].controllers, "name=systemd");
        assert_eq!(h[2].fstype, "cgroup2");
        assert_eq!(h[2].controllers, "");
    }

    #[test]
    fn own_cgroup_matches_controllers() {
        let h = hierarchies(HYBRID);
        let pc = "4:memory:/a\n1:cpu:/b/c\n9:name=systemd:/s\n0::/u\n";
        assert_eq!(own_cgroup(pc, &h[0]).as_deref(), Some("/b/c"));
        assert_eq!(own_cgroup(pc, &h[1]).as_deref(), Some("/s"));
        assert_eq!(own_cgroup(pc, &h[2]).as_deref(), Some("/u"));
    }
}
