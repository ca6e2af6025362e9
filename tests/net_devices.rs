//! `linux.netDevices` (runtime-spec 1.3): a host interface (one end of a veth pair made by the
//! test; this kernel has no dummy driver) moved
//! into the container's network namespace, renamed when asked, with its address and up state,
//! and back on the host after delete; bad input refused with nothing left.

use hull_integration::{leaks::assert_nothing_left, Hull};
use serde_json::json;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A veth interface on the host (its peer stays there) with an address, deleted on drop.
struct Dummy(String);

impl Dummy {
    fn new() -> Dummy {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "hd{}x{}",
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::SeqCst)
        );
        ip(&[
            "link",
            "add",
            &name,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{name}p"),
        ]);
        ip(&["addr", "add", "169.254.169.13/32", "dev", &name]);
        ip(&["link", "set", "up", "dev", &name]);
        Dummy(name)
    }

    /// What `ip -o addr show dev <name>` says on the host ("" when it is not here).
    fn on_host(&self) -> String {
        let out = Command::new("ip")
            .args(["-o", "addr", "show", "dev", &self.0])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Dummy {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_device_moves_in_with_its_address_and_back_on_delete() {
    let h = Hull::new();
    for rename in [None, Some("ctr0")] {
        let dummy = Dummy::new();
        let inside = rename.unwrap_or(&dummy.0).to_string();
        let mut b = h.bundle();
        let dev = match rename {
            Some(n) => json!({"name": n}),
            None => json!({}),
        };
        b.config["linux"]["netDevices"] = json!({ dummy.0.clone(): dev });
        b.args(&["sleep", "1000"]);
        let id = h.new_id();
        h.create_start(&id, &b);
        let out = h
            .run(&["exec", &id, "ip", "-o", "addr", "show", "dev", &inside])
            .ok();
        assert!(
            out.stdout.contains("169.254.169.13/32"),
            "{rename:?}: {out}"
        );
        let out = h
            .run(&["exec", &id, "ip", "-o", "link", "show", "dev", &inside])
            .ok();
        assert!(out.stdout.contains(",UP"), "{rename:?}: {out}");
        assert_eq!(dummy.on_host(), "", "the device is still on the host");
        h.delete(&id, true).ok();
        assert!(
            dummy.on_host().contains("169.254.169.13/32"),
            "{rename:?}: back on the host with its address: {:?}",
            dummy.on_host()
        );
    }
}

#[test]
fn a_missing_device_or_no_network_namespace_is_refused() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["linux"]["netDevices"] = json!({"hullnosuch0": {}});
    b.sh_out("echo ran");
    let id = h.new_id();
    h.create(&id, &b)
        .assert_error(&["linux.netDevices.hullnosuch0", "no such network interface"]);
    assert_nothing_left(&h, &id, &b.dir);

    let dummy = Dummy::new();
    for (edit, needle) in [
        ("no netns", "needs a network namespace"),
        ("bad name", "not a valid interface name"),
    ] {
        let mut b = h.bundle();
        match edit {
            "no netns" => {
                b.config["linux"]["netDevices"] = json!({ dummy.0.clone(): {} });
                b.remove_namespace("network");
            }
            _ => b.config["linux"]["netDevices"] = json!({ dummy.0.clone(): {"name": "a/b"} }),
        }
        b.sh_out("echo ran");
        let id = h.new_id();
        h.create(&id, &b)
            .assert_error(&["linux.netDevices", needle]);
        assert_nothing_left(&h, &id, &b.dir);
    }
    assert!(
        dummy.on_host().contains("169.254.169.13/32"),
        "the device stayed on the host"
    );
}

#[test]
fn features_advertise_net_devices() {
    let h = Hull::new();
    let doc: serde_json::Value = serde_json::from_str(&h.run(&["features"]).ok().stdout).unwrap();
    assert_eq!(doc["linux"]["netDevices"]["enabled"], true, "{doc}");
}
