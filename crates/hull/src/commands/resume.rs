//! `hull resume`.

use crate::cli::Global;

/// Thaws a paused container.
pub fn run(global: &Global, id: &str) -> anyhow::Result<i32> {
    hull_runtime::container::pause::resume(&global.root, id)?;
    Ok(0)
}
