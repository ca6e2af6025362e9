//! Getting a process into its namespaces (what runc's nsexec.c does), in Rust: hull is
//! single-threaded, so no thread is ever started before namespaces are entered.

pub mod channel;
pub mod idmap;
pub mod idmap_mount;
pub mod mount_sources;
pub mod namespaces;
pub mod parent_death;
pub mod spawn;
