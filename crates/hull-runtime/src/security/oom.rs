//! `process.oomScoreAdj`.

use crate::error::{Context, Result};

/// Write `/proc/self/oom_score_adj` (init's value is inherited by the program). Lowering it
/// below the inherited minimum needs CAP_SYS_RESOURCE; the error then names the value.
pub fn apply(adj: Option<i32>) -> Result<()> {
    let Some(adj) = adj else {
        return Ok(());
    };
    std::fs::write("/proc/self/oom_score_adj", adj.to_string())
        .ctx(|| format!("process.oomScoreAdj: write {adj} to /proc/self/oom_score_adj"))
}
