//! Mount propagation: `linux.rootfsPropagation` in every mode, on a plain-directory rootfs and
//! on a rootfs that is a shared mount of its own, and Kubernetes' hostPath modes on bind
//! mounts: `Bidirectional` (`rshared`: mounts go both ways) and `HostToContainer` (`rslave`:
//! only host mounts come in).

use hull_integration::mountinfo::{host_has_mount, propagation_of, HostMount};
use hull_integration::{poll, Bundle, Hull};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const MODES: [&str; 8] = [
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
    "unbindable",
    "runbindable",
];

/// What the container's `/` must show in its mountinfo optional fields for `mode`.
fn check_root(mode: &str, fields: &str) -> bool {
    let shared = fields.contains("shared:");
    match mode {
        "shared" | "rshared" => shared,
        "unbindable" | "runbindable" => fields.contains("unbindable") && !shared,
        _ => !shared,
    }
}

fn run_root_modes(h: &Hull, make: impl Fn() -> Bundle) {
    for mode in MODES {
        let mut b = make();
        b.config["linux"]["rootfsPropagation"] = json!(mode);
        b.sh("cat /proc/self/mountinfo");
        let out = h.run_fg(&h.new_id(), &b, &[]);
        assert!(out.success(), "rootfsPropagation {mode:?}:\n{out}");
        let fields = propagation_of(&out.stdout, "/").unwrap_or_else(|| panic!("no /: {out}"));
        assert!(check_root(mode, &fields), "{mode}: / has {fields:?}\n{out}");
    }
}

/// runc's `rootfsPropagation` on a rootfs that is a plain directory (pivot_root used to fail
/// with EINVAL for the shared modes).
#[test]
fn root_propagation_on_a_plain_directory() {
    let h = Hull::new();
    run_root_modes(&h, || h.bundle());
}

