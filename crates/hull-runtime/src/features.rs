//! The OCI features document (runtime-spec `features.md`): what this build of hull accepts in a
//! `config.json`, as `hull features` prints it for containerd, CRI-O and users.
//!
//! Every list here is a promise that hull accepts the item (the integration test
//! `tests/clients/features.rs` creates a container for each one). Lists are derived from the
//! code where hull has them (capabilities from the `caps` crate, architectures from
//! libseccomp, seccomp flags probed on this kernel); the others are written out and checked by
//! the unit tests below against oci-spec's parsers, and each mount option by the integration
//! test on a tmpfs (which refuses any option hull would pass on to it as data).

use std::str::FromStr;

use libseccomp::{ScmpArch, ScmpFilterContext};
use serde_json::{json, Value};

/// The oldest runtime-spec version whose configs hull accepts.
pub const OCI_VERSION_MIN: &str = "1.0.0";

/// The six hook points (`hooks.rs`); `prestart` is deprecated but still run.
pub const HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Namespace types hull creates (one `clone3`) or joins (`setns`), `bootstrap/namespaces.rs`.
pub const NAMESPACES: [&str; 8] = [
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
];

/// Every seccomp action of the runtime-spec (`security/seccomp.rs` maps each to libseccomp).
pub const SECCOMP_ACTIONS: [&str; 9] = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

/// Every argument comparison of the runtime-spec.
pub const SECCOMP_OPERATORS: [&str; 7] = [
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// The architectures a config may name (oci-spec's list, without `SCMP_ARCH_NATIVE`); only
/// those libseccomp knows are advertised.
const ARCH_CANDIDATES: [&str; 17] = [
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_RISCV64",
];

/// Seccomp filter flags a config may name, with their kernel value. The last is known but
/// dropped with a warning (oci-spec cannot represent it), so it is never "supported".
const SECCOMP_FLAGS: [(&str, u32); 4] = [
    ("SECCOMP_FILTER_FLAG_TSYNC", 1),
    ("SECCOMP_FILTER_FLAG_LOG", 2),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", 4),
    ("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 32),
];

/// The annotation carrying hull's version (runc's is `org.opencontainers.runc.version`).
pub const VERSION_ANNOTATION: &str = "io.github.hull.version";

/// The seccomp architectures hull can put in a filter beside the native one (libseccomp
/// refuses to mix byte orders, so a big-endian arch never fits in an x86_64 filter).
pub fn seccomp_archs() -> Vec<&'static str> {
    ARCH_CANDIDATES
        .into_iter()
        .filter(|a| serde_json::from_value::<oci_spec::runtime::Arch>(json!(a)).is_ok())
        .filter(|a| {
            let Ok(arch) = ScmpArch::from_str(a) else {
                return false;
            };
            let Ok(mut ctx) = ScmpFilterContext::new(libseccomp::ScmpAction::Allow) else {
                return false;
            };
            ctx.is_arch_present(arch).unwrap_or(false) || ctx.add_arch(arch).is_ok()
        })
        .collect()
}

/// Whether the kernel knows seccomp filter flag `bit`: `seccomp(SET_MODE_FILTER, bit, NULL)`
/// fails with EFAULT (it got as far as reading the filter) for a known flag, EINVAL otherwise.
pub(crate) fn kernel_knows_flag(bit: u32) -> bool {
    // SAFETY: a NULL program is never read; the call fails before installing anything.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            1, /* SECCOMP_SET_MODE_FILTER */
            bit as libc::c_ulong,
            std::ptr::null::<libc::c_void>(),
        )
    };
    rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// Whether libseccomp lets hull set the flag (its API level may be too old for LOG or
/// SPEC_ALLOW).
fn libseccomp_sets_flag(name: &str) -> bool {
    let Ok(mut ctx) = ScmpFilterContext::new(libseccomp::ScmpAction::Allow) else {
        return false;
    };
    match name {
        "SECCOMP_FILTER_FLAG_TSYNC" => ctx.set_ctl_tsync(true).is_ok(),
        "SECCOMP_FILTER_FLAG_LOG" => ctx.set_ctl_log(true).is_ok(),
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => ctx.set_ctl_ssb(true).is_ok(),
        _ => false,
    }
}

