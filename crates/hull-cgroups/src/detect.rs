//! Which cgroup layout the host uses, and where each hierarchy is mounted.
//!
//! Everything here is a pure function of the text of `/proc/self/mountinfo` and
//! `/proc/self/cgroup`, except the two `read_*` functions that fetch that text.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{CgroupError, Result};

/// The cgroup layout of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only cgroup v1 hierarchies (legacy).
    V1,
    /// Only the cgroup v2 unified hierarchy.
    Unified,
    /// cgroup v1 controllers plus a cgroup2 tree without (most) controllers.
    Hybrid,
}

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/cpu,cpuacct`.
    pub mount_point: PathBuf,
    /// The cgroup (inside the hierarchy) that is the root of this mount, usually `/`.
    pub mount_root: String,
    /// `None` for the cgroup2 hierarchy; otherwise its v1 controllers, including named
    /// hierarchies as `name=systemd`.
    pub controllers: Option<BTreeSet<String>>,
}

impl Hierarchy {
    /// True for the cgroup2 (unified) hierarchy.
    pub fn is_unified(&self) -> bool {
        self.controllers.is_none()
    }
}

/// All cgroup hierarchies visible to this process: at most one cgroup2, one per v1 hierarchy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// The cgroup2 hierarchy, if mounted.
    pub unified: Option<Hierarchy>,
    /// The v1 hierarchies, each once (the first mount of each wins).
    pub v1: Vec<Hierarchy>,
}

impl Layout {
    /// The mode implied by the mounts: v1 hierarchies with real controllers make it V1 or
    /// Hybrid; named-only v1 hierarchies (e.g. `name=systemd`) do not count. `None` when
    /// nothing usable is mounted.
    pub fn mode(&self) -> Option<Mode> {
        let real_v1 = self.v1.iter().any(|h| {
            h.controllers
                .as_ref()
                .is_some_and(|c| c.iter().any(|n| !n.starts_with("name=")))
        });
        match (real_v1, self.unified.is_some()) {
            (true, true) => Some(Mode::Hybrid),
            (true, false) => Some(Mode::V1),
            (false, true) => Some(Mode::Unified),
            (false, false) => None,
        }
    }
}

/// Super options of a v1 cgroup mount that are not controllers.
const NOT_CONTROLLERS: &[&str] = &[
    "rw",
    "ro",
    "xattr",
    "noprefix",
    "clone_children",
    "cpuset_v2_mode",
    "favordynmods",
    "none",
    "all",
];

/// Parses `/proc/self/mountinfo` text into the cgroup layout. Non-cgroup lines are ignored;
/// a malformed cgroup line is an error. Guarantees each hierarchy appears once.
pub fn parse_mountinfo(text: &str) -> Result<Layout> {
    let mut layout = Layout::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some(h) = parse_mountinfo_line(line)? else {
            continue;
        };
        if h.is_unified() {
            if layout.unified.is_none() {
                layout.unified = Some(h);
            }
        } else if !layout.v1.iter().any(|x| x.controllers == h.controllers) {
            layout.v1.push(h);
        }
    }
    Ok(layout)
}

/// One mountinfo line: `id parent maj:min root mountpoint opts [optional...] - fstype src superopts`.
fn parse_mountinfo_line(line: &str) -> Result<Option<Hierarchy>> {
    let bad = || CgroupError::Parse {
        what: "mountinfo line",
        path: PathBuf::from("/proc/self/mountinfo"),
        detail: line.to_string(),
    };
    let (pre, post) = line.split_once(" - ").ok_or_else(bad)?;
    let pre: Vec<&str> = pre.split_whitespace().collect();
    let post: Vec<&str> = post.split_whitespace().collect();
    if pre.len() < 6 || post.is_empty() {
        return Err(bad());
    }
    let controllers = match post[0] {
        "cgroup2" => None,
        "cgroup" => Some(v1_controllers(post.get(2).copied().unwrap_or(""))),
        _ => return Ok(None),
    };
    Ok(Some(Hierarchy {
        mount_point: PathBuf::from(unescape(pre[4])),
        mount_root: unescape(pre[3]),
        controllers,
    }))
}

/// The controllers named in the super options of a v1 cgroup mount.
fn v1_controllers(superopts: &str) -> BTreeSet<String> {
    superopts
        .split(',')
        .filter(|o| !o.is_empty() && !NOT_CONTROLLERS.contains(o))
        .filter(|o| !o.starts_with("release_agent="))
        .map(str::to_string)
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, etc.).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let oct = bytes.get(i + 1..i + 4).and_then(|d| {
            let d = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(d, 8).ok()
        });
        match (bytes[i], oct) {
            (b'\\', Some(v)) => {
                out.push(v);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup memberships of a process, from `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcCgroups {
    /// The `0::/path` line, if present.
    pub unified: Option<String>,
    /// One entry per v1 hierarchy: its controllers and the cgroup path.
    pub v1: Vec<(BTreeSet<String>, String)>,
}

