//! `hull state`: the OCI state document, pretty-printed as runc prints it.

use hull_runtime::container::state::Container;

use crate::cli::Global;

/// Prints the container's OCI state document.
pub fn run(global: &Global, id: &str) -> anyhow::Result<i32> {
    let c = Container::load(&global.root, id)?;
    println!("{}", serde_json::to_string_pretty(&c.oci_state()?)?);
    Ok(0)
}
