//! Device nodes in the container's `/dev`: the default set every container gets, the
//! `linux.devices` of the spec, and the standard symlinks.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{makedev, mknodat, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::inroot::{self, Create};
use crate::error::{Context, Result};

/// A device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Absolute path in the container, e.g. `/dev/null`.
    pub path: String,
    /// `S_IFCHR`, `S_IFBLK` or `S_IFIFO`.
    pub kind: SFlag,
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// The devices every container gets (the runtime-spec's default devices).
pub fn default_nodes() -> Vec<Node> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| Node {
        path: format!("/dev/{name}"),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// A spec device as a node to create.
pub fn from_spec(d: &LinuxDevice) -> Node {
    let kind = match d.typ() {
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    Node {
        path: d.path().to_string_lossy().into_owned(),
        kind,
        major: d.major() as u64,
        minor: d.minor() as u64,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    }
}

/// Create each of `nodes` inside the rootfs (replacing nothing: an existing path is left as
/// it is). A directory shared by nodes one after another (`/dev`) is resolved once for them.
pub fn create_all(root: &OwnedFd, nodes: impl IntoIterator<Item = Node>) -> Result<()> {
    let mut dir: Option<(std::path::PathBuf, OwnedFd)> = None;
    for node in nodes {
        let path = Path::new(&node.path);
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(crate::Error::Msg(format!(
                "linux.devices: invalid path {:?}",
                node.path
            )));
        };
        let fd = match dir.take() {
            Some((at, fd)) if at == parent => fd,
            _ => inroot::open(root, parent, Create::Dir)?,
        };
        create_in(root, &fd, name, &node)?;
        dir = Some((parent.to_path_buf(), fd));
    }
    Ok(())
}

/// Create `node`, named `name` in the directory `dir` (inside `root`).
fn create_in(root: &OwnedFd, dir: &OwnedFd, name: &std::ffi::OsStr, node: &Node) -> Result<()> {
    let mode = Mode::from_bits_truncate(node.mode);
    match mknodat(
        dir.as_fd(),
        name,
        node.kind,
        mode,
        makedev(node.major, node.minor),
    ) {
        Err(Errno::EEXIST) => return Ok(()),
        // In a user namespace mknod is refused: bind the host's node instead, as runc does.
        Err(Errno::EPERM) => return bind_host_node(root, node),
        other => other.ctx(|| format!("mknod {}", node.path))?,
    }
    let owner = (Some(Uid::from_raw(node.uid)), Some(Gid::from_raw(node.gid)));
    fchownat(
        dir.as_fd(),
        name,
        owner.0,
        owner.1,
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .ctx(|| format!("chown {}", node.path))
}

fn bind_host_node(root: &OwnedFd, node: &Node) -> Result<()> {
    let host = Path::new(&node.path);
    let opts = super::mount_options::parse(&["bind"]);
    super::mounts::bind(root, host, host, &opts)
}

/// The standard `/dev` symlinks: fd, stdin, stdout, stderr, and ptmx into the devpts mount.
pub fn create_symlinks(root: &OwnedFd) -> Result<()> {
    let dev = inroot::open(root, Path::new("/dev"), Create::Dir)?;
    let links = [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ];
    for (target, name) in links {
        if name == "ptmx" {
            // A ptmx node may already be there (e.g. /dev bound from the host): replace it.
            let _ =
                nix::unistd::unlinkat(dev.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
        match symlinkat(target, dev.as_fd(), name) {
            Err(Errno::EEXIST) => {}
            other => other.ctx(|| format!("symlink /dev/{name}"))?,
        }
    }
    Ok(())
}
