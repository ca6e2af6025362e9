//! `linux.memoryPolicy` (runtime-spec 1.3): the NUMA memory policy of the container's
//! processes, set with `set_mempolicy(2)` by init and by exec'd processes before execve (a
//! policy is inherited across fork and execve). Checked at load ([`check`]); what the kernel
//! still refuses (a node that does not exist) is an error naming the field.

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType, Spec};

use crate::error::{Error, Result};

const FIELD: &str = "linux.memoryPolicy";
/// The highest node number accepted in `nodes` (the kernel's MAX_NUMNODES is at most 1024).
const MAX_NODE: usize = 1023;

fn policy(spec: &Spec) -> Option<&LinuxMemoryPolicy> {
    spec.linux().as_ref()?.memory_policy().as_ref()
}

/// The kernel's `MPOL_*` mode number.
fn mode_number(mode: MemoryPolicyModeType) -> i32 {
    match mode {
        MemoryPolicyModeType::MpolDefault => 0,
        MemoryPolicyModeType::MpolPreferred => 1,
        MemoryPolicyModeType::MpolBind => 2,
        MemoryPolicyModeType::MpolInterleave => 3,
        MemoryPolicyModeType::MpolLocal => 4,
        MemoryPolicyModeType::MpolPreferredMany => 5,
        MemoryPolicyModeType::MpolWeightedInterleave => 6,
    }
}

/// The kernel's `MPOL_F_*` mode flag.
fn flag_number(flag: MemoryPolicyFlagType) -> i32 {
    match flag {
        MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
        MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
        MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
    }
}

/// Parse `"0-3,7"` into the node numbers it lists.
fn parse_nodes(text: &str) -> std::result::Result<Vec<usize>, String> {
    let mut nodes = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |s: &str| {
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= MAX_NODE)
                .ok_or_else(|| {
                    format!("invalid memory policy node {part:?}: not a node number (0-{MAX_NODE}) or range")
                })
        };
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if first > last {
            return Err(format!(
                "invalid memory policy node {part:?}: the range is reversed"
            ));
        }
        nodes.extend(first..=last);
    }
    Ok(nodes)
}

/// Refuse a policy the kernel would refuse for its form: nodes with MPOL_DEFAULT or
/// MPOL_LOCAL, no nodes with a mode that needs them, both STATIC and RELATIVE nodes, a
/// malformed node list. The error is `(field, reason)`.
pub fn check(spec: &Spec) -> std::result::Result<(), (String, String)> {
    let Some(p) = policy(spec) else {
        return Ok(());
    };
    let bad = |field: &str, reason: String| Err((format!("{FIELD}.{field}"), reason));
    let nodes = match parse_nodes(p.nodes().as_deref().unwrap_or("")) {
        Ok(nodes) => nodes,
        Err(reason) => return bad("nodes", reason),
    };
    let needs_nodes = !matches!(
        p.mode(),
        MemoryPolicyModeType::MpolDefault
            | MemoryPolicyModeType::MpolLocal
            | MemoryPolicyModeType::MpolPreferred
    );
    let takes_nodes = !matches!(
        p.mode(),
        MemoryPolicyModeType::MpolDefault | MemoryPolicyModeType::MpolLocal
    );
    if needs_nodes && nodes.is_empty() {
        return bad(
            "nodes",
            format!(
                "invalid memory policy: {} needs at least one node",
                p.mode()
            ),
        );
    }
    if !takes_nodes && !nodes.is_empty() {
        return bad(
            "nodes",
            format!(
                "invalid memory policy: {} mode requires 0 nodes but got {}",
                p.mode(),
                nodes.len()
            ),
        );
    }
    let flags = p.flags().as_deref().unwrap_or_default();
    if flags.contains(&MemoryPolicyFlagType::MpolFStaticNodes)
        && flags.contains(&MemoryPolicyFlagType::MpolFRelativeNodes)
    {
        return bad(
            "flags",
            "invalid memory policy flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude \
             each other"
                .into(),
        );
    }
    Ok(())
}

