//! hull: an OCI container runtime with runc's command line.
//!
//! `#![no_main]`: hull starts from the C `main` below and skips Rust's runtime set-up, which
//! reads all of `/proc/self/maps` for the main thread's stack guard: a tenth of the work of a
//! start-up, and `create`, `run` and `exec` start twice (security/exe_guard.rs). `startup`
//! does the two parts of it that hull needs. (The unit-test build keeps libtest's own main.)
#![cfg_attr(not(test), no_main)]

mod commands;
mod logging;
mod startup;

use hull::cli;

/// The process's entry point, called by the C runtime; never returns. (In the unit-test
/// build it is an ordinary function, unused: libtest's main runs the tests.)
#[cfg_attr(not(test), no_mangle)]
#[cfg_attr(test, allow(dead_code))]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    startup::prepare();
    // CVE-2019-5736: create, run and exec re-execute hull from a read-only view of its
    // binary first thing, before the command line is parsed: it is then parsed once, in the
    // guarded process. A failure is reported once the command (and --log) is known.
    let guard = if commands::may_need_exe_guard(std::env::args_os().skip(1)) {
        hull_runtime::security::exe_guard::ensure()
    } else {
        Ok(())
    };
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => logging::usage_error(e),
    };
    logging::init(&cli.global);
    hull_runtime::fault::setup();
    let (name, id) = cli.command.describe();
    let code = match commands::dispatch(cli.global, cli.command, guard) {
        Ok(code) => code,
        Err(e) => {
            let msg = match id {
                Some(id) => format!("{name} {id}: {e}"),
                None => format!("{name}: {e}"),
            };
            logging::report_error(&msg);
            failure_status(name)
        }
    };
    std::process::exit(code);
}

/// The command line, parsed as `Cli::try_parse` does, but the clap command tree (every
/// subcommand and flag) and its matches are left for the process's exit to free: dropping
/// them piece by piece was a tenth of a start-up's work, for nothing.
fn parse() -> Result<cli::Cli, clap::Error> {
    let mut command = <cli::Cli as clap::CommandFactory>::command();
    let mut matches = command.try_get_matches_from_mut(std::env::args_os())?;
    let cli = <cli::Cli as clap::FromArgMatches>::from_arg_matches_mut(&mut matches)
        .map_err(|e| e.format(&mut command));
    std::mem::forget(matches);
    std::mem::forget(command);
    cli
}

/// The exit status of a failed command: 255 for `exec` (as runc: callers tell a failure of
/// exec itself from the exit status of the process it ran), 1 for the others.
fn failure_status(command: &str) -> i32 {
    if command == "exec" {
        255
    } else {
        1
    }
}
