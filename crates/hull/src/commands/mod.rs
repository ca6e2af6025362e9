//! One file per subcommand, each a thin call into hull-runtime.

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod update;

use crate::cli::{Command, Global};

/// Run a parsed command; returns hull's exit code.
pub fn dispatch(global: &Global, command: Command) -> anyhow::Result<i32> {
    if global.criu.is_some() {
        tracing::warn!("--criu is accepted but checkpoint/restore is not supported");
    }
    if matches!(
        command,
        Command::Create(_) | Command::Run { .. } | Command::Exec(_)
    ) {
        hull_runtime::security::exe_guard::ensure()?;
    }
    match command {
        Command::Create(flags) => create::run(global, &flags),
        Command::Start { id } => start::run(global, &id),
        Command::Run {
            create,
            detach,
            keep,
            no_subreaper: _,
        } => run::run(global, &create, detach, keep),
        Command::Exec(flags) => exec::run(global, &flags),
        Command::State { id } => state::run(global, &id),
        Command::Kill { id, signal, all } => kill::run(global, &id, &signal, all),
        Command::Delete { id, force } => delete::run(global, &id, force),
        Command::List { format, quiet } => list::run(global, format, quiet),
        Command::Spec { bundle, rootless } => spec::run(&bundle, rootless),
        Command::Pause { id } => pause::run(global, &id),
        Command::Resume { id } => resume::run(global, &id),
        Command::Ps {
            id,
            format,
            ps_args,
        } => ps::run(global, &id, format, &ps_args),
        Command::Events {
            id,
            stats,
            interval,
        } => events::run(global, &id, stats, &interval),
        Command::Update(flags) => update::run(global, &flags),
        Command::Features => features::run(),
    }
}
