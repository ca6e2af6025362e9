//! `hull features`: print the OCI features document (runtime-spec `features.md`).

use crate::cli::Global;

/// Prints the features document as pretty JSON.
pub fn run(global: &Global) -> anyhow::Result<i32> {
    let doc = hull_runtime::features::document(global.criu.as_deref());
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(0)
}
