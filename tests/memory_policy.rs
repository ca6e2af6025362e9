//! `linux.memoryPolicy` (runtime-spec 1.3): the policy the container's processes (init's
//! program and exec'd ones) run under, as the kernel reports it in `/proc/self/numa_maps`
//! (which shows the task's policy for mappings without one of their own). This VM has one
//! NUMA node, 0.

use hull_integration::{leaks::assert_nothing_left, Hull};
use serde_json::json;

const SHOW: &str = "head -1 /proc/self/numa_maps | cut -d' ' -f2";

#[test]
fn the_policy_is_set_for_init_and_exec() {
    let h = Hull::new();
    for (policy, shown) in [
        (json!({"mode": "MPOL_BIND", "nodes": "0"}), "bind:0"),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
            "interleave:0",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            "bind=static:0",
        ),
        (json!({"mode": "MPOL_PREFERRED", "nodes": "0"}), "prefer:0"),
        (json!({"mode": "MPOL_LOCAL"}), "local"),
    ] {
        let mut b = h.bundle();
        b.config["linux"]["memoryPolicy"] = policy.clone();
        b.sh(&format!("{SHOW}; sleep 1000"));
        let id = h.new_id();
        h.create_start(&id, &b);
        let out = h.run(&["exec", &id, "sh", "-c", SHOW]).ok();
        assert_eq!(out.stdout.trim(), shown, "exec under {policy}: {out}");
        h.delete(&id, true).ok();
    }
    let mut b = h.bundle();
    b.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"});
    b.sh(SHOW);
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(out.stdout.trim(), "bind:0", "init's program: {out}");
}

#[test]
fn a_policy_the_kernel_refuses_is_an_error_naming_the_field() {
    let h = Hull::new();
    for (policy, needle) in [
        (json!({"mode": "MPOL_BIND"}), "linux.memoryPolicy.nodes"),
        (
            json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0-x"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
            "linux.memoryPolicy.flags",
        ),
        // node 7 does not exist here: the kernel says EINVAL
        (
            json!({"mode": "MPOL_BIND", "nodes": "7"}),
            "linux.memoryPolicy",
        ),
        (json!({"mode": "MPOL_NOSUCH", "nodes": "0"}), "memoryPolicy"),
    ] {
        let mut b = h.bundle();
        b.config["linux"]["memoryPolicy"] = policy.clone();
        b.sh_out("echo ran");
        let id = h.new_id();
        h.create(&id, &b).assert_error(&[needle]);
        assert!(!b.host_path("/out").exists(), "{policy}: the program ran");
        assert_nothing_left(&h, &id, &b.dir);
    }
}

/// Bad policies in runc's words (its memorypolicy tests match on them), case by case.
#[test]
fn bad_policies_in_runc_words() {
    let h = Hull::new();
    for (policy, words) in [
        (json!({}), "invalid memory policy mode"),
        (json!({"nodes": "0-7"}), "invalid memory policy mode"),
        (
            json!({"mode": "INTERLEAVE", "nodes": "0"}),
            "invalid memory policy",
        ),
        (
            json!({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES", "badflag"]}),
            "invalid memory policy flag",
        ),
        (
            json!({"mode": "MPOL_DEFAULT", "nodes": "0-7"}),
            "mode requires 0 nodes but got 8",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0-9876543210", "flags": []}),
            "invalid memory policy node",
        ),
    ] {
        let mut b = h.bundle();
        b.config["linux"]["memoryPolicy"] = policy.clone();
        b.args(&["true"]);
        let id = h.new_id();
        let out = h.create(&id, &b);
        out.assert_error(&[]);
        assert!(out.stderr.contains(words), "{policy}:\n{out}");
        assert_nothing_left(&h, &id, &b.dir);
    }
}

#[test]
fn features_advertise_the_modes_and_flags() {
    let h = Hull::new();
    let doc: serde_json::Value = serde_json::from_str(&h.run(&["features"]).ok().stdout).unwrap();
    let modes = &doc["linux"]["memoryPolicy"]["modes"];
    assert!(
        modes.as_array().unwrap().contains(&json!("MPOL_BIND")),
        "{doc}"
    );
    let flags = &doc["linux"]["memoryPolicy"]["flags"];
    assert!(
        flags
            .as_array()
            .unwrap()
            .contains(&json!("MPOL_F_STATIC_NODES")),
        "{doc}"
    );
}
