//! `hull ps`: runc's output — a JSON array of pids, or the host's `ps` rows of the container.

use hull_runtime::container::ps;

use crate::cli::{Global, ListFormat};

/// Prints the container's processes in `format`; `ps_args` go to `ps` (table only).
pub fn run(
    global: &Global,
    id: &str,
    format: ListFormat,
    ps_args: &[String],
) -> anyhow::Result<i32> {
    let pids = ps::pids(&global.root, id)?;
    match format {
        ListFormat::Json => println!("{}", serde_json::to_string(&pids)?),
        ListFormat::Table => print!("{}", ps::table(&pids, ps_args)?),
    }
    Ok(0)
}
