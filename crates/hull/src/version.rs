//! `hull --version`: runc's shape, which docker, podman and scripts parse (dockerd splits
//! the first line on `version` and reads the `commit:` line).

use std::sync::OnceLock;

/// Everything after `hull ` in `hull --version`: `version 0.x.y`, then `commit:`, `spec:`
/// (the runtime-spec version hull implements), `rust:` and `libseccomp:` lines, as runc
/// prints `go:` and the libseccomp it runs with.
pub fn text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let seccomp = hull_runtime::features::libseccomp_version();
        format!(
            "version {}\ncommit: {}\nspec: {}\nrust: {}\nlibseccomp: {}",
            env!("CARGO_PKG_VERSION"),
            env!("HULL_COMMIT"),
            hull_runtime::OCI_VERSION,
            env!("HULL_RUSTC"),
            seccomp.as_deref().unwrap_or("unknown"),
        )
    })
}
