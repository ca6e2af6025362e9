//! `hull kill`.

use crate::cli::Global;

/// Sends `signal` (a name or number) to init, or with `all` to every process.
pub fn run(global: &Global, id: &str, signal: &str, all: bool) -> anyhow::Result<i32> {
    let signal = hull_runtime::signal::parse_for_kill(signal)?;
    hull_runtime::container::kill::kill(&global.root, id, signal, all)?;
    Ok(0)
}
