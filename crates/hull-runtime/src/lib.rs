//! hull-runtime: the library behind the `hull` binary. It turns an OCI bundle into an isolated
//! process and keeps the state later commands need. Nothing here knows about the command line.

pub mod bootstrap;
pub mod container;
pub mod criu;
pub mod error;
pub mod fault;
pub mod features;
pub mod hooks;
pub mod init;
pub mod kernel_text;
pub mod netlink;
pub mod pidfd;
pub mod security;
pub mod signal;
pub mod spec;
pub mod template;

pub use error::{Error, Result};

/// The runtime-spec version hull implements and reports in state documents.
pub const OCI_VERSION: &str = "1.3.0";
