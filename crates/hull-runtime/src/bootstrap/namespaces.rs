//! Which namespaces to create and which to join, and in what order.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::sched::{setns, CloneFlags};
use nix::unistd::{setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Context, Result};

/// The namespaces of a container: created fresh (`new`) or entered by path (`join`).
#[derive(Debug, Clone)]
pub struct Plan {
    /// `CLONE_NEW*` flags for the namespaces to create.
    pub new: CloneFlags,
    /// Namespaces to enter with `setns`, in the order they must be entered.
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
    /// `linux.timeOffsets` as `/proc/self/timens_offsets` text, for a new time namespace.
    pub time_offsets: Option<String>,
}

/// The clone flag of a namespace type.
pub fn clone_flag(kind: LinuxNamespaceType) -> CloneFlags {
    match kind {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// Join order: the user namespace first (it grants the rights for the others), the mount
/// namespace last (after it, `/proc/<pid>/ns` paths may no longer resolve).
fn join_rank(kind: LinuxNamespaceType) -> u8 {
    match kind {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Ipc => 1,
        LinuxNamespaceType::Uts => 2,
        LinuxNamespaceType::Network => 3,
        LinuxNamespaceType::Pid => 4,
        LinuxNamespaceType::Cgroup => 5,
        LinuxNamespaceType::Time => 6,
        LinuxNamespaceType::Mount => 7,
    }
}

impl Plan {
    /// The plan for a spec's `linux.namespaces`.
    pub fn from_spec(spec: &Spec) -> Plan {
        let mut plan = Plan {
            new: CloneFlags::empty(),
            join: Vec::new(),
            time_offsets: None,
        };
        let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
        for ns in namespaces.into_iter().flatten() {
            match ns.path() {
                Some(path) => plan.join.push((ns.typ(), path.clone())),
                None => plan.new |= clone_flag(ns.typ()),
            }
        }
        plan.join.sort_by_key(|(kind, _)| join_rank(*kind));
        if plan.new.contains(clone_flag(LinuxNamespaceType::Time)) {
            plan.time_offsets = time_offsets(spec);
        }
        plan
    }

    /// Whether init must be cloned by an intermediate process: to join namespaces first, or to
    /// set a new time namespace's clock offsets (possible only before a process is in it).
    pub fn needs_intermediate(&self) -> bool {
        !self.join.is_empty() || self.time_offsets.is_some()
    }

    /// Whether init can be cloned by hull itself and enter the namespaces to join after the
    /// clone, with no intermediate process: when there is no user namespace to join or make
    /// (joining after a new one would lack the rights; a joined one must come before the
    /// others) and no time namespace to join or to set offsets for. The PID namespace to join
    /// is then entered by hull before the clone, for its child only (see `spawn`).
    pub fn joins_after_clone(&self) -> bool {
        !self.new.contains(CloneFlags::CLONE_NEWUSER)
            && self.time_offsets.is_none()
            && self.join.iter().all(|(kind, _)| {
                !matches!(kind, LinuxNamespaceType::User | LinuxNamespaceType::Time)
            })
    }

    /// Whether an existing user namespace is joined before the clone: the cloning process then
    /// has no rights over the host's cgroup files, so `CLONE_INTO_CGROUP` fails (EACCES) and
    /// the process must be moved into its cgroup from outside, after the clone.
    pub fn joins_user_ns(&self) -> bool {
        self.join
            .iter()
            .any(|(kind, _)| *kind == LinuxNamespaceType::User)
    }

    /// A plan that creates nothing and joins `join` (in the right order).
    pub fn joining(mut join: Vec<(LinuxNamespaceType, PathBuf)>) -> Plan {
        join.sort_by_key(|(kind, _)| join_rank(*kind));
        Plan {
            new: CloneFlags::empty(),
            join,
            time_offsets: None,
        }
    }

    /// Open every namespace to join (before entering any, so that paths still resolve).
    pub fn open_joins(&self) -> Result<Vec<(LinuxNamespaceType, File)>> {
        self.join
            .iter()
            .map(|(kind, path)| {
                let f =
                    File::open(path).ctx(|| format!("open {kind} namespace {}", path.display()))?;
                Ok((*kind, f))
            })
            .collect()
    }
}

/// `linux.timeOffsets` (`monotonic`, `boottime`) as the lines of `timens_offsets`.
fn time_offsets(spec: &Spec) -> Option<String> {
    let offsets = spec.linux().as_ref()?.time_offsets().as_ref()?;
    let text: String = offsets
        .iter()
        .map(|(clock, o)| {
            format!(
                "{clock} {} {}\n",
                o.secs().unwrap_or(0),
                o.nanosecs().unwrap_or(0)
            )
        })
        .collect();
    (!text.is_empty()).then_some(text)
}

/// Create a time namespace for this process's children with the given clock offsets.
pub fn unshare_time(offsets: &str) -> Result<()> {
    nix::sched::unshare(clone_flag(LinuxNamespaceType::Time)).ctx(|| "unshare a time namespace")?;
    std::fs::write("/proc/self/timens_offsets", offsets).ctx(|| {
        format!(
            "linux.timeOffsets: write {:?} to /proc/self/timens_offsets",
            offsets.trim()
        )
    })
}

/// Enter opened namespaces in order. After joining a user namespace the process becomes its
/// root (our host ids are not mapped there: files made with them would fail with EOVERFLOW),
/// as a new user namespace's init does.
pub fn enter(opened: &[(LinuxNamespaceType, File)]) -> Result<()> {
    for (kind, file) in opened {
        setns(file.as_fd(), clone_flag(*kind)).ctx(|| format!("join {kind} namespace"))?;
        if *kind == LinuxNamespaceType::User {
            let (uid, gid) = (Uid::from_raw(0), Gid::from_raw(0));
            setresgid(gid, gid, gid)
                .ctx(|| "setgid 0 in the joined user namespace (is gid 0 mapped there?)")?;
            setresuid(uid, uid, uid)
                .ctx(|| "setuid 0 in the joined user namespace (is uid 0 mapped there?)")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_are_ordered_user_first_mount_last() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","linux":{"namespaces":[
                {"type":"mount","path":"/proc/1/ns/mnt"},{"type":"pid"},
                {"type":"network","path":"/proc/1/ns/net"},{"type":"user","path":"/proc/1/ns/user"}]}}"#,
        )
        .unwrap();
        let plan = Plan::from_spec(&spec);
        let kinds: Vec<_> = plan.join.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                LinuxNamespaceType::User,
                LinuxNamespaceType::Network,
                LinuxNamespaceType::Mount
            ]
        );
        assert_eq!(plan.new, CloneFlags::CLONE_NEWPID);
    }
}
