//! The container lifecycle seen from outside: one operation a file.

pub mod cgroup;
pub mod create;
pub mod delete;
pub mod exec;
pub mod exec_process;
pub mod kill;
pub mod list;
pub mod run;
pub mod start;
pub mod state;
