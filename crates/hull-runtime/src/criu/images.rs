//! What hull keeps beside CRIU's images (`hull-checkpoint.json` in the image directory):
//! what restore needs to know about the checkpointed container that the images do not say
//! in a form hull can read, and the checks that an image directory is one to restore from.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::externals::{External, Kind};
use crate::error::{Context, Error, Result};

/// The file hull writes in the image directory.
pub const INFO_FILE: &str = "hull-checkpoint.json";
/// The file every CRIU dump writes first: an image directory without it holds no checkpoint.
const INVENTORY: &str = "inventory.img";

/// The checkpointed container, as restore needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageInfo {
    /// The id it had.
    pub id: String,
    /// Its external mounts (see [`super::externals`]).
    pub externals: Vec<External>,
    /// What its init's fds 0, 1 and 2 were (`readlink /proc/<pid>/fd/N`, "" if closed):
    /// restore gives pipes (`pipe:[N]`) back from its own stdio, as runc does.
    pub stdio: Vec<String>,
    /// Whether its process had a terminal.
    pub terminal: bool,
    /// The inode of the network namespace it joined by path, if any (CRIU's
    /// `net[<inode>]:extRootNetNS`).
    pub external_netns: Option<u64>,
    /// CRIU's name of the terminal on its stdio (`tty[<rdev>:<dev>]`), dumped as external:
    /// restore hands CRIU a new pty's slave under this key.
    #[serde(default)]
    pub tty: Option<String>,
}

impl ImageInfo {
    /// Write the record into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(INFO_FILE);
        let data = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Msg(format!("encode {}: {e}", path.display())))?;
        std::fs::write(&path, data).ctx(|| format!("write {}", path.display()))
    }

    /// Read the record of the checkpoint in `dir`, checking first that `dir` exists and holds
    /// a CRIU dump made by hull. Errors name the directory and what is missing.
    pub fn load(dir: &Path) -> Result<ImageInfo> {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(bad(dir, "is not a directory")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(bad(dir, "does not exist"))
            }
            Err(e) => return Err(e).ctx(|| format!("image directory {}", dir.display())),
        }
        if !dir.join(INVENTORY).exists() {
            return Err(bad(dir, "holds no checkpoint (no inventory.img)"));
        }
        let path = dir.join(INFO_FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(bad(
                    dir,
                    "was not written by hull checkpoint (no hull-checkpoint.json)",
                ))
            }
            Err(e) => return Err(e).ctx(|| format!("read {}", path.display())),
        };
        serde_json::from_slice(&text)
            .map_err(|e| Error::Msg(format!("{} is corrupt: {e}", path.display())))
    }

    /// Check that a container with these bind mounts and terminal setting can be restored
    /// from this checkpoint: CRIU would otherwise fail half-way, or restore into the wrong
    /// mounts.
    pub fn check_fits(&self, dir: &Path, binds: &[External], terminal: bool) -> Result<()> {
        let theirs: Vec<&str> = self
            .externals
            .iter()
            .filter(|e| e.kind == Kind::Bind)
            .map(|e| e.key.as_str())
            .collect();
        let ours: Vec<&str> = binds
            .iter()
            .filter(|e| e.kind == Kind::Bind)
            .map(|e| e.key.as_str())
            .collect();
        if let Some(k) = theirs.iter().find(|k| !ours.contains(k)) {
            return Err(other_container(
                dir,
                &self.id,
                &format!("it has a bind mount at {k} that this bundle lacks"),
            ));
        }
        if let Some(k) = ours.iter().find(|k| !theirs.contains(k)) {
            return Err(other_container(
                dir,
                &self.id,
                &format!("this bundle has a bind mount at {k} that it lacked"),
            ));
        }
        if self.terminal != terminal {
            let (had, has) = if self.terminal {
                ("had", "has not")
            } else {
                ("had no", "has")
            };
            return Err(other_container(
                dir,
                &self.id,
                &format!("it {had} a terminal and this bundle's process {has} (process.terminal)"),
            ));
        }
        Ok(())
    }
}

fn bad(dir: &Path, what: &str) -> Error {
    Error::Msg(format!("image directory {} {what}", dir.display()))
}

fn other_container(dir: &Path, id: &str, why: &str) -> Error {
    Error::Msg(format!(
        "image directory {} is the checkpoint of another kind of container (\"{id}\"): {why}",
        dir.display()
    ))
}
