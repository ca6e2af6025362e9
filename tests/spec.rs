//! `hull spec` writes runc's default config.json.

use hull_integration::{cgroup_v2_only, fresh_dir, Hull};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// runc's default spec: from the installed `runc spec` when there is one, else the copy of
/// runc 1.1.5's in `tests/fixtures/` (written on a cgroup v1 host: on a v2-only host runc
/// adds a cgroup namespace, last).
fn runc_spec(rootless: bool) -> Value {
    let dir = fresh_dir("runc-spec");
    let mut cmd = Command::new("runc");
    cmd.arg("spec").arg("--bundle").arg(&dir);
    if rootless {
        cmd.arg("--rootless");
    }
    let live = cmd
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|_| std::fs::read_to_string(dir.join("config.json")).ok());
    let _ = std::fs::remove_dir_all(&dir);
    let text = live.unwrap_or_else(|| {
        let name = if rootless {
            "runc-1.1.5-spec-rootless.json"
        } else {
            "runc-1.1.5-spec.json"
        };
        let fixture = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures")
                .join(name),
        )
        .unwrap();
        let mut v: Value = serde_json::from_str(&fixture).unwrap();
        if cgroup_v2_only() {
            let nss = v["linux"]["namespaces"].as_array_mut().unwrap();
            nss.push(serde_json::json!({"type": "cgroup"}));
        }
        serde_json::to_string(&v).unwrap()
    });
    serde_json::from_str(&text).unwrap()
}

fn hull_spec(h: &Hull, extra: &[&str]) -> Value {
    let dir = h.temp_dir();
    let mut args = vec!["spec", "--bundle", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    h.run(&args).ok();
    let text = std::fs::read_to_string(dir.join("config.json")).expect("spec wrote config.json");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("config.json does not parse: {e}\n{text}"))
}

fn types(v: &Value) -> Vec<String> {
    let mut t: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .map(|n| n["type"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    t.sort();
    t
}

fn destinations(v: &Value) -> Vec<String> {
    v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["destination"].as_str().unwrap().to_string())
        .collect()
}

fn compare(ours: &Value, runc: &Value) {
    assert_eq!(
        types(&ours["linux"]["namespaces"]),
        types(&runc["linux"]["namespaces"]),
        "namespaces"
    );
    assert_eq!(
        destinations(ours),
        destinations(runc),
        "mount destinations (in order)"
    );
    for (o, r) in ours["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(runc["mounts"].as_array().unwrap())
    {
        assert_eq!(o["type"], r["type"], "type of mount {}", r["destination"]);
        assert_eq!(
            o["source"], r["source"],
            "source of mount {}",
            r["destination"]
        );
        let set = |v: &Value| {
            let mut s: Vec<String> = v
                .as_array()
                .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            s.sort();
            s
        };
        assert_eq!(
            set(&o["options"]),
            set(&r["options"]),
            "options of mount {}",
            r["destination"]
        );
    }
    for set in [
        "bounding",
        "effective",
        "permitted",
        "ambient",
        "inheritable",
    ] {
        assert_eq!(
            ours["process"]["capabilities"][set], runc["process"]["capabilities"][set],
            "capabilities.{set}"
        );
    }
    assert_eq!(
        ours["linux"]["maskedPaths"], runc["linux"]["maskedPaths"],
        "maskedPaths"
    );
    assert_eq!(
        ours["linux"]["readonlyPaths"], runc["linux"]["readonlyPaths"],
        "readonlyPaths"
    );
    for key in [
        "terminal",
        "args",
        "env",
        "cwd",
        "user",
        "rlimits",
        "noNewPrivileges",
    ] {
        assert_eq!(ours["process"][key], runc["process"][key], "process.{key}");
    }
    assert_eq!(ours["root"], runc["root"], "root");
    assert_eq!(ours["hostname"], runc["hostname"], "hostname");
    assert_eq!(
        ours["linux"]["resources"], runc["linux"]["resources"],
        "linux.resources"
    );
    assert_eq!(
        ours["linux"]["uidMappings"], runc["linux"]["uidMappings"],
        "uidMappings"
    );
    assert_eq!(
        ours["linux"]["gidMappings"], runc["linux"]["gidMappings"],
        "gidMappings"
    );
    assert!(
        ours["ociVersion"]
            .as_str()
            .map(|v| v.starts_with("1."))
            .unwrap_or(false),
        "ociVersion {}",
        ours["ociVersion"]
    );
}

#[test]
fn spec_matches_runc() {
    let h = Hull::new();
    let ours = hull_spec(&h, &[]);
    compare(&ours, &runc_spec(false));
    assert_eq!(ours["process"]["terminal"], true);
    assert_eq!(ours["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(ours["hostname"], "runc");
}

#[test]
fn rootless_spec_matches_runc() {
    let h = Hull::new();
    let ours = hull_spec(&h, &["--rootless"]);
    compare(&ours, &runc_spec(true));
    assert!(types(&ours["linux"]["namespaces"]).contains(&"user".to_string()));
}

#[test]
fn spec_without_bundle_writes_to_the_cwd() {
    let h = Hull::new();
    let dir = h.temp_dir();
    let out = h.command(&["spec"]).current_dir(&dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(v["root"]["path"], "rootfs");
}

#[test]
fn spec_refuses_to_overwrite() {
    let h = Hull::new();
    let dir = h.temp_dir();
    std::fs::write(dir.join("config.json"), "keep me").unwrap();
    let out = h.run(&["spec", "--bundle", dir.to_str().unwrap()]);
    out.assert_error(&["config.json|exists"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("config.json")).unwrap(),
        "keep me"
    );
}

/// On a cgroup v2 host `hull spec` (and `--rootless`) adds a cgroup namespace, as `runc spec`
/// does, so a default container sees its own cgroup as `/`; on a v1 or hybrid host it does not.
#[test]
fn spec_has_a_cgroup_namespace_on_a_cgroup_v2_host_only() {
    let h = Hull::new();
    for extra in [&[][..], &["--rootless"][..]] {
        let nss = types(&hull_spec(&h, extra)["linux"]["namespaces"]);
        assert_eq!(
            nss.contains(&"cgroup".to_string()),
            cgroup_v2_only(),
            "hull spec {extra:?} namespaces: {nss:?}"
        );
    }
}
