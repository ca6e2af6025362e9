//! `hull run`.

use hull_runtime::container::run::{run as run_container, RunMode};

use crate::cli::{CreateFlags, Global};

/// Creates and starts the container; returns its exit status unless detached.
pub fn run(global: &Global, flags: &CreateFlags, detach: bool, keep: bool) -> anyhow::Result<i32> {
    let mode = if detach {
        RunMode::Detach
    } else {
        RunMode::Foreground { keep }
    };
    Ok(run_container(&super::create::options(global, flags), mode)?)
}
