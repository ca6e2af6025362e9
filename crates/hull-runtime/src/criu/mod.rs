//! Driving CRIU (checkpoint/restore in userspace), as runc does: `criu swrk` over a socketpair
//! speaking CRIU's RPC protocol (`swrk.rs`), the mounts CRIU must be told about (`externals.rs`),
//! and the cause of a failure read back from CRIU's log (`log.rs`). This file finds the binary
//! and checks that it is recent enough and works on this kernel.
//!
//! The RPC messages are rust-criu's generated `rpc.proto` types; rust-criu's own driver is not
//! used: its notify callback is a plain `fn` (restore needs state in it: the hooks, the pty
//! master, the restored pid) and its errors drop CRIU's own message.

pub mod externals;
pub mod images;
pub mod log;
pub mod swrk;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

pub use rust_criu::rust_criu_protobuf::rpc;

/// The oldest CRIU hull drives: 3.14 is the first with cgroup v2 and the RPC options used here.
pub const MIN_VERSION: (u32, u32) = (3, 14);

/// A CRIU binary that exists and is recent enough.
#[derive(Debug, Clone)]
pub struct Criu {
    /// The binary (`--criu`, else `criu` found in `PATH`).
    pub path: PathBuf,
    /// Its version, as `criu --version` prints it (e.g. `3.17.1`).
    pub version: String,
}

impl Criu {
    /// Find CRIU (`explicit` is the global `--criu`) and check its version. Errors name the
    /// cause: not installed, not runnable, or older than [`MIN_VERSION`].
    pub fn find(explicit: Option<&Path>) -> Result<Criu> {
        let path = match explicit {
            Some(p) if p.components().count() > 1 => p.to_path_buf(),
            Some(p) => in_path(p).ok_or_else(|| not_installed(p))?,
            None => in_path(Path::new("criu")).ok_or_else(|| not_installed(Path::new("criu")))?,
        };
        let out = Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => not_installed(&path),
                _ => Error::Msg(format!("cannot run {} --version: {e}", path.display())),
            })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = parse_version(&text).ok_or_else(|| {
            Error::Msg(format!(
                "{} --version printed no version (is it CRIU?)",
                path.display()
            ))
        })?;
        if numeric(&version) < MIN_VERSION {
            return Err(Error::Msg(format!(
                "CRIU {version} ({}) is too old: checkpoint/restore needs CRIU {}.{} or newer",
                path.display(),
                MIN_VERSION.0,
                MIN_VERSION.1
            )));
        }
        Ok(Criu { path, version })
    }

    /// Whether CRIU works on this kernel: `criu check` passes (without the host's default
    /// configuration files, which would send its output to a log file).
    pub fn works_here(&self) -> bool {
        Command::new(&self.path)
            .args(["check", "--no-default-config"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// "CRIU 3.17.1 on Linux 6.1.0-…": what a failure message names besides CRIU's own words.
    pub fn describe(&self) -> String {
        format!("CRIU {} on Linux {}", self.version, kernel_release())
    }
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "?".into())
}

fn not_installed(p: &Path) -> Error {
    Error::Msg(format!(
        "CRIU is not installed ({} not found): checkpoint/restore needs it (Debian: apt-get install criu)",
        p.display()
    ))
}

fn in_path(name: &Path) -> Option<PathBuf> {
    if name.is_absolute() {
        return name.exists().then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `3.17.1` from `criu --version`'s `Version: 3.17.1` line.
fn parse_version(text: &str) -> Option<String> {
    let v = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Version:"))?
        .trim();
    (!v.is_empty() && v.starts_with(|c: char| c.is_ascii_digit())).then(|| v.to_string())
}

fn numeric(version: &str) -> (u32, u32) {
    let mut parts = version.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or(0)
    });
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_and_compared() {
        assert_eq!(
            parse_version("Version: 3.17.1\n").as_deref(),
            Some("3.17.1")
        );
        assert_eq!(
            parse_version("Version: 4.0\nGitID: v4.0-12\n").as_deref(),
            Some("4.0")
        );
        assert_eq!(parse_version("criu: unknown option"), None);
        assert!(numeric("3.17.1") >= MIN_VERSION);
        assert!(numeric("4.0") >= MIN_VERSION);
        assert!(numeric("3.13") < MIN_VERSION);
        assert!(numeric("2.12.1") < MIN_VERSION);
    }
}
