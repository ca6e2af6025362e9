//! `list`: every container under the state root with its live status and owner.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::state::{list_ids, Container, OciState};
use crate::error::{Error, Result};

/// One row of `list`.
#[derive(Debug)]
pub struct Entry {
    /// The container's state.
    pub state: OciState,
    /// Who created it: the owner of its state directory, by name when `/etc/passwd` knows it.
    pub owner: String,
}

/// What `list` found under the state root.
#[derive(Debug, Default)]
pub struct Listing {
    /// Every container whose state could be read, sorted by id.
    pub entries: Vec<Entry>,
    /// Why the others could not be read (a damaged `state.json`...), one error each.
    pub unreadable: Vec<Error>,
}

/// Every container under `root`. Containers that vanish while listing are skipped; one whose
/// state cannot be read is reported in [`Listing::unreadable`] and does not hide the others.
pub fn list(root: &Path) -> Result<Listing> {
    let mut out = Listing::default();
    for id in list_ids(root)? {
        match Container::load(root, &id) {
            Ok(c) => match c.oci_state() {
                Ok(state) => out.entries.push(Entry {
                    owner: owner_of(&c.dir),
                    state,
                }),
                Err(e) => out.unreadable.push(e),
            },
            Err(Error::NotExist(_)) => continue,
            Err(e) => out.unreadable.push(e),
        }
    }
    Ok(out)
}

fn owner_of(dir: &Path) -> String {
    let Ok(uid) = std::fs::metadata(dir).map(|m| m.uid()) else {
        return String::new();
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2].parse() == Ok(uid))
        .map(|f| f[0].to_string())
        .unwrap_or_else(|| format!("#{uid}"))
}