/// The same with a rootfs that is a shared mount point on the host (an overlay as the engines
/// mount it, a CSI volume): every mode works, and by default (`rslave`) the container's `/`
/// receives the host's mounts.
#[test]
fn root_propagation_on_a_shared_mount_point() {
    let h = Hull::new();
    let mut bundles = Vec::new();
    let mut mounts = Vec::new();
    for _ in 0..=MODES.len() {
        let b = h.bundle();
        mounts.push(HostMount::shared_bind(&b.rootfs()));
        bundles.push(b);
    }
    let next = std::cell::RefCell::new(bundles.into_iter());
    run_root_modes(&h, || next.borrow_mut().next().unwrap());
    let mut b = next.borrow_mut().next().unwrap();
    b.sh("cat /proc/self/mountinfo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let fields = propagation_of(&out.stdout, "/").unwrap();
    assert!(
        fields.contains("master:") && !fields.contains("shared:"),
        "default: / is a slave of the host: {fields:?}\n{out}"
    );
}

/// A bundle whose program may mount (CAP_SYS_ADMIN), with `host` bound at `/shared` with
/// `propagation` and `rootfsPropagation` as the CRI plugin sets them for that mode.
fn hostpath_bundle(h: &Hull, host: &Path, propagation: &str, script: &str) -> Bundle {
    let mut b = h.bundle();
    let caps = json!(["CAP_SYS_ADMIN", "CAP_KILL", "CAP_AUDIT_WRITE"]);
    b.config["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    b.config["linux"]["rootfsPropagation"] = json!(propagation);
    b.add_mount(json!({
        "destination": "/shared", "type": "bind", "source": host,
        "options": ["rbind", propagation, "rw"]
    }))
    .sh_out(script);
    b
}

/// Waits (in the container) until `path` exists, for up to 20 s.
fn wait_for(path: &str) -> String {
    format!("i=0; while [ ! -e {path} ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done")
}

/// Kubernetes `Bidirectional`: a mount made in the container under the `rshared` bind appears
/// on the host, and one made on the host appears in the container.
#[test]
fn bidirectional_bind_mount() {
    let h = Hull::new();
    let host = h.temp_dir().join("kubelet");
    let _shared = HostMount::shared_bind(&host);
    let (inner, from_host) = (host.join("inner"), host.join("fromhost"));
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::create_dir_all(&from_host).unwrap();
    let script = format!(
        "mount -t tmpfs tmpfs /shared/inner && echo made > /shared/inner/inside; {}; \
         cat /shared/fromhost/hostfile; echo; grep ' /shared' /proc/self/mountinfo",
        wait_for("/shared/fromhost/hostfile")
    );
    let b = hostpath_bundle(&h, &host, "rshared", &script);
    let id = h.new_id();
    h.create_start(&id, &b);
    let _inner = HostMount(inner.clone());
    poll(
        Duration::from_secs(20),
        "the container's mount on the host",
        || inner.join("inside").exists().then_some(()),
    );
    assert!(
        host_has_mount(&inner),
        "no mount at {} on the host",
        inner.display()
    );
    let _from_host = HostMount::tmpfs(&from_host);
    std::fs::write(from_host.join("hostfile"), "from-the-host").unwrap();
    let out = b.wait_out();
    assert!(out.starts_with("from-the-host\n"), "{out}");
}

/// Kubernetes `HostToContainer`: host mounts under the `rslave` bind appear in the container;
/// the container's own mounts stay inside.
#[test]
fn host_to_container_bind_mount() {
    let h = Hull::new();
    let host = h.temp_dir().join("kubelet");
    let _shared = HostMount::shared_bind(&host);
    let (inner, from_host) = (host.join("inner"), host.join("fromhost"));
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::create_dir_all(&from_host).unwrap();
    let script = format!(
        "mount -t tmpfs tmpfs /shared/inner && echo made > /shared/inner/inside && echo mounted; \
         touch /shared/ready; {}; cat /shared/fromhost/hostfile; echo",
        wait_for("/shared/fromhost/hostfile")
    );
    let b = hostpath_bundle(&h, &host, "rslave", &script);
    let id = h.new_id();
    h.create_start(&id, &b);
    let _inner = HostMount(inner.clone());
    poll(Duration::from_secs(20), "the container to mount", || {
        host.join("ready").exists().then_some(())
    });
    assert!(
        !host_has_mount(&inner),
        "the container's mount reached the host"
    );
    assert!(!inner.join("inside").exists());
    let _from_host = HostMount::tmpfs(&from_host);
    std::fs::write(from_host.join("hostfile"), "from-the-host").unwrap();
    let out = b.wait_out();
    assert!(out.contains("mounted\nfrom-the-host\n"), "{out}");
}

/// What a mountinfo line's optional fields say of its propagation, in one word.
fn kind(fields: &str) -> &'static str {
    match (
        fields.contains("unbindable"),
        fields.contains("shared:"),
        fields.contains("master:"),
    ) {
        (true, _, _) => "unbindable",
        (_, true, _) => "shared",
        (_, _, true) => "slave",
        _ => "private",
    }
}

/// Every propagation option on a bind mount of a shared host directory with a submount: the
/// plain options change the top mount only, the `r` ones the submount too (what runc 1.1.5
/// shows on the same bundle). By default the source, in the container's namespace, is a slave
/// of the host's.
#[test]
fn propagation_options_of_a_bind_mount() {
    let h = Hull::new();
    let host = h.temp_dir().join("src");
    let _shared = HostMount::shared_bind(&host);
    let _sub = HostMount::tmpfs(&host.join("sub"));
    let want = [
        ("shared", "shared", "slave"),
        ("rshared", "shared", "shared"),
        ("slave", "slave", "slave"),
        ("rslave", "slave", "slave"),
        ("private", "private", "slave"),
        ("rprivate", "private", "private"),
        ("unbindable", "unbindable", "slave"),
        ("runbindable", "unbindable", "unbindable"),
    ];
    for (mode, top, sub) in want {
        let mut b = h.bundle();
        b.add_mount(
            json!({"destination": "/mnt/p", "type": "bind", "source": host,
                           "options": ["rbind", mode]}),
        )
        .sh("cat /proc/self/mountinfo");
        let out = h.run_fg(&h.new_id(), &b, &[]).ok();
        let got =
            |p: &str| kind(&propagation_of(&out.stdout, p).unwrap_or_else(|| panic!("{p}: {out}")));
        assert_eq!(
            (got("/mnt/p"), got("/mnt/p/sub")),
            (top, sub),
            "{mode}:\n{out}"
        );
    }
}