impl ProcCgroups {
    /// The process's cgroup path in `h`, if the process file lists that hierarchy.
    pub fn path_in(&self, h: &Hierarchy) -> Option<&str> {
        match &h.controllers {
            None => self.unified.as_deref(),
            Some(ctrls) => self
                .v1
                .iter()
                .find(|(c, _)| !c.is_disjoint(ctrls))
                .map(|(_, p)| p.as_str()),
        }
    }
}

/// Parses `/proc/<pid>/cgroup` text (`hierarchy-id:controllers:path` lines).
pub fn parse_proc_cgroup(text: &str) -> Result<ProcCgroups> {
    let mut out = ProcCgroups::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CgroupError::Parse {
                what: "cgroup membership line",
                path: PathBuf::from("/proc/self/cgroup"),
                detail: line.to_string(),
            });
        };
        if id == "0" && ctrls.is_empty() {
            out.unified = Some(path.to_string());
        } else {
            let set = ctrls
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            out.v1.push((set.collect(), path.to_string()));
        }
    }
    Ok(out)
}

/// Reads a whole kernel file, with context on failure.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| CgroupError::io("read", path, e))
}

/// The layout of the running host, from `/proc/self/mountinfo`.
pub fn read_layout() -> Result<Layout> {
    parse_mountinfo(&read_text(Path::new("/proc/self/mountinfo"))?)
}

/// The cgroups of the calling process, from `/proc/self/cgroup`.
pub fn read_own_cgroups() -> Result<ProcCgroups> {
    parse_proc_cgroup(&read_text(Path::new("/proc/self/cgroup"))?)
}

/// The host's mode: from mountinfo; if that cannot be read or shows no cgroups, from
/// `statfs("/sys/fs/cgroup")` (cgroup2 magic means Unified, anything else V1). Never fails.
pub fn current_mode() -> Mode {
    if let Some(mode) = read_layout().ok().and_then(|l| l.mode()) {
        return mode;
    }
    match nix::sys::statfs::statfs("/sys/fs/cgroup") {
        Ok(s) if s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => Mode::Unified,
        _ => Mode::V1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
99 31 0:32 /sub /mnt/mem\\040x rw,relatime - cgroup cgroup rw,memory
";

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_hybrid_mountinfo() {
        let l = parse_mountinfo(HYBRID).unwrap();
        assert_eq!(l.mode(), Some(Mode::Hybrid));
        assert_eq!(l.v1.len(), 4, "duplicate memory mount is dropped");
        assert_eq!(l.v1[0].controllers, Some(set(&["cpu", "cpuacct"])));
        assert_eq!(
            l.v1[0].mount_point,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(l.v1[1].controllers, Some(set(&["cpuset"])));
        assert_eq!(l.v1[3].controllers, Some(set(&["name=systemd"])));
        let u = l.unified.unwrap();
        assert_eq!(u.mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(u.mount_root, "/");
    }

    #[test]
    fn modes() {
        let v2 = "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n\
                  2 0 0:2 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n";
        assert_eq!(parse_mountinfo(v2).unwrap().mode(), Some(Mode::Unified));
        let v1 = "1 0 0:1 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        assert_eq!(parse_mountinfo(v1).unwrap().mode(), Some(Mode::V1));
        assert_eq!(parse_mountinfo("").unwrap().mode(), None);
    }

    #[test]
    fn unescapes_mount_points() {
        assert_eq!(unescape("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape("/plain\\"), "/plain\\");
    }

    #[test]
    fn rejects_malformed_mountinfo() {
        assert!(parse_mountinfo("garbage line\n").is_err());
        assert!(parse_mountinfo("1 2 3 - cgroup\n").is_err());
    }

    #[test]
    fn parses_proc_cgroup() {
        let text = "9:name=systemd:/\n4:memory:/process_api/x\n1:cpu,cpuacct:/\n0::/user\n";
        let p = parse_proc_cgroup(text).unwrap();
        assert_eq!(p.unified.as_deref(), Some("/user"));
        let l = parse_mountinfo(HYBRID).unwrap();
        assert_eq!(p.path_in(&l.v1[0]), Some("/"));
        assert_eq!(p.path_in(&l.v1[2]), Some("/process_api/x"));
        assert_eq!(p.path_in(l.unified.as_ref().unwrap()), Some("/user"));
        assert_eq!(p.path_in(&l.v1[1]), None, "cpuset not listed");
        assert!(parse_proc_cgroup("nonsense\n").is_err());
    }
}
