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
        };
        let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
        for ns in namespaces.into_iter().flatten() {
            match ns.path() {
                Some(path) => plan.join.push((ns.typ(), path.clone())),
                None => plan.new |= clone_flag(ns.typ()),
            }
        }
        plan.join.sort_by_key(|(kind, _)| join_rank(*kind));
        plan
    }

    /// A plan that creates nothing and joins `join` (in the right order).
    pub fn joining(mut join: Vec<(LinuxNamespaceType, PathBuf)>) -> Plan {
        join.sort_by_key(|(kind, _)| join_rank(*kind));
        Plan {
            new: CloneFlags::empty(),
            join,
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
