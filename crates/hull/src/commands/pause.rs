//! `hull pause`.

use crate::cli::Global;

/// Freezes the container's processes.
pub fn run(global: &Global, id: &str) -> anyhow::Result<i32> {
    hull_runtime::container::pause::pause(&global.root, id)?;
    Ok(0)
}