/// Before the config is parsed: a missing or unknown `mode` and unknown `flags` are refused
/// in runc's words ("invalid memory policy mode", "invalid memory policy flag"), naming the
/// field, instead of the parser's. The error is `(field, reason)`.
pub fn check_names(config: &serde_json::Value) -> std::result::Result<(), (String, String)> {
    let Some(p) = config.pointer("/linux/memoryPolicy") else {
        return Ok(());
    };
    let mode = p.get("mode");
    let known_mode =
        mode.is_some_and(|m| serde_json::from_value::<MemoryPolicyModeType>(m.clone()).is_ok());
    if !known_mode {
        let what = mode.map_or("missing".to_string(), |m| m.to_string());
        return Err((
            format!("{FIELD}.mode"),
            format!("invalid memory policy mode: {what}"),
        ));
    }
    let flags = p.get("flags").and_then(|f| f.as_array());
    for (i, flag) in flags.into_iter().flatten().enumerate() {
        if serde_json::from_value::<MemoryPolicyFlagType>(flag.clone()).is_err() {
            return Err((
                format!("{FIELD}.flags[{i}]"),
                format!("invalid memory policy flag {flag}"),
            ));
        }
    }
    Ok(())
}

/// Set the config's memory policy on this process, if it has one.
pub fn apply(spec: &Spec) -> Result<()> {
    let Some(p) = policy(spec) else {
        return Ok(());
    };
    let nodes = parse_nodes(p.nodes().as_deref().unwrap_or(""))
        .map_err(|reason| Error::Msg(format!("{FIELD}.nodes: {reason}")))?;
    let flags = p
        .flags()
        .iter()
        .flatten()
        .fold(0, |f, x| f | flag_number(*x));
    let mut mask = [0u64; MAX_NODE / 64 + 1];
    for n in &nodes {
        mask[n / 64] |= 1 << (n % 64);
    }
    let (ptr, maxnode) = match nodes.is_empty() {
        true => (std::ptr::null(), 0),
        false => (mask.as_ptr(), (mask.len() * 64 + 1) as libc::c_ulong),
    };
    // SAFETY: set_mempolicy reads `maxnode - 1` bits from `ptr`, which holds `mask.len() * 64`
    // bits and lives until the call returns (or is null with maxnode 0).
    let r = unsafe {
        libc::syscall(
            libc::SYS_set_mempolicy,
            mode_number(p.mode()) | flags,
            ptr,
            maxnode,
        )
    };
    nix::errno::Errno::result(r).map(drop).map_err(|e| {
        Error::Msg(format!(
            "{FIELD}: set_mempolicy({}, nodes {:?}): {e}",
            p.mode(),
            p.nodes().as_deref().unwrap_or("")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lists() {
        assert_eq!(parse_nodes("0-2,5").unwrap(), [0, 1, 2, 5]);
        assert_eq!(parse_nodes("").unwrap(), Vec::<usize>::new());
        assert!(parse_nodes("3-1").is_err());
        assert!(parse_nodes("x").is_err());
        assert!(parse_nodes("2000").is_err());
    }

    fn spec_with(policy: &str) -> Spec {
        serde_json::from_str(&format!(
            r#"{{"ociVersion":"1.3.0","root":{{"path":"r"}},"linux":{{"memoryPolicy":{policy}}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn forms_the_kernel_refuses_are_refused() {
        for (policy, field) in [
            (r#"{"mode":"MPOL_BIND"}"#, "linux.memoryPolicy.nodes"),
            (
                r#"{"mode":"MPOL_DEFAULT","nodes":"0"}"#,
                "linux.memoryPolicy.nodes",
            ),
            (
                r#"{"mode":"MPOL_BIND","nodes":"0","flags":["MPOL_F_STATIC_NODES","MPOL_F_RELATIVE_NODES"]}"#,
                "linux.memoryPolicy.flags",
            ),
        ] {
            assert_eq!(check(&spec_with(policy)).unwrap_err().0, field, "{policy}");
        }
        assert!(check(&spec_with(r#"{"mode":"MPOL_INTERLEAVE","nodes":"0"}"#)).is_ok());
        assert!(check(&spec_with(r#"{"mode":"MPOL_LOCAL"}"#)).is_ok());
    }
}
