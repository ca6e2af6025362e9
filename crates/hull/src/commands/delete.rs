//! `hull delete`.

use crate::cli::Global;

/// Deletes the container (a running one only with `force`).
pub fn run(global: &Global, id: &str, force: bool) -> anyhow::Result<i32> {
    hull_runtime::container::delete::delete(&global.root, id, force)?;
    Ok(0)
}
