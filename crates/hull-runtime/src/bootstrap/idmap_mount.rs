//! Id-mapped bind mounts (`mounts[].uidMappings`/`gidMappings`, options `idmap` and `ridmap`).
//!
//! The parent does the privileged half, as crun and runc do, when init reaches the mount (see
//! `bootstrap::mount_sources`): in init's mount namespace, so that the copy is of the tree as the
//! mounts before it made it, it clones the source into a detached mount
//! (`open_tree(OPEN_TREE_CLONE)`) and sets `MOUNT_ATTR_IDMAP` on it (`mount_setattr`) with a user
//! namespace whose maps are the mount's mappings written as they are (`containerID hostID
//! size`), made once per mapping ([`MappingNamespaces`]). Init attaches the detached mount onto
//! its target inside the rootfs with `move_mount` ([`attach`]).
//!
//! Direction: a file whose on-disk owner is `k` shows through the mount as the id that
//! `containerID k` maps to, i.e. `hostID + (k - containerID)`; the container's own user
//! namespace then shows that host id as usual. So a mount carrying the container's own mapping
//! (`0 → 100000`) shows a host file owned by root as root inside, and a file that container
//! root creates through it lands on disk owned by host root.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{pipe, read, write, ForkResult};
use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};

use super::idmap;
use crate::error::{Context, Error, Result};

const OPEN_TREE_CLONE: libc::c_uint = 0x01;
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `struct mount_attr` of `<linux/mount.h>` (version 0, 32 bytes).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// The id mapping of one mount: what the mount asks for, or the container's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Maps {
    uid: Vec<LinuxIdMapping>,
    gid: Vec<LinuxIdMapping>,
    /// `ridmap`: apply to every mount under the source too (`AT_RECURSIVE`).
    recursive: bool,
}

/// A uid mapping and a gid mapping.
type IdPair = (Vec<LinuxIdMapping>, Vec<LinuxIdMapping>);

fn has_option(m: &Mount, names: &[&str]) -> bool {
    m.options()
        .iter()
        .flatten()
        .any(|o| names.contains(&o.as_str()))
}

/// The `idmap`/`ridmap` option of a mount: `(recursive, value after '=' if any)`.
fn idmap_option(m: &Mount) -> Option<(bool, Option<&str>)> {
    m.options().iter().flatten().find_map(|o| {
        let (name, value) = match o.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (o.as_str(), None),
        };
        match name {
            "idmap" => Some((false, value)),
            "ridmap" => Some((true, value)),
            _ => None,
        }
    })
}

/// Parse crun's option value `uids=C-H-S[#C-H-S…];gids=C-H-S[#…]` (either part may be absent).
fn parse_option_value(value: &str) -> std::result::Result<IdPair, String> {
    let (mut uid, mut gid) = (Vec::new(), Vec::new());
    for part in value.split(';').filter(|p| !p.is_empty()) {
        let (which, ranges) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not uids=… or gids=…"))?;
        let list = match which {
            "uids" => &mut uid,
            "gids" => &mut gid,
            _ => return Err(format!("{which:?} is not uids or gids")),
        };
        for range in ranges.split('#') {
            let nums: Vec<u32> = range
                .split('-')
                .map(str::parse)
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| format!("{range:?} is not containerID-hostID-size"))?;
            let [container, host, size] = nums[..] else {
                return Err(format!("{range:?} is not containerID-hostID-size"));
            };
            list.push(mapping(container, host, size));
        }
    }
    Ok((uid, gid))
}

fn mapping(container: u32, host: u32, size: u32) -> LinuxIdMapping {
    oci_spec::runtime::LinuxIdMappingBuilder::default()
        .container_id(container)
        .host_id(host)
        .size(size)
        .build()
        .expect("every field is set")
}

