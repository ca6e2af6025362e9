//! `hull spec`: the default `config.json`, the same document `runc spec` writes, so a default
//! bundle is confined exactly as runc confines it.

use serde_json::{json, Value};

const DEFAULT_CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// The default configuration for a root-run container (runc's `spec` output): on a cgroup v2
/// host (`/sys/fs/cgroup` is a cgroup2 mount, runc's test) with a cgroup namespace as well.
pub fn default_config() -> Value {
    config_for(cgroup_v2_host())
}

/// Whether `/sys/fs/cgroup` is a cgroup2 file system: runc's `IsCgroup2UnifiedMode`.
fn cgroup_v2_host() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// The default configuration, with a cgroup namespace (last, as runc puts it) if `cgroupns`.
fn config_for(cgroupns: bool) -> Value {
    let mut config = base_config();
    if let (true, Some(nss)) = (cgroupns, config["linux"]["namespaces"].as_array_mut()) {
        nss.push(json!({"type": "cgroup"}));
    }
    config
}

fn base_config() -> Value {
    json!({
        "ociVersion": crate::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS, "ambient": DEFAULT_CAPS
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": default_mounts(),
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

fn default_mounts() -> Value {
    json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
    ])
}

/// The rootless variant, as `runc spec --rootless` derives it: a user namespace mapping the
/// caller's ids to root, no network namespace, `/sys` bind-mounted, no device cgroup rules.
pub fn rootless_config(uid: u32, gid: u32) -> Value {
    let mut config = default_config();
    let linux = &mut config["linux"];
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(nss) = linux["namespaces"].as_array_mut() {
        nss.retain(|ns| ns["type"] != "network");
        nss.push(json!({"type": "user"}));
    }
    if let Some(obj) = linux.as_object_mut() {
        obj.remove("resources");
    }
    for mount in config["mounts"].as_array_mut().into_iter().flatten() {
        if mount["type"] == "devpts" {
            if let Some(opts) = mount["options"].as_array_mut() {
                opts.retain(|o| o != "gid=5");
            }
        }
        if mount["type"] == "sysfs" {
            *mount = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_a_valid_spec() {
        let spec: oci_spec::runtime::Spec = serde_json::from_value(default_config()).unwrap();
        crate::spec::validate(&spec).unwrap();
    }

    #[test]
    fn a_cgroup_v2_host_gets_a_cgroup_namespace_last() {
        let types = |v: &Value| -> Vec<String> {
            v["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["type"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            types(&config_for(true)),
            ["pid", "network", "ipc", "uts", "mount", "cgroup"]
        );
        assert!(!types(&config_for(false)).contains(&"cgroup".to_string()));
        let spec: oci_spec::runtime::Spec = serde_json::from_value(config_for(true)).unwrap();
        crate::spec::validate(&spec).unwrap();
    }

    #[test]
    fn rootless_config_has_user_namespace_and_no_network() {
        let config = rootless_config(1000, 1000);
        let nss = config["linux"]["namespaces"].as_array().unwrap();
        assert!(nss.iter().any(|n| n["type"] == "user"));
        assert!(!nss.iter().any(|n| n["type"] == "network"));
        assert_eq!(config["linux"]["uidMappings"][0]["hostID"], 1000);
    }
}
