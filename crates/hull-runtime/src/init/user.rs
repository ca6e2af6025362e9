//! Becoming `process.user`: supplementary groups, gid, uid and umask.

use nix::sys::stat::{umask, Mode};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::User;

use crate::error::{Context, Result};

/// Switch to the user's groups and ids (groups first, uid last, as only root may change them).
pub fn become_user(user: &User) -> Result<()> {
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // In a user namespace whose setgroups is denied (rootless), the groups cannot change:
    // keep them when none are asked for, as runc does.
    let denied = crate::kernel_text::read("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny");
    if !denied {
        setgroups(&groups).ctx(|| format!("setgroups {groups:?}"))?;
    } else if !groups.is_empty() {
        return Err(crate::Error::Msg(format!(
            "process.user.additionalGids {groups:?}: setgroups is denied in this user namespace \
             (rootless with a single-id mapping)"
        )));
    }
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).ctx(|| format!("setgid {gid}"))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).ctx(|| format!("setuid {uid}"))?;
    umask(Mode::from_bits_truncate(user.umask().unwrap_or(0o022)));
    Ok(())
}

/// In a new user namespace whose maps the parent has just written: become its root (uid and
/// gid 0), so that every later step acts as the mapped root. Capabilities in the namespace
/// are kept: the old ids were not root there.
pub fn become_namespace_root() -> Result<()> {
    // Dropping supplementary groups is refused when setgroups is denied; that is fine.
    let _ = setgroups(&[]);
    let root_gid = Gid::from_raw(0);
    setresgid(root_gid, root_gid, root_gid)
        .ctx(|| "setgid 0 in the user namespace (is container gid 0 mapped?)")?;
    let root_uid = Uid::from_raw(0);
    setresuid(root_uid, root_uid, root_uid)
        .ctx(|| "setuid 0 in the user namespace (is container uid 0 mapped?)")
}

/// `HOME` for the user from the container's `/etc/passwd`, or `/` (as runc does).
pub fn home_of(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse() == Ok(uid))
        .map(|f| f[5].to_string())
        .unwrap_or_else(|| "/".into())
}