/// oci-spec's `Mount` has no `uidMappings`/`gidMappings`: before the config is parsed, fold
/// them into the mount's `idmap`/`ridmap` option in crun's syntax (`idmap=uids=…;gids=…`),
/// adding `idmap` when the mount has neither. Malformed entries are refused, naming them.
pub fn fold_mount_mappings(
    config: &mut serde_json::Value,
) -> std::result::Result<(), (String, String)> {
    let Some(mounts) = config.get_mut("mounts").and_then(|m| m.as_array_mut()) else {
        return Ok(());
    };
    for (i, m) in mounts.iter_mut().enumerate() {
        let Some(obj) = m.as_object_mut() else {
            continue;
        };
        let mut value = Vec::new();
        for (key, word) in [("uidMappings", "uids"), ("gidMappings", "gids")] {
            let Some(list) = obj.get(key).filter(|v| !v.is_null()) else {
                continue;
            };
            let field = format!("mounts[{i}].{key}");
            let ranges = list
                .as_array()
                .ok_or_else(|| (field.clone(), "must be a list".to_string()))?;
            let mut texts = Vec::new();
            for (j, r) in ranges.iter().enumerate() {
                let num = |k: &str| {
                    r.get(k)
                        .and_then(|v| v.as_u64())
                        .filter(|n| *n <= u32::MAX as u64)
                };
                match (num("containerID"), num("hostID"), num("size")) {
                    (Some(c), Some(h), Some(s)) => texts.push(format!("{c}-{h}-{s}")),
                    _ => {
                        return Err((
                            format!("{field}[{j}]"),
                            "needs containerID, hostID and size (32-bit numbers)".into(),
                        ))
                    }
                }
            }
            if !texts.is_empty() {
                value.push(format!("{word}={}", texts.join("#")));
            }
        }
        if value.is_empty() {
            continue;
        }
        let value = value.join(";");
        let options = obj
            .entry("options")
            .or_insert_with(|| serde_json::json!([]));
        let Some(options) = options.as_array_mut() else {
            continue;
        };
        let mut folded = false;
        for o in options.iter_mut() {
            if let Some(name @ ("idmap" | "ridmap")) = o.as_str() {
                *o = serde_json::Value::String(format!("{name}={value}"));
                folded = true;
            }
        }
        if !folded {
            options.push(serde_json::Value::String(format!("idmap={value}")));
        }
    }
    Ok(())
}

/// The mapping `m` asks for, `None` when it is not id-mapped. A mount with mappings of its own
/// uses them; `idmap`/`ridmap` without mappings use the container's `linux` mappings.
fn wanted(spec: &Spec, m: &Mount) -> std::result::Result<Option<Maps>, String> {
    let Some((recursive, value)) = idmap_option(m) else {
        return Ok(None);
    };
    let (own_uid, own_gid) = parse_option_value(value.unwrap_or(""))?;
    if !has_option(m, &["bind", "rbind"]) {
        return Err("id-mapped mounts are supported for bind mounts only".into());
    }
    let (container_uid, container_gid) = idmap::container_maps(spec);
    let pick = |own: Vec<LinuxIdMapping>, container: Vec<LinuxIdMapping>| {
        if own.is_empty() {
            container
        } else {
            own
        }
    };
    let maps = Maps {
        uid: pick(own_uid, container_uid),
        gid: pick(own_gid, container_gid),
        recursive,
    };
    if maps.uid.is_empty() || maps.gid.is_empty() {
        return Err(
            "an id-mapped mount needs uidMappings and gidMappings (its own, or the \
                    container's linux.uidMappings/gidMappings)"
                .into(),
        );
    }
    Ok(Some(maps))
}

/// Check every mount's id mapping (before anything is made). Errors are `(field, reason)`.
pub fn validate(spec: &Spec) -> std::result::Result<(), idmap::MappingError> {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let Some(maps) = wanted(spec, m).map_err(|reason| (format!("mounts[{i}]"), reason))? else {
            continue;
        };
        idmap::check_ranges(&format!("mounts[{i}].uidMappings"), &maps.uid)?;
        idmap::check_ranges(&format!("mounts[{i}].gidMappings"), &maps.gid)?;
    }
    Ok(())
}

/// Whether mount `m` of `spec` is id-mapped (`idmap`/`ridmap`, or mappings of its own).
pub fn is_idmapped(m: &Mount) -> bool {
    idmap_option(m).is_some()
}

/// Refuse id-mapped mounts when hull is not root (before anything is made): only host root may
/// id-map a mount of the host's filesystems.
pub fn check_allowed(spec: &Spec) -> Result<()> {
    match spec.mounts().iter().flatten().position(is_idmapped) {
        Some(i) if !nix::unistd::geteuid().is_root() => Err(Error::Msg(format!(
            "mounts[{i}]: id-mapped mounts need hull to run as root"
        ))),
        _ => Ok(()),
    }
}

