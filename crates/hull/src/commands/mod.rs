//! One file per subcommand, each a thin call into hull-runtime.

mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod restore;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod update;

use crate::cli::{Command, Global};

/// The commands that must run from a read-only view of hull's binary (CVE-2019-5736, see
/// `hull_runtime::security::exe_guard`): those that start a process in a container.
const GUARDED: [&str; 3] = ["create", "run", "exec"];

/// Whether the command line (without argv\[0\]) may name a guarded command, judged before it
/// is parsed: true when any argument is one of their names. It may be true for another
/// command (an id or a path spelled `run`: one needless re-exec), never false for a guarded
/// one, since clap only takes a subcommand from an argument that is exactly its name.
pub fn may_need_exe_guard(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter()
        .any(|a| GUARDED.iter().any(|g| a.as_encoded_bytes() == g.as_bytes()))
}

/// Run a parsed command; returns hull's exit code. `guard` is the outcome of the binary
/// guard taken before parsing: a guarded command fails with its error, the others ignore it.
pub fn dispatch(
    mut global: Global,
    command: Command,
    guard: hull_runtime::Result<()>,
) -> anyhow::Result<i32> {
    if !matches!(command, Command::Spec { .. } | Command::Features) {
        global.resolve_root()?;
    }
    let global = &global;
    if matches!(
        command,
        Command::Create(_) | Command::Run { .. } | Command::Exec(_)
    ) {
        guard?;
    }
    match command {
        Command::Create(flags) => create::run(global, &flags),
        Command::Start { id } => start::run(global, &id),
        Command::Run {
            create,
            detach,
            keep,
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
        Command::Features => features::run(global),
        Command::Checkpoint(flags) => checkpoint::run(global, &flags),
        Command::Restore(flags) => restore::run(global, &flags),
    }
}

#[cfg(test)]
mod tests {
    use super::may_need_exe_guard;
    use clap::Parser;

    fn args(line: &str) -> Vec<std::ffi::OsString> {
        line.split_whitespace().map(Into::into).collect()
    }

    #[test]
    fn every_guarded_command_is_seen_before_parsing() {
        for line in [
            "create c1",
            "--root /x run -d c1",
            "--log=/l --debug exec c1 sh",
            "--root /x --log-format json create --bundle /b c1",
            "run --help",
        ] {
            assert!(may_need_exe_guard(args(line)), "{line}");
            let cli =
                crate::cli::Cli::try_parse_from(std::iter::once("hull".into()).chain(args(line)));
            if let Ok(cli) = cli {
                let name = cli.command.describe().0;
                assert!(super::GUARDED.contains(&name), "{line}: {name}");
            }
        }
    }

    #[test]
    fn other_commands_are_not_guarded_unless_an_argument_is_spelled_like_one() {
        for line in [
            "state c1",
            "--root /run/x delete -f c1",
            "list",
            "kill c1 KILL",
        ] {
            assert!(!may_need_exe_guard(args(line)), "{line}");
        }
        assert!(may_need_exe_guard(args("delete run")));
        assert!(!may_need_exe_guard(args("--root /run delete c1")));
    }
}
