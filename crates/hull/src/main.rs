//! hull: an OCI container runtime with runc's command line.

mod cli;
mod commands;
mod logging;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    logging::init(&cli.global);
    let (name, id) = cli.command.describe();
    let code = match commands::dispatch(&cli.global, cli.command) {
        Ok(code) => code,
        Err(e) => {
            let msg = match id {
                Some(id) => format!("{name} {id}: {e}"),
                None => format!("{name}: {e}"),
            };
            logging::report_error(&msg);
            1
        }
    };
    std::process::exit(code);
}
