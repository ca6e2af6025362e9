//! The one error type of this crate. Every variant says what was being done and where.

use std::path::PathBuf;

/// Everything that can go wrong while managing a cgroup.
///
/// Each variant carries enough context (the path, the operation, the resource field) for the
/// message to stand on its own in `hull: <command> <id>: <what failed>: <why>`.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A file system operation on a cgroup file or directory failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done, e.g. `write "max" to` or `create cgroup`.
        op: String,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying OS error.
        #[source]
        source: std::io::Error,
    },

    /// The configured cgroup path is not acceptable (e.g. it escapes with `..`).
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A resource field was set that this manager cannot apply on this host.
    #[error("unsupported resource {field}: {reason}")]
    Unsupported {
        /// The field in OCI spec terms, e.g. `linux.resources.memory.kernel`.
        field: String,
        /// Why it cannot be applied.
        reason: String,
    },

    /// A resource field has a value that cannot be written.
    #[error("invalid value for {field}: {reason}")]
    InvalidValue {
        /// The field in OCI spec terms.
        field: String,
        /// What is wrong with the value.
        reason: String,
    },

    /// A kernel-provided file could not be understood.
    #[error("cannot parse {what} in {path}: {detail}")]
    Parse {
        /// What was being parsed, e.g. `mountinfo line`.
        what: &'static str,
        /// The file it came from.
        path: PathBuf,
        /// The offending text or a description.
        detail: String,
    },

    /// No usable cgroup file system was found.
    #[error("no cgroup file system found: {0}")]
    NoCgroupFs(String),

    /// systemd (over D-Bus) refused, failed or could not be reached.
    #[error("systemd: {0}")]
    Systemd(String),

    /// A state change (freeze/thaw) did not complete in time.
    #[error("timed out waiting for {path} to become {want}")]
    Timeout {
        /// The file being polled.
        path: PathBuf,
        /// The state that was expected.
        want: String,
    },
}

impl CgroupError {
    /// Builds an [`CgroupError::Io`] from an operation description, a path and an OS error.
    pub(crate) fn io(
        op: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        CgroupError::Io {
            op: op.into(),
            path: path.into(),
            source,
        }
    }

    /// Builds an [`CgroupError::Unsupported`] for a spec field.
    pub(crate) fn unsupported(field: &str, reason: impl Into<String>) -> Self {
        CgroupError::Unsupported {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    /// Builds an [`CgroupError::InvalidValue`] for a spec field.
    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        CgroupError::InvalidValue {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T> = std::result::Result<T, CgroupError>;
