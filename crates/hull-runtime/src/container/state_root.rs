//! Where container state lives when `--root` is not given, chosen as runc chooses its own:
//! `/run/hull` for root, `$XDG_RUNTIME_DIR/hull` for a rootless caller.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{access, AccessFlags};

use super::rootless;
use crate::error::{Context, Error, Result};

/// The state root of the real root user (and of anyone without `XDG_RUNTIME_DIR`).
pub const SYSTEM_ROOT: &str = "/run/hull";

/// The default state root. A rootless caller (euid ≠ 0, or euid 0 in a user namespace that is
/// not the initial one, unless `USER` is `root` there) with `XDG_RUNTIME_DIR` set gets
/// `$XDG_RUNTIME_DIR/hull`, made here mode 0700 with the sticky bit (which keeps XDG
/// clean-ups away from it); everyone else gets [`SYSTEM_ROOT`]. A rootless caller left with
/// a [`SYSTEM_ROOT`] it cannot write to gets an error naming both places.
pub fn default_root() -> Result<PathBuf> {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    let euid = nix::unistd::geteuid();
    let rootless = !euid.is_root() || !rootless::in_initial_user_namespace();
    if !rootless {
        return Ok(PathBuf::from(SYSTEM_ROOT));
    }
    let user_is_root = euid.is_root() && std::env::var("USER").is_ok_and(|u| u == "root");
    if let (Some(xdg), false) = (&xdg, user_is_root) {
        let root = Path::new(xdg).join("hull");
        make_xdg_root(&root)?;
        return Ok(root);
    }
    let system = Path::new(SYSTEM_ROOT);
    if !may_create(system) {
        let why = if xdg.is_none() {
            "XDG_RUNTIME_DIR is unset"
        } else {
            "USER is root"
        };
        return Err(Error::Msg(format!(
            "state root: {why} (so not $XDG_RUNTIME_DIR/hull) and {SYSTEM_ROOT} is not \
             writable by uid {euid}: set XDG_RUNTIME_DIR (e.g. /run/user/{euid}) or pass --root"
        )));
    }
    Ok(system.to_path_buf())
}

/// `mkdir -p` the XDG state root, then make it 0700 and sticky.
fn make_xdg_root(root: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .ctx(|| {
            format!(
                "create the state root {} (the path in $XDG_RUNTIME_DIR must be writable by \
                 uid {})",
                root.display(),
                nix::unistd::geteuid()
            )
        })?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o1700))
        .ctx(|| format!("chmod the state root {}", root.display()))
}

/// `dir` is a writable directory, or the nearest existing ancestor is one (so it can be made).
pub(crate) fn may_create(dir: &Path) -> bool {
    let mut p = Some(dir);
    while let Some(d) = p {
        if d.exists() {
            return d.is_dir() && access(d, AccessFlags::W_OK | AccessFlags::X_OK).is_ok();
        }
        p = d.parent();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::may_create;
    use std::path::Path;

    #[test]
    fn a_missing_dir_may_be_made_where_its_ancestor_is_writable() {
        let dir = std::env::temp_dir().join(format!("hull-state-root-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(may_create(&dir.join("a/b/c")));
        std::fs::write(dir.join("file"), "").unwrap();
        assert!(
            !may_create(&dir.join("file/sub")),
            "an ancestor that is a file"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!may_create(Path::new("")));
    }
}
