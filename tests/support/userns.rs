//! Helpers for user-namespace tests: id mappings as config JSON, handing a rootfs to the mapped
//! root, and the unprivileged user the rootless tests run as.

use std::path::Path;

use serde_json::{json, Value};

use crate::Bundle;

/// Host id of container root in the user-namespace tests (`0 → 100000`, 65536 ids).
pub const BASE: u32 = 100_000;

/// `[(containerID, hostID, size)]` as a `uidMappings`/`gidMappings` JSON list.
pub fn mapping(maps: &[(u32, u32, u32)]) -> Value {
    maps.iter()
        .map(|(c, h, s)| json!({"containerID": c, "hostID": h, "size": s}))
        .collect()
}

/// `chown -hR uid:gid path` (symlinks themselves, never their targets).
pub fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("lchown {}: {e}", path.display()));
    if path.is_symlink() || !path.is_dir() {
        return;
    }
    for e in std::fs::read_dir(path).unwrap().flatten() {
        chown_tree(&e.path(), uid, gid);
    }
}

/// Adds a new user namespace with these maps (for uids and gids alike), and gives the rootfs
/// to the host id of container root: the mapped root may not write to files whose owner is
/// unmapped.
pub fn with_userns(b: &mut Bundle, maps: &[(u32, u32, u32)]) {
    b.add_namespace("user", None);
    b.config["linux"]["uidMappings"] = mapping(maps);
    b.config["linux"]["gidMappings"] = mapping(maps);
    let root_host = maps
        .iter()
        .find(|(c, _, s)| *c == 0 && *s > 0)
        .map(|(_, h, _)| *h)
        .expect("container root mapped");
    chown_tree(&b.rootfs(), root_host, root_host);
}

/// The `(containerID, hostID, size)` lines of a `uid_map`/`gid_map` text (other lines skipped).
pub fn map_lines(text: &str) -> Vec<Vec<u64>> {
    text.lines()
        .filter_map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .map(|f| f.parse().ok())
                .collect::<Option<_>>()?;
            (v.len() == 3).then_some(v)
        })
        .collect()
}
