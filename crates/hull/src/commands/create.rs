//! `hull create`.

use hull_runtime::container::create::{create, CreateOptions};

use crate::cli::{CreateFlags, Global};

/// The runtime's options from the command line.
pub fn options(global: &Global, flags: &CreateFlags) -> CreateOptions {
    CreateOptions {
        root: global.root.clone(),
        id: flags.id.clone(),
        bundle: flags.bundle.clone(),
        pid_file: flags.pid_file.clone(),
        no_pivot: flags.no_pivot,
        no_new_keyring: flags.no_new_keyring,
        console_socket: flags.console_socket.clone(),
        preserve_fds: flags.preserve_fds,
        systemd_cgroup: global.systemd_cgroup,
        rootless_cgroups: global.rootless.cgroups_optional(),
    }
}

/// Creates the container; its init waits for `start`.
pub fn run(global: &Global, flags: &CreateFlags) -> anyhow::Result<i32> {
    create(&options(global, flags))?;
    Ok(0)
}
