//! `hull exec`.

use hull_runtime::container::exec::{exec, ExecOptions};
use hull_runtime::container::exec_process::{self, Overrides};
use hull_runtime::container::state::Container;

use crate::cli::{ExecFlags, Global};

/// Runs a process in the container; returns its exit status (0 when detached).
pub fn run(global: &Global, flags: &ExecFlags) -> anyhow::Result<i32> {
    // The state is read once: the process is built from it, and exec starts from it.
    let (c, process) = match &flags.process {
        Some(path) => {
            let process = exec_process::from_file(path)?;
            (Container::load(&global.root, &flags.id)?, process)
        }
        None => {
            let c = Container::load(&global.root, &flags.id)?;
            let process = exec_process::with_overrides(&c, &overrides(flags))?;
            (c, process)
        }
    };
    let opts = ExecOptions {
        process,
        detach: flags.detach,
        pid_file: flags.pid_file.clone(),
        preserve_fds: flags.preserve_fds,
        ignore_paused: flags.ignore_paused,
        console_socket: flags.console_socket.clone(),
        sub_cgroups: flags.cgroup.clone(),
    };
    Ok(exec(&c, &opts)?)
}

fn overrides(flags: &ExecFlags) -> Overrides {
    Overrides {
        args: flags.command.clone(),
        env: flags.env.clone(),
        cwd: flags.cwd.clone(),
        user: flags.user.clone(),
        additional_gids: flags.additional_gids.clone(),
        caps: flags.cap.clone(),
        tty: flags.tty,
        no_new_privs: flags.no_new_privs,
        apparmor: flags.apparmor.clone(),
        process_label: flags.process_label.clone(),
    }
}
