//! `hull start`.

use crate::cli::Global;

/// Starts a created container.
pub fn run(global: &Global, id: &str) -> anyhow::Result<i32> {
    hull_runtime::container::start::start(&global.root, id)?;
    Ok(0)
}
