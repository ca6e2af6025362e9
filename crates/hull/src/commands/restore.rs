//! `hull restore`.

use hull_runtime::container::restore::{self, RestoreOptions};

use crate::cli::{Global, RestoreFlags};

/// Restores a container from its checkpoint; returns its exit status unless detached.
pub fn run(global: &Global, flags: &RestoreFlags) -> anyhow::Result<i32> {
    let opts = RestoreOptions {
        criu: super::checkpoint::criu_flags(global, &flags.criu)?,
        root: global.root.clone(),
        id: flags.criu.id.clone(),
        bundle: flags.bundle.clone(),
        detach: flags.detach,
        pid_file: flags.pid_file.clone(),
        console_socket: flags.console_socket.clone(),
        systemd_cgroup: global.systemd_cgroup,
    };
    Ok(restore::restore(&opts)?)
}
