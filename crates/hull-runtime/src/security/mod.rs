//! Confinement applied by init: capabilities, rlimits, no_new_privileges, the OOM score,
//! seccomp and the LSM labels. [`validate`] checks what the config asks before any side effect.

pub mod apparmor;
pub mod caps;
pub mod dumpable;
pub mod exe_guard;
pub mod nnp;
pub mod oom;
pub mod rlimits;
pub mod scheduling;
pub mod seccomp;
pub mod seccomp_enosys;
pub mod selinux;

use std::os::fd::OwnedFd;

use oci_spec::runtime::{LinuxSeccomp, Spec};

use crate::error::Result;

/// A connected seccomp agent socket and the state document to send it with the notify fd.
pub type Listener = Option<(OwnedFd, Vec<u8>)>;

/// Check the confinement fields (seccomp profile, sysctls); the error is `(field, reason)`.
pub fn validate(spec: &Spec) -> std::result::Result<(), (String, String)> {
    if let Some(profile) = seccomp_profile(spec) {
        seccomp::check(profile).map_err(|b| (b.field, b.reason))?;
    }
    crate::init::sysctl::check(spec)
}

/// Adjust the raw config JSON before it is parsed: names oci-spec would refuse but runc only
/// warns about (unknown capabilities, seccomp flags hull cannot apply) are dropped, and
/// runtime-spec's scheduler flag names that oci-spec spells otherwise are accepted.
pub fn tolerate(config: &mut serde_json::Value) {
    caps::drop_unknown_names(config);
    seccomp::drop_unsupported_flags(config);
    if let Some(process) = config.get_mut("process") {
        scheduling::accept_spec_flag_names(process);
    }
}

/// The seccomp profile, if the config has one.
pub fn seccomp_profile(spec: &Spec) -> Option<&LinuxSeccomp> {
    spec.linux().as_ref().and_then(|l| l.seccomp().as_ref())
}

/// Connect to the seccomp agent when the profile notifies; done where `listenerPath` (a host
/// path) is reachable: by init before pivot_root, by `exec` before it joins the container.
pub fn connect_seccomp_agent(spec: &Spec) -> Result<Option<OwnedFd>> {
    let path = seccomp_profile(spec)
        .filter(|p| seccomp::has_notify(p))
        .and_then(|p| p.listener_path().as_deref());
    path.map(seccomp::connect_listener).transpose()
}

/// The agent's socket with the state document to send along with the notify fd.
pub fn seccomp_listener(spec: &Spec, sock: Option<OwnedFd>, state: &str) -> Result<Listener> {
    let (Some(sock), Some(profile)) = (sock, seccomp_profile(spec)) else {
        return Ok(None);
    };
    let doc = seccomp::process_state(state, profile.listener_metadata().as_deref())?;
    Ok(Some((sock, doc)))
}

/// Load the seccomp filter, the last step before execve (and the startContainer hooks, which
/// run under it as with runc), then return to `caps_after` when the process kept
/// CAP_SYS_ADMIN for the load (no noNewPrivileges: see [`caps::for_privileged_seccomp`]).
/// Used by init and by `exec`.
pub fn load_seccomp(
    profile: Option<&LinuxSeccomp>,
    listener: &mut Listener,
    caps_after: Option<&caps::CapSets>,
) -> Result<()> {
    if let Some(profile) = profile {
        seccomp::load(profile, listener.take())?;
    }
    match caps_after {
        Some(sets) => caps::drop_to(sets),
        None => Ok(()),
    }
}