/// The user namespaces that carry the mounts' mappings, one per distinct mapping, made when
/// first needed and kept for the other mounts of the same container.
#[derive(Debug, Default)]
pub struct MappingNamespaces {
    made: Vec<(IdPair, File)>,
}

/// What the parent needs to make the id-mapped copy of one mount, found before it joins init's
/// mount namespace.
#[derive(Debug)]
pub struct Prepared<'a> {
    index: usize,
    userns: &'a File,
    recursive_tree: bool,
    recursive_map: bool,
}

impl MappingNamespaces {
    /// Get ready to id-map `mounts[index]` (`m`): make (or reuse) its mapping's namespace.
    pub fn prepare<'a>(&'a mut self, spec: &Spec, index: usize, m: &Mount) -> Result<Prepared<'a>> {
        let maps = wanted(spec, m)
            .map_err(|reason| Error::Msg(format!("mounts[{index}]: {reason}")))?
            .ok_or_else(|| Error::Msg(format!("mounts[{index}] is not id-mapped")))?;
        let key = (maps.uid.clone(), maps.gid.clone());
        let at = match self.made.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                let ns = mapping_namespace(&maps.uid, &maps.gid).map_err(|e| {
                    Error::Msg(format!(
                        "mounts[{index}]: make the user namespace of the id mapping: {e}"
                    ))
                })?;
                self.made.push((key, ns));
                self.made.len() - 1
            }
        };
        Ok(Prepared {
            index,
            userns: &self.made[at].1,
            recursive_tree: has_option(m, &["rbind"]) || maps.recursive,
            recursive_map: maps.recursive,
        })
    }
}

impl Prepared<'_> {
    /// The detached, id-mapped copy of `source` (resolved in the caller's mount namespace).
    pub fn clone_mapped(&self, source: &Path) -> Result<OwnedFd> {
        let i = self.index;
        let tree = open_tree(source, self.recursive_tree)
            .ctx(|| format!("mounts[{i}]: open_tree {}", source.display()))?;
        set_idmap(&tree, self.userns, self.recursive_map).ctx(|| {
            format!(
                "mounts[{i}]: id-map {} (does its filesystem support id-mapped mounts?)",
                source.display()
            )
        })?;
        Ok(tree)
    }
}

