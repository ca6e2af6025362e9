//! `linux.netDevices` as the config gives it: the devices, the name each has inside, and the
//! checks made at load (container/net_devices.rs moves them).

use std::collections::{BTreeMap, HashSet};

use oci_spec::runtime::{LinuxNamespaceType, LinuxNetDevice, Spec};

/// The devices of `spec`, by host name, in name order.
pub fn devices(spec: &Spec) -> BTreeMap<&String, &LinuxNetDevice> {
    let map = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref());
    map.into_iter().flatten().collect()
}

/// The name a device has inside the container.
pub fn inner_name<'a>(host: &'a str, dev: &'a LinuxNetDevice) -> &'a str {
    dev.name()
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(host)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name.contains(|c: char| c == '/' || c == ':' || c.is_whitespace())
}

/// Refuse netDevices without a network namespace of the container's own, and names the
/// kernel would refuse or that collide inside. The error is `(field, reason)`.
pub fn check(spec: &Spec) -> std::result::Result<(), (String, String)> {
    let devices = devices(spec);
    if devices.is_empty() {
        return Ok(());
    }
    let netns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::Network);
    if netns.is_none() {
        return Err((
            "linux.netDevices".into(),
            "needs a network namespace of the container's own".into(),
        ));
    }
    let mut inside = HashSet::new();
    for (host, dev) in devices {
        let name = inner_name(host, dev);
        for (field, n) in [
            (host.to_string(), host.as_str()),
            (format!("{host}.name"), name),
        ] {
            if !valid_name(n) {
                return Err((
                    format!("linux.netDevices.{field}"),
                    format!("{n:?} is not a valid interface name"),
                ));
            }
        }
        if !inside.insert(name) {
            return Err((
                format!("linux.netDevices.{host}.name"),
                format!("{name:?} is given to two devices"),
            ));
        }
    }
    Ok(())
}
