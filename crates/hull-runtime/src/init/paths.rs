//! `linux.readonlyPaths` and `linux.maskedPaths`, applied after pivot_root, so the paths are
//! the container's own. A path that does not exist is skipped.

use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

use crate::error::{Context, Result};

/// Make each path a read-only bind mount of itself.
pub fn make_readonly(paths: &[String]) -> Result<()> {
    for p in paths {
        match mount(
            Some(p.as_str()),
            p.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Err(Errno::ENOENT) => continue,
            other => other.ctx(|| format!("bind {p} for readonlyPaths"))?,
        }
        super::remount::remount_bind(Path::new(p), MsFlags::MS_RDONLY | MsFlags::MS_REC)
            .ctx(|| format!("remount {p} read-only"))?;
    }
    Ok(())
}

/// Hide each path: a directory under an empty read-only tmpfs, anything else under `/dev/null`.
pub fn mask(paths: &[String]) -> Result<()> {
    for p in paths {
        let meta = match std::fs::symlink_metadata(p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).ctx(|| format!("stat masked path {p}")),
        };
        let done = if meta.is_dir() {
            mount(
                Some("tmpfs"),
                p.as_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
        } else {
            mount(
                Some("/dev/null"),
                p.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        done.ctx(|| format!("mask {p}"))?;
    }
    Ok(())
}