/// The flags both this kernel and this libseccomp support, as hull applies them.
pub fn seccomp_supported_flags() -> Vec<&'static str> {
    SECCOMP_FLAGS
        .into_iter()
        .filter(|(name, bit)| kernel_knows_flag(*bit) && libseccomp_sets_flag(name))
        .map(|(name, _)| name)
        .collect()
}

/// Every capability the `caps` crate knows, in kernel order (`CAP_CHOWN` first).
pub fn capabilities() -> Vec<String> {
    let mut all: Vec<caps::Capability> = caps::all().into_iter().collect();
    all.sort_by_key(|c| c.index());
    all.into_iter().map(|c| c.to_string()).collect()
}

/// The version of the libseccomp library hull runs with (`major.minor.micro`).
pub fn libseccomp_version() -> Option<String> {
    libseccomp::ScmpVersion::current()
        .ok()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
}

/// Whether checkpoint/restore works here: CRIU (`criu`, the global `--criu`) is installed,
/// recent enough, and `criu check` passes on this kernel.
pub fn checkpoint_enabled(criu: Option<&std::path::Path>) -> bool {
    crate::criu::Criu::find(criu).is_ok_and(|c| c.works_here())
}

/// The features document (`hull features` prints it); `criu` is the global `--criu`.
pub fn document(criu: Option<&std::path::Path>) -> Value {
    let mut annotations = serde_json::Map::new();
    annotations.insert(VERSION_ANNOTATION.into(), json!(env!("CARGO_PKG_VERSION")));
    annotations.insert(
        "io.github.hull.checkpoint.enabled".into(),
        json!(checkpoint_enabled(criu).to_string()),
    );
    if let Some(v) = libseccomp_version() {
        annotations.insert("io.github.seccomp.libseccomp.version".into(), json!(v));
    }
    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": crate::OCI_VERSION,
        "hooks": HOOKS,
        "mountOptions": crate::init::mount_options::known_options(),
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": capabilities(),
            "cgroup": {
                "v1": true,
                "v2": true,
                // --systemd-cgroup: transient units over D-Bus (hull-cgroups' systemd/)
                "systemd": true,
                "systemdUser": true,
                "rdma": true,
            },
            "seccomp": {
                "enabled": true,
                "actions": SECCOMP_ACTIONS,
                "operators": SECCOMP_OPERATORS,
                "archs": seccomp_archs(),
                "knownFlags": SECCOMP_FLAGS.map(|(name, _)| name),
                "supportedFlags": seccomp_supported_flags(),
            },
            // support is built in; whether the host enables the LSM is another matter
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": true},
            "memoryPolicy": {
                "modes": ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
                    "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"],
            },
        },
        "annotations": annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_is_a_runtime_spec_features_document() {
        let doc = document(None);
        let parsed: oci_spec::runtime::Features =
            serde_json::from_value(doc.clone()).expect("oci-spec reads it");
        assert_eq!(parsed.oci_version_max(), crate::OCI_VERSION);
        assert_eq!(
            doc["annotations"][VERSION_ANNOTATION],
            env!("CARGO_PKG_VERSION")
        );
    }

    #[test]
    fn every_namespace_parses() {
        for ns in NAMESPACES {
            serde_json::from_value::<oci_spec::runtime::LinuxNamespaceType>(json!(ns))
                .unwrap_or_else(|e| panic!("{ns}: {e}"));
        }
    }

    #[test]
    fn every_seccomp_name_parses() {
        for a in SECCOMP_ACTIONS {
            serde_json::from_value::<oci_spec::runtime::LinuxSeccompAction>(json!(a))
                .unwrap_or_else(|e| panic!("{a}: {e}"));
        }
        for o in SECCOMP_OPERATORS {
            serde_json::from_value::<oci_spec::runtime::LinuxSeccompOperator>(json!(o))
                .unwrap_or_else(|e| panic!("{o}: {e}"));
        }
        assert!(seccomp_archs().contains(&"SCMP_ARCH_X86_64"));
        for f in seccomp_supported_flags() {
            serde_json::from_value::<oci_spec::runtime::LinuxSeccompFilterFlag>(json!(f))
                .unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }

    #[test]
    fn capabilities_are_named_as_the_spec_names_them() {
        let caps = capabilities();
        assert_eq!(caps[0], "CAP_CHOWN");
        assert!(caps.iter().all(|c| c.starts_with("CAP_")));
    }
}
