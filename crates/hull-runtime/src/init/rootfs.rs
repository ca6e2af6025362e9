//! Preparing the rootfs before pivot_root: propagation of `/`, the rootfs bound onto itself,
//! every mount of the spec, the device nodes and the `/dev` symlinks.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::Spec;

use super::{devices, mount_options, mounts};
use crate::bootstrap::idmap_mount::IdmappedMounts;
use crate::error::{Context, Error, Result};

/// Set up everything inside `rootfs` that must exist before it becomes `/`.
pub fn prepare(
    spec: &Spec,
    bundle: &Path,
    rootfs: &Path,
    new_cgroupns: bool,
    idmapped: &IdmappedMounts,
) -> Result<()> {
    set_root_propagation(spec)?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("bind the rootfs {} onto itself", rootfs.display()))?;
    let root: OwnedFd = open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open the rootfs {}", rootfs.display()))?;
    mounts::mount_all(
        &root,
        bundle,
        spec.mounts().as_deref().unwrap_or_default(),
        new_cgroupns,
        idmapped,
    )?;
    for node in devices::default_nodes() {
        devices::create(&root, &node)?;
    }
    let spec_devices = spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    for d in spec_devices.into_iter().flatten() {
        devices::create(&root, &devices::from_spec(d))?;
    }
    devices::create_symlinks(&root)
}

/// Make `/` (recursively) slave by default, or what `linux.rootfsPropagation` asks, so that
/// nothing the container mounts reaches the host.
fn set_root_propagation(spec: &Spec) -> Result<()> {
    let wanted = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone());
    let flags = match wanted.as_deref() {
        None | Some("") => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        Some(p) => mount_options::propagation(p)
            .ok_or_else(|| Error::Msg(format!("linux.rootfsPropagation: unknown value {p:?}")))?,
    };
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .ctx(|| format!("set propagation {flags:?} on /"))
}
