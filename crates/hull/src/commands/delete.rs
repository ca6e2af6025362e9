//! `hull delete`.

use crate::cli::Global;

pub fn run(global: &Global, id: &str, force: bool) -> anyhow::Result<i32> {
    hull_runtime::container::delete::delete(&global.root, id, force)?;
    Ok(0)
}
