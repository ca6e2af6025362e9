//! `linux.netDevices` (runtime-spec 1.3): host network interfaces moved into the container's
//! network namespace by `create` (renamed when `name` is given), keeping their addresses and
//! their up state, and moved back to the host under their own names by `delete`, as runc
//! does. Checked at load (`spec::net_devices`).

use std::collections::BTreeMap;
use std::fs::File;

use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::state::{self, Record};
use super::stored_spec::Network;
use crate::error::{Context, Error, Result};
use crate::netlink::Rtnl;
use crate::spec::net_devices::{devices, inner_name};

/// Move `from_name` (a link `from` sees) into the namespace `to_ns`, named `to_name`, with
/// its addresses (but the link-local ones the kernel makes itself) and its up state.
fn move_device(
    from: &mut Rtnl,
    to: &mut Rtnl,
    to_ns: &File,
    from_name: &str,
    to_name: &str,
) -> Result<()> {
    let index = from
        .link_index(from_name)?
        .ok_or_else(|| Error::Msg("no such network interface".into()))?;
    let addresses: Vec<AddressMessage> = from
        .addresses(index)?
        .into_iter()
        .filter(|a| a.header.scope != AddressScope::Link && a.header.scope != AddressScope::Host)
        .map(plain_address)
        .collect();
    let up = from.is_up(index)?;
    let why = |what: &'static str| move |e: Error| Error::Msg(format!("{what}: {e}"));
    from.move_link(index, to_ns, to_name)
        .map_err(why("move it"))?;
    let index = to
        .link_index(to_name)?
        .ok_or_else(|| Error::Msg(format!("{to_name} vanished after the move")))?;
    for a in &addresses {
        to.add_address(index, a)
            .map_err(why("restore its addresses"))?;
    }
    if up {
        to.set_up(index).map_err(why("set it up"))?;
    }
    Ok(())
}

/// An address without what belonged to its old link (label, lifetimes).
fn plain_address(mut a: AddressMessage) -> AddressMessage {
    a.attributes.retain(|attr| {
        matches!(
            attr,
            AddressAttribute::Address(_)
                | AddressAttribute::Local(_)
                | AddressAttribute::Broadcast(_)
        )
    });
    a
}

/// Move every device of `spec` into the network namespace of process `pid`. On a failure
/// the devices already moved are moved back before the error (naming the device) returns.
pub fn move_in(pid: i32, spec: &Spec) -> Result<()> {
    let devices = devices(spec);
    if devices.is_empty() {
        return Ok(());
    }
    let ns = File::open(format!("/proc/{pid}/ns/net"))
        .ctx(|| "open the container's network namespace")?;
    let home =
        File::open("/proc/thread-self/ns/net").ctx(|| "open the host's network namespace")?;
    let mut host = Rtnl::open()?;
    let mut inner = Rtnl::open_in(&ns)?;
    let mut moved = Vec::new();
    for (name, dev) in devices {
        let to = inner_name(name, dev);
        if let Err(e) = move_device(&mut host, &mut inner, &ns, name, to) {
            for (back, to) in moved.into_iter().rev() {
                let _ = move_device(&mut inner, &mut host, &home, to, back);
            }
            return Err(Error::Msg(format!("linux.netDevices.{name}: {e}")));
        }
        moved.push((name.as_str(), to));
    }
    Ok(())
}

/// Move the devices of a container back to the host under their own names, while its
/// network namespace still exists (its init alive, or a namespace joined by path). Failures
/// are warnings: delete goes on.
pub fn move_out(record: &Record, network: &Network) {
    let devices: BTreeMap<_, _> = network.devices.iter().collect();
    if devices.is_empty() {
        return;
    }
    let Some(ns) = container_netns(record, network) else {
        return;
    };
    let moved = (|| -> Result<()> {
        let home =
            File::open("/proc/thread-self/ns/net").ctx(|| "open the host's network namespace")?;
        let mut host = Rtnl::open()?;
        let mut inner = Rtnl::open_in(&ns)?;
        for (name, dev) in devices {
            let from = inner_name(name, dev);
            if inner.link_index(from)?.is_none() {
                continue;
            }
            if let Err(e) = move_device(&mut inner, &mut host, &home, from, name) {
                tracing::warn!("linux.netDevices.{name}: move back to the host: {e}");
            }
        }
        Ok(())
    })();
    if let Err(e) = moved {
        tracing::warn!("linux.netDevices: move back to the host: {e}");
    }
}

/// The container's network namespace: the one joined by path, or its live init's.
fn container_netns(record: &Record, network: &Network) -> Option<File> {
    let path = network
        .namespaces
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Network)
        .and_then(|n| n.path().clone());
    if let Some(path) = path {
        return File::open(path).ok();
    }
    let alive = state::proc_stat(record.pid).is_some_and(|(_, start)| start == record.pid_start);
    alive
        .then(|| File::open(format!("/proc/{}/ns/net", record.pid)).ok())
        .flatten()
}
