//! `hostname` and `domainname` in the container's UTS namespace.

use oci_spec::runtime::Spec;

use crate::error::{Context, Result};

/// Set the hostname and domainname the spec gives (validation made sure a UTS namespace exists).
pub fn apply(spec: &Spec) -> Result<()> {
    if let Some(name) = spec.hostname().as_deref().filter(|n| !n.is_empty()) {
        nix::unistd::sethostname(name).ctx(|| format!("sethostname {name}"))?;
    }
    if let Some(name) = spec.domainname().as_deref().filter(|n| !n.is_empty()) {
        // SAFETY: setdomainname reads exactly len bytes from a valid buffer.
        let r = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
        nix::errno::Errno::result(r).ctx(|| format!("setdomainname {name}"))?;
    }
    Ok(())
}
