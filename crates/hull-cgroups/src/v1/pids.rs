//! v1 `pids` controller: the process count limit.

use std::path::Path;

use crate::error::Result;
use crate::fs;
use crate::resources::pids_max;

/// Writes `pids.max` for an OCI limit (0: leave alone, negative: unlimited).
pub(crate) fn set<'a>(dir: impl FnOnce() -> Result<&'a Path>, limit: i64) -> Result<()> {
    match pids_max(limit) {
        Some(v) => fs::write(dir()?, "pids.max", &v),
        None => Ok(()),
    }
}
