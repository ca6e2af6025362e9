//! `hull-docs <dir>`: renders hull's man pages and shell completions from the clap
//! definitions of the `hull` binary (`hull::cli`), so they always match the command line.
//!
//! Writes `<dir>/man8/hull.8` and one `hull-<command>.8` a command, and
//! `<dir>/completions/{hull.bash,_hull,hull.fish}` (bash, zsh, fish). `make install` puts
//! them in place.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

/// The command as the pages describe it: the plain version (the binary's `--version` text
/// spans several lines) and no `help` pseudo-command.
fn command() -> clap::Command {
    let mut cmd = hull::cli::Cli::command()
        .version(env!("CARGO_PKG_VERSION"))
        .long_version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true);
    cmd.build();
    cmd
}

fn create(path: &Path) -> std::io::Result<BufWriter<File>> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// `hull.8`, then `hull-<name>.8` for each command (they name each other in SEE ALSO).
fn man_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let cmd = command();
    let mut pages = vec![(cmd.clone(), None)];
    pages.extend(cmd.get_subcommands().map(|s| (s.clone(), Some(&cmd))));
    let mut written = Vec::new();
    for (page, parent) in pages {
        let man = clap_mangen::Man::new(page.clone())
            .section("8")
            .source(format!("hull {}", env!("CARGO_PKG_VERSION")))
            .manual("hull manual");
        let path = dir.join(man.get_filename());
        let mut out = create(&path)?;
        man.render(&mut out)?;
        if parent.is_some() {
            writeln!(out, ".SH \"SEE ALSO\"\n\\fBhull\\fR(8)")?;
        }
        out.flush()?;
        written.push(path);
    }
    Ok(written)
}

/// Completion scripts for bash, zsh and fish.
fn completions(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (shell, file) in [
        (Shell::Bash, "hull.bash"),
        (Shell::Zsh, "_hull"),
        (Shell::Fish, "hull.fish"),
    ] {
        let path = dir.join(file);
        let mut out = create(&path)?;
        clap_complete::generate(shell, &mut command(), "hull", &mut out);
        out.flush()?;
        written.push(path);
    }
    Ok(written)
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: hull-docs <output dir>");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    let result = man_pages(&dir.join("man8")).and_then(|mut m| {
        m.extend(completions(&dir.join("completions"))?);
        Ok(m)
    });
    match result {
        Ok(files) => {
            files.iter().for_each(|f| println!("{}", f.display()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hull-docs: {e}");
            ExitCode::FAILURE
        }
    }
}
