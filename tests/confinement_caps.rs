//! `process.capabilities`: the five sets the container sees in /proc/self/status.

use hull_integration::Hull;
use serde_json::json;

const DEFAULT: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// The bit number of the capabilities these tests use.
fn cap_bit(name: &str) -> u32 {
    match name {
        "CAP_CHOWN" => 0,
        "CAP_KILL" => 5,
        "CAP_SETUID" => 7,
        "CAP_NET_BIND_SERVICE" => 10,
        "CAP_NET_RAW" => 13,
        "CAP_SYS_ADMIN" => 21,
        "CAP_SYS_RESOURCE" => 24,
        "CAP_AUDIT_WRITE" => 29,
        other => panic!("add {other} to cap_bit"),
    }
}

fn mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |m, n| m | 1u64 << cap_bit(n))
}

/// The `CapXxx:` value from /proc/self/status output.
fn status_mask(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in:\n{status}"));
    let hex = line.split_whitespace().nth(1).unwrap();
    u64::from_str_radix(hex, 16).unwrap()
}

fn assert_sets(status: &str, want: &[(&str, u64)]) {
    for (field, m) in want {
        assert_eq!(
            status_mask(status, field),
            *m,
            "{field}: got {:#x}, want {m:#x}\n{status}",
            status_mask(status, field)
        );
    }
}

#[test]
fn default_config_gives_the_default_sets() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh("grep Cap /proc/self/status");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let d = mask(&DEFAULT);
    // Ambient caps need inheritable ones too: the default config has none, so none.
    assert_sets(
        &out.stdout,
        &[
            ("CapBnd", d),
            ("CapEff", d),
            ("CapPrm", d),
            ("CapInh", 0),
            ("CapAmb", 0),
        ],
    );
}

#[test]
fn all_five_sets_as_root() {
    let h = Hull::new();
    let mut b = h.bundle();
    let bnd = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID"];
    b.config["process"]["capabilities"] = json!({
        "bounding": bnd, "effective": bnd, "permitted": bnd,
        "inheritable": ["CAP_KILL", "CAP_NET_RAW"], "ambient": ["CAP_NET_RAW"]
    });
    b.sh("grep Cap /proc/self/status");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_sets(
        &out.stdout,
        &[
            ("CapBnd", mask(&bnd)),
            ("CapEff", mask(&bnd)),
            ("CapPrm", mask(&bnd)),
            ("CapInh", mask(&["CAP_KILL", "CAP_NET_RAW"])),
            ("CapAmb", mask(&["CAP_NET_RAW"])),
        ],
    );
}

#[test]
fn ambient_caps_survive_the_switch_to_uid_1000() {
    let h = Hull::new();
    let mut b = h.bundle();
    let set = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
        "effective": set, "permitted": set, "inheritable": set, "ambient": set
    });
    b.user(1000, 1000, &[])
        .sh("id -u; grep Cap /proc/self/status");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.starts_with("1000\n"), "{out}");
    let m = mask(&set);
    assert_sets(
        &out.stdout,
        &[
            (
                "CapBnd",
                mask(&["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"]),
            ),
            ("CapEff", m),
            ("CapPrm", m),
            ("CapInh", m),
            ("CapAmb", m),
        ],
    );
}

#[test]
fn uid_1000_without_ambient_has_no_effective_caps() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]["capabilities"] = json!({
        "bounding": DEFAULT, "effective": DEFAULT, "permitted": DEFAULT
    });
    b.user(1000, 1000, &[]).sh("grep Cap /proc/self/status");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_sets(
        &out.stdout,
        &[("CapBnd", mask(&DEFAULT)), ("CapEff", 0), ("CapPrm", 0)],
    );
}

#[test]
fn no_capabilities_object_drops_everything() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]
        .as_object_mut()
        .unwrap()
        .remove("capabilities");
    b.sh("grep Cap /proc/self/status");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_sets(&out.stdout, &[("CapBnd", 0), ("CapEff", 0), ("CapPrm", 0)]);
}

#[test]
fn unknown_capability_is_skipped_with_a_warning() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["process"]["capabilities"]["bounding"] =
        json!(["CAP_KILL", "CAP_NO_SUCH_THING", "CAP_ALSO_NOT"]);
    b.config["process"]["capabilities"]["effective"] = json!(["CAP_KILL"]);
    b.config["process"]["capabilities"]["permitted"] = json!(["CAP_KILL"]);
    b.sh("grep Cap /proc/self/status");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    // runc's exact words, which tools match on
    assert!(
        out.stderr.contains(
            "ignoring unknown or unavailable capabilities: [CAP_ALSO_NOT CAP_NO_SUCH_THING]"
        ),
        "{out}"
    );
    assert_sets(&out.stdout, &[("CapBnd", mask(&["CAP_KILL"]))]);
}

/// This host's runtime lacks CAP_SYS_RESOURCE in its bounding set (checked first): asking
/// for it costs a warning, not the container.
#[test]
fn cap_the_runtime_lacks_is_skipped_with_a_warning() {
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    if status_mask(&own, "CapPrm") & mask(&["CAP_SYS_RESOURCE"]) != 0 {
        eprintln!("skipped: this runtime holds CAP_SYS_RESOURCE");
        return;
    }
    let h = Hull::new();
    let mut b = h.bundle();
    let set = ["CAP_KILL", "CAP_SYS_RESOURCE"];
    b.config["process"]["capabilities"] =
        json!({"bounding": set, "effective": set, "permitted": set});
    b.sh("grep Cap /proc/self/status");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(
        out.stderr
            .contains("ignoring unknown or unavailable capabilities: [CAP_SYS_RESOURCE]"),
        "{out}"
    );
    assert_sets(
        &out.stdout,
        &[
            ("CapEff", mask(&["CAP_KILL"])),
            ("CapPrm", mask(&["CAP_KILL"])),
        ],
    );
}
