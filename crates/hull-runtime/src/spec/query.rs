//! Small questions asked of a spec by several modules (kept apart from loading and
//! validation, which call those modules).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};

/// A mount's `source` as a host path: a relative source is taken from the bundle directory.
pub fn mount_source(bundle: &Path, m: &Mount) -> PathBuf {
    let source = m.source().clone().unwrap_or_default();
    if source.is_absolute() {
        source
    } else {
        bundle.join(source)
    }
}

/// Whether the spec asks for a namespace of this type (new or joined).
pub fn has_namespace(spec: &Spec, kind: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|nss| nss.iter().any(|ns| ns.typ() == kind))
}
