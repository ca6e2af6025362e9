//! Preparing the rootfs before pivot_root: propagation of `/`, the rootfs bound onto itself,
//! every mount of the spec, the device nodes and the `/dev` symlinks.

use std::path::Path;

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Spec;

use super::{devices, inroot, mounts, propagation};
use crate::error::{Context, Result};

/// Set up everything inside `rootfs` that must exist before it becomes `/`.
pub fn prepare(
    spec: &Spec,
    bundle: &Path,
    rootfs: &Path,
    new_cgroupns: bool,
    ask_parent: mounts::AskParent<'_>,
) -> Result<()> {
    propagation::before_bind(spec, rootfs)?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("bind the rootfs {} onto itself", rootfs.display()))?;
    let mut root = inroot::open_root(rootfs)?;
    let dev = mounts::mount_all(
        &mut root,
        rootfs,
        bundle,
        spec.mounts().as_deref().unwrap_or_default(),
        new_cgroupns,
        ask_parent,
    )?;
    let spec_devices = spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    let spec_nodes = spec_devices.into_iter().flatten().map(devices::from_spec);
    devices::create_all(
        &root,
        devices::default_nodes().into_iter().chain(spec_nodes),
    )?;
    devices::create_symlinks(&root)?;
    dev.finish(&root)
}
