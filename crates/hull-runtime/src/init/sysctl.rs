//! `linux.sysctl`: written through the container's own `/proc/sys` after pivot_root, so only
//! namespaced settings are accepted ([`check`], run while the config is validated): the rules
//! are runc's.

use std::os::unix::fs::MetadataExt;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::Result;
use crate::spec::query::has_namespace;

/// The namespace a sysctl belongs to, or None when it is not namespaced (refused).
fn namespace_of(key: &str) -> Option<LinuxNamespaceType> {
    const IPC_KERNEL: [&str; 6] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
    ];
    let ipc = IPC_KERNEL.contains(&key)
        || key == "kernel.shmmni"
        || key == "kernel.shm_rmid_forced"
        || key.starts_with("kernel.sem_")
        || key.starts_with("fs.mqueue.");
    if ipc {
        Some(LinuxNamespaceType::Ipc)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else {
        None
    }
}

/// Whether the config's network namespace is the runtime's own (joined by path).
fn joins_host_netns(spec: &Spec) -> bool {
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    let Some(path) = namespaces
        .into_iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::Network)
        .and_then(|n| n.path().clone())
    else {
        return false;
    };
    match (
        std::fs::metadata(path),
        std::fs::metadata("/proc/self/ns/net"),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Refuse a sysctl the container's namespaces do not isolate; the error is `(field, reason)`.
pub fn check(spec: &Spec) -> std::result::Result<(), (String, String)> {
    let sysctls = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref());
    for (key, value) in sysctls.into_iter().flatten() {
        let field = format!("linux.sysctl.{key}");
        // As runc and crun: the UTS names have fields of their own, which win.
        let own = match key.as_str() {
            "kernel.hostname" => Some(("hostname", spec.hostname())),
            "kernel.domainname" => Some(("domainname", spec.domainname())),
            _ => None,
        };
        if let Some((name, Some(set))) = own {
            if set != value {
                return Err((
                    field,
                    format!("{value:?} conflicts with the OCI {name:?} field ({set:?})"),
                ));
            }
        }
        let Some(ns) = namespace_of(key) else {
            return Err((
                field,
                "not a namespaced sysctl: it would change the host".into(),
            ));
        };
        if !has_namespace(spec, ns) || (ns == LinuxNamespaceType::Network && joins_host_netns(spec))
        {
            return Err((field, format!("needs a new {ns} namespace")));
        }
    }
    Ok(())
}

/// Write each sysctl to `/proc/sys/<key with dots as slashes>` (after pivot_root), through
/// the checked procfs `proc`: a file bound over the one meant, or a key that climbs out of
/// `/proc/sys`, is refused.
pub fn apply(spec: &Spec, proc: &std::os::fd::OwnedFd) -> Result<()> {
    let sysctls = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref());
    let mut keys: Vec<(&String, &String)> = sysctls.into_iter().flatten().collect();
    keys.sort();
    for (key, value) in keys {
        let rel = format!("sys/{}", key.replace('.', "/"));
        super::procfs::write(proc, &rel, value)
            .map_err(|e| crate::Error::Msg(format!("linux.sysctl.{key}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_of_sysctls() {
        assert_eq!(namespace_of("kernel.shmmax"), Some(LinuxNamespaceType::Ipc));
        assert_eq!(namespace_of("kernel.sem"), Some(LinuxNamespaceType::Ipc));
        assert_eq!(
            namespace_of("fs.mqueue.msg_max"),
            Some(LinuxNamespaceType::Ipc)
        );
        assert_eq!(
            namespace_of("kernel.hostname"),
            Some(LinuxNamespaceType::Uts)
        );
        assert_eq!(
            namespace_of("net.ipv4.ip_forward"),
            Some(LinuxNamespaceType::Network)
        );
        assert_eq!(namespace_of("vm.swappiness"), None);
        assert_eq!(namespace_of("kernel.pid_max"), None);
    }
}
