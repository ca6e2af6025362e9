//! `hull features`: print the OCI features document (runtime-spec `features.md`).

/// Prints the features document as pretty JSON.
pub fn run() -> anyhow::Result<i32> {
    let doc = hull_runtime::features::document();
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(0)
}