/// `open_tree(source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE])`: a detached copy
/// of the mount at `source`.
fn open_tree(source: &Path, recursive: bool) -> nix::Result<OwnedFd> {
    let path = std::ffi::CString::new(source.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call; the syscall
    // takes no other pointers.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `mount_setattr(tree, "", AT_EMPTY_PATH [| AT_RECURSIVE], {MOUNT_ATTR_IDMAP, userns})`.
fn set_idmap(tree: &OwnedFd, userns: &File, recursive: bool) -> nix::Result<()> {
    mount_setattr(
        tree,
        MOUNT_ATTR_IDMAP,
        0,
        userns.as_raw_fd() as u64,
        recursive,
    )
}

/// `mount_setattr(mount, "", AT_EMPTY_PATH [| AT_RECURSIVE], {set, clear, 0, userns_fd})`: set
/// and clear `MOUNT_ATTR_*` bits of the mount whose root `mount` is (and of every mount under
/// it with `recursive`). Shared by id-mapped mounts and the recursive mount options.
pub(crate) fn mount_setattr(
    mount: &OwnedFd,
    set: u64,
    clear: u64,
    userns_fd: u64,
    recursive: bool,
) -> nix::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is a static empty C string and `attr` a live struct of the size
    // passed; both outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Attach the detached mount `tree` onto `target` (an `O_PATH` fd inside the rootfs).
pub fn attach(tree: &OwnedFd, target: &OwnedFd) -> nix::Result<()> {
    // SAFETY: both paths are static empty C strings; the fds are live for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// A user namespace with these maps, as an open `/proc/<pid>/ns/user`: a child unshares it
/// and waits, the parent writes its maps and opens it, then kills and reaps the child.
fn mapping_namespace(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<File> {
    let (ready_r, ready_w) = pipe().ctx(|| "pipe")?;
    // SAFETY: hull is single-threaded here, so the child has a consistent copy of memory; it
    // only unshares, writes one byte and waits to be killed.
    match unsafe { nix::unistd::fork() }.ctx(|| "fork")? {
        ForkResult::Child => {
            drop(ready_r);
            let ok = unshare(CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = write(&ready_w, if ok { b"1" } else { b"0" });
            loop {
                // SAFETY: pause has no preconditions; the parent kills us.
                unsafe { libc::pause() };
            }
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            let result = (|| {
                let mut byte = [0u8; 1];
                match read(ready_r.as_fd(), &mut byte) {
                    Ok(1) if byte[0] == b'1' => {}
                    _ => return Err(Error::Msg("unshare a user namespace failed".into())),
                }
                idmap::write_maps(child.as_raw(), uid, gid, false)?;
                File::open(format!("/proc/{child}/ns/user"))
                    .ctx(|| format!("open /proc/{child}/ns/user"))
            })();
            let _ = kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mut json: serde_json::Value) -> Spec {
        fold_mount_mappings(&mut json).unwrap();
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn crun_option_syntax_is_parsed() {
        let (u, g) = parse_option_value("uids=0-100-10#10-200-5;gids=0-300-1").unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(
            (u[1].container_id(), u[1].host_id(), u[1].size()),
            (10, 200, 5)
        );
        assert_eq!(g[0].host_id(), 300);
        assert!(parse_option_value("uids=0-1").is_err());
        assert!(parse_option_value("users=0-1-2").is_err());
    }

    #[test]
    fn malformed_mount_mappings_are_named() {
        let mut v = serde_json::json!({"mounts": [
            {"destination": "/a", "uidMappings": [{"containerID": 0, "hostID": -1, "size": 1}]}
        ]});
        assert_eq!(
            fold_mount_mappings(&mut v).unwrap_err().0,
            "mounts[0].uidMappings[0]"
        );
    }

    #[test]
    fn idmap_option_falls_back_to_the_container_mapping() {
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {"uidMappings": [{"containerID": 0, "hostID": 100000, "size": 10}],
                      "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 10}]},
            "mounts": [
                {"destination": "/a", "source": "/x", "options": ["bind", "idmap"]},
                {"destination": "/b", "source": "/x", "options": ["rbind", "ridmap"],
                 "uidMappings": [{"containerID": 0, "hostID": 5, "size": 1}]},
                {"destination": "/c", "source": "/x", "options": ["bind"]}
            ]
        }));
        let mounts = s.mounts().clone().unwrap();
        let a = wanted(&s, &mounts[0]).unwrap().unwrap();
        assert_eq!(a.uid[0].host_id(), 100000);
        assert_eq!(a.gid[0].host_id(), 200000);
        assert!(!a.recursive);
        let b = wanted(&s, &mounts[1]).unwrap().unwrap();
        assert_eq!(b.uid[0].host_id(), 5);
        assert_eq!(b.gid[0].host_id(), 200000);
        assert!(b.recursive);
        assert!(wanted(&s, &mounts[2]).unwrap().is_none());
        assert!(validate(&s).is_ok());
    }

    #[test]
    fn bad_idmapped_mounts_are_refused() {
        let no_maps = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": [{"destination": "/a", "source": "/x", "options": ["bind", "idmap"]}]
        }));
        assert!(validate(&no_maps).is_err());
        let not_bind = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": [{"destination": "/a", "type": "tmpfs", "source": "tmpfs",
                        "uidMappings": [{"containerID": 0, "hostID": 5, "size": 1}],
                        "gidMappings": [{"containerID": 0, "hostID": 5, "size": 1}]}]
        }));
        assert!(validate(&not_bind).unwrap_err().1.contains("bind"));
        let overlap = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": [{"destination": "/a", "source": "/x", "options": ["bind"],
                        "uidMappings": [{"containerID": 0, "hostID": 5, "size": 10},
                                        {"containerID": 5, "hostID": 100, "size": 10}],
                        "gidMappings": [{"containerID": 0, "hostID": 5, "size": 1}]}]
        }));
        assert_eq!(
            validate(&overlap).unwrap_err().0,
            "mounts[0].uidMappings[1]"
        );
    }
}
