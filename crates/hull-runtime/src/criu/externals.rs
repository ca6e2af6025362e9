//! The mounts CRIU cannot dump on its own and must be told about, as runc describes them:
//! a mount whose source lies outside the container (a bind mount of a host path, a masked
//! file covered by the host's `/dev/null`, a device node bound from the host in a user
//! namespace) is "external". At dump it is named by its path in the container (key and
//! value both); at restore the key is given the host path to bind again.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::{Deserialize, Serialize};

use super::rpc;
use crate::spec::query;

/// What kind of external mount a key stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A bind mount of `config.json` (`type: bind`, or a `bind`/`rbind` option).
    Bind,
    /// A masked path that is a file: `/dev/null` is bound over it.
    Masked,
    /// A device node bound from the host (a container with a user namespace).
    Device,
    /// The cgroup2 mount: seen from the host, its root is the container's cgroup, which
    /// CRIU cannot dump as a mount of its own; restore binds the new container's cgroup.
    Cgroup,
}

/// One external mount: its path in the container and, for restore, its host source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct External {
    /// The mount point inside the container: CRIU's key.
    pub key: String,
    /// What it is.
    pub kind: Kind,
    /// Where it comes from on the host (what restore binds).
    pub source: PathBuf,
}

/// The external mounts of a container made from `spec` (bundle dir `bundle`). Masked paths
/// count when they are files in the running container, looked up under `root` (the
/// container's root seen from here, `/proc/<pid>/root`); restore passes None and takes the
/// masked files its checkpoint recorded. `cgroup` is the container's cgroup directory on a
/// cgroup v2 host (its `cgroup` mounts are then external).
pub fn of_spec(
    spec: &Spec,
    bundle: &Path,
    root: Option<&Path>,
    cgroup: Option<&Path>,
) -> Vec<External> {
    let mut all = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let opts = m.options().clone().unwrap_or_default();
        let is_cgroup = matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2"));
        if let (true, Some(dir)) = (is_cgroup, cgroup) {
            all.push(External {
                key: clean(&m.destination().to_string_lossy()),
                kind: Kind::Cgroup,
                source: dir.to_path_buf(),
            });
            continue;
        }
        let bind =
            m.typ().as_deref() == Some("bind") || opts.iter().any(|o| o == "bind" || o == "rbind");
        if bind {
            all.push(External {
                key: clean(&m.destination().to_string_lossy()),
                kind: Kind::Bind,
                source: query::mount_source(bundle, m),
            });
        }
    }
    let linux = spec.linux().as_ref();
    if let Some(root) = root {
        for p in linux
            .and_then(|l| l.masked_paths().as_ref())
            .into_iter()
            .flatten()
        {
            let inside = root.join(p.trim_start_matches('/'));
            if std::fs::metadata(&inside).is_ok_and(|m| !m.is_dir()) {
                all.push(External {
                    key: clean(p),
                    kind: Kind::Masked,
                    source: "/dev/null".into(),
                });
            }
        }
    }
    if query::has_namespace(spec, LinuxNamespaceType::User) {
        let spec_devices = linux
            .and_then(|l| l.devices().as_ref())
            .into_iter()
            .flatten();
        let paths = crate::init::devices::default_nodes()
            .into_iter()
            .map(|n| n.path)
            .chain(spec_devices.map(|d| d.path().to_string_lossy().into_owned()));
        for p in paths {
            let key = clean(&p);
            if !all.iter().any(|e| e.key == key) {
                all.push(External {
                    source: PathBuf::from(&key),
                    key,
                    kind: Kind::Device,
                });
            }
        }
    }
    all
}

/// The map for a dump: each key to itself.
pub fn dump_map(all: &[External]) -> Vec<rpc::Ext_mount_map> {
    all.iter().map(|e| map(&e.key, &e.key)).collect()
}

/// The map for a restore: each key to its host source.
pub fn restore_map(all: &[External]) -> Vec<rpc::Ext_mount_map> {
    all.iter()
        .map(|e| map(&e.key, &e.source.to_string_lossy()))
        .collect()
}

fn map(key: &str, val: &str) -> rpc::Ext_mount_map {
    let mut m = rpc::Ext_mount_map::new();
    m.set_key(key.into());
    m.set_val(val.into());
    m
}

/// The cgroup directory whose mount is external: the unified one on a cgroup v2 host.
pub fn unified_cgroup(paths: &std::collections::BTreeMap<String, PathBuf>) -> Option<&Path> {
    match paths.get("") {
        Some(dir) if paths.len() == 1 => Some(dir),
        _ => None,
    }
}

/// `/a//b/` as `/a/b`: how CRIU names the mount point.
fn clean(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_mounts_are_external_and_others_not() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/data/", "type": "bind", "source": "/srv/data", "options": ["rbind"]},
                {"destination": "/etc/hosts", "source": "hosts", "options": ["bind", "ro"]}
            ]
        }))
        .unwrap();
        let all = of_spec(&spec, Path::new("/b"), None, None);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].key, "/data");
        assert_eq!(all[0].source, PathBuf::from("/srv/data"));
        assert_eq!(all[1].key, "/etc/hosts");
        assert_eq!(all[1].source, PathBuf::from("/b/hosts"));
        let dump = dump_map(&all);
        assert_eq!((dump[0].key(), dump[0].val()), ("/data", "/data"));
        let restore = restore_map(&all);
        assert_eq!(
            (restore[1].key(), restore[1].val()),
            ("/etc/hosts", "/b/hosts")
        );
    }
}
