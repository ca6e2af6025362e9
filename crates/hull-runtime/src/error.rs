//! The runtime's error type: every failure carries what was being done and on what.

use std::borrow::Cow;
use std::fmt::Display;
use std::path::PathBuf;

/// An error from any hull operation. Its `Display` is one line naming the failing step,
/// the path or field involved, and the OS reason.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `config.json` (or the bundle) is not acceptable; found before any side effect.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// No container with this id under the state root (runc's words; the command line
    /// names the id).
    #[error("container does not exist")]
    NotExist(String),
    /// The id is already in use under the state root.
    #[error("container with id \"{0}\" already exists")]
    Exists(String),
    /// The container's `state.json` cannot be read as a record (truncated or damaged).
    #[error("state of container \"{id}\" is corrupt: {why}")]
    Corrupt { id: String, why: String },
    /// The operation is not allowed in the container's current status.
    #[error("container \"{id}\" is {status}: {what}")]
    BadStatus {
        id: String,
        status: String,
        what: String,
    },
    /// The container's init reported that one of its set-up steps failed.
    #[error("{step}: {message}")]
    Init { step: String, message: String },
    /// A hook failed or timed out.
    #[error("{0}")]
    Hook(String),
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] hull_cgroups::CgroupError),
    /// A system call failed while doing `what` (the reason in Go's words, as runc prints it).
    #[error("{what}: {}", errno_words(*.source))]
    Sys {
        what: String,
        source: nix::errno::Errno,
    },
    /// An I/O operation failed while doing `what` (an OS reason in Go's words).
    #[error("{what}: {}", io_words(.source))]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Msg(String),
}

/// The kernel's description of `e` as Go (so runc) prints it: lower-case, without the
/// errno's name ("no such file or directory"), which tools and suites match on.
pub fn errno_words(e: nix::errno::Errno) -> String {
    let desc = e.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => desc.to_string(),
    }
}

/// [`errno_words`] for an I/O error from the OS, its own text otherwise.
pub fn io_words(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_words(nix::errno::Errno::from_raw(n)),
        None => e.to_string(),
    }
}

/// `msg` with every control character escaped (`\n`, `\r`, `\t`, `\u{1b}`...), so that an
/// error stays one line even when a config string, a path or a hook's output holds a newline.
pub fn one_line(msg: &str) -> Cow<'_, str> {
    if !msg.chars().any(char::is_control) {
        return Cow::Borrowed(msg);
    }
    let mut out = String::with_capacity(msg.len() + 8);
    for c in msg.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach "what was being done" to a low-level error.
pub trait Context<T> {
    /// Wrap the error with a description computed only on failure.
    fn ctx<D: Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, nix::errno::Errno> {
    fn ctx<D: Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|source| Error::Sys {
            what: what().to_string(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn ctx<D: Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|source| Error::Io {
            what: what().to_string(),
            source,
        })
    }
}

/// Why a bundle or its `config.json` was refused. Each message names the field or path.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The bundle directory is missing or unreadable.
    #[error("bundle {path}: {source}")]
    Bundle {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `config.json` could not be read.
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `config.json` is not valid JSON or does not match the runtime-spec; `field` is the JSON path.
    #[error("{path}: invalid config at {field}: {reason}")]
    Parse {
        path: PathBuf,
        field: String,
        reason: String,
    },
    /// A field has a value hull refuses.
    #[error("config.json: {field}: {reason}")]
    Invalid { field: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            one_line("plain: ünïcode \\ \"q\""),
            "plain: ünïcode \\ \"q\""
        );
        assert_eq!(
            one_line("/no/such\nsrc\r\t\u{1b}x"),
            "/no/such\\nsrc\\r\\t\\u{1b}x"
        );
    }
}
