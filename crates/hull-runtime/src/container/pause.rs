//! `pause` and `resume`: freeze and thaw every process of the container's cgroup
//! (v1 `freezer.state`, v2 `cgroup.freeze`).

use std::path::Path;

use super::state::{Container, Status};
use crate::error::Result;

/// Freeze container `id`; it must be running (as runc: "container not running").
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    let _lock = c.lock()?;
    require(&c, Status::Running, "container not running")?;
    super::cgroup::of(&c.record)?.freeze()?;
    Ok(())
}

/// Thaw container `id`; it must be paused (as runc: "container not paused").
pub fn resume(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    let _lock = c.lock()?;
    require(&c, Status::Paused, "container not paused")?;
    super::cgroup::of(&c.record)?.thaw()?;
    Ok(())
}

fn require(c: &Container, want: Status, what: &str) -> Result<()> {
    match c.status() {
        status if status == want => Ok(()),
        status => Err(c.bad_status(status, what)),
    }
}
