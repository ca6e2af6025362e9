//! The container lifecycle seen from outside: one operation a file.

pub mod cgroup;
pub mod checkpoint;
pub mod console;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod exec_process;
pub mod foreground;
pub mod intel_rdt;
pub mod kill;
pub mod list;
pub mod members;
pub mod net_devices;
pub mod netstats;
pub mod pause;
pub mod ps;
pub mod restore;
pub mod rootless;
pub mod run;
pub mod start;
pub mod state;
pub mod state_root;
pub mod stored_spec;
pub mod update;
