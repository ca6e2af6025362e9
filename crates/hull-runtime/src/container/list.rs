//! `list`: every container under the state root with its live status.

use std::path::Path;

use super::state::{list_ids, Container, OciState};
use crate::error::{Error, Result};

/// The state of every container under `root`, sorted by id. Containers that vanish while
/// listing are skipped.
pub fn list(root: &Path) -> Result<Vec<OciState>> {
    let mut out = Vec::new();
    for id in list_ids(root)? {
        match Container::load(root, &id) {
            Ok(c) => out.push(c.oci_state()),
            Err(Error::NotExist(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
