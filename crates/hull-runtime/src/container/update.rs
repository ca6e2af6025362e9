//! `update`: change the resource limits of a live container, and keep the new values in its
//! state record so later reads (and later updates) see them.

use std::path::Path;

use oci_spec::runtime::{LinuxResources, Spec};
use serde_json::Value;

use super::state::{self, Container, Status};
use super::stored_spec::StoredSpec;
use crate::error::{Error, Result};

/// Applies `patch` (only its set, non-zero fields; device rules are not updatable) to the
/// cgroup of container `id`, then saves the merged resources in the state record.
pub fn update(root: &Path, id: &str, patch: &LinuxResources) -> Result<()> {
    let c = Container::load(root, id)?;
    let _lock = c.lock()?;
    let status = c.status();
    if status == Status::Stopped {
        return Err(c.bad_status(status, "cannot update a stopped container"));
    }
    let mut patch = patch.clone();
    patch.set_devices(None);
    unlimited_memory_lifts_swap(&mut patch);
    let mut spec = c.record.spec.full(id)?;
    let stored = stored_resources(&spec);
    let merged = merge(&stored, &patch)?;
    if patch.memory().is_some() {
        patch.set_memory(*merged.memory());
    }
    super::cgroup::of(&c.record)?.set(&patch)?;
    set_resources(&mut spec, merged);
    let mut record = c.record.clone();
    record.spec = StoredSpec::new(&spec)?;
    state::save(&c.dir, &record)
}

/// As runc: `--memory -1` without `--memory-swap` makes memory+swap unlimited too (a limited
/// swap below an unlimited memory limit is refused by the kernel).
fn unlimited_memory_lifts_swap(patch: &mut LinuxResources) {
    let Some(mut memory) = *patch.memory() else {
        return;
    };
    if memory.limit() == Some(-1) && memory.swap().is_none() {
        memory.set_swap(Some(-1));
        patch.set_memory(Some(memory));
    }
}

/// The spec's `linux.resources`, or empty ones.
fn stored_resources(spec: &Spec) -> LinuxResources {
    spec.linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default()
}

fn set_resources(spec: &mut Spec, res: LinuxResources) {
    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_resources(Some(res));
    spec.set_linux(Some(linux));
}

/// `base` with every set field of `patch` laid over it: objects merge key by key, lists and
/// numbers replace; nulls and zero numbers in `patch` count as unset.
pub fn merge(base: &LinuxResources, patch: &LinuxResources) -> Result<LinuxResources> {
    let enc = |e: serde_json::Error| Error::Msg(format!("merge resources: {e}"));
    let mut b = serde_json::to_value(base).map_err(enc)?;
    let p = serde_json::to_value(patch).map_err(enc)?;
    merge_value(&mut b, &p);
    serde_json::from_value(b).map_err(enc)
}

fn merge_value(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if is_unset(v) {
                    continue;
                }
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge_value(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) if !is_unset(p) => *b = p.clone(),
        _ => {}
    }
}

fn is_unset(v: &Value) -> bool {
    v.is_null() || v.as_f64() == Some(0.0)
}

/// A byte size as runc's flags take it (docker's `RAMInBytes`): a number with an optional
/// binary unit `b`, `k`, `m`, `g`, `t`, `p` (case-insensitive, an optional trailing `b` or
/// `ib`); `-1` means unlimited.
pub fn parse_bytes(text: &str) -> Result<i64> {
    let t = text.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let bad = || {
        Error::Msg(format!(
            "invalid size {text:?}: use e.g. 1024, 512k, 64m, 1.5g"
        ))
    };
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b').filter(|u| !u.is_empty()))
        .unwrap_or(&unit);
    let mult: f64 = match unit {
        "" | "b" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    let v = num * mult;
    if !v.is_finite() || v > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert_eq!(parse_bytes("1k").unwrap(), 1024);
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("64MB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("10b").unwrap(), 10);
        for bad in ["", "x", "1x", "-5", "1.2.3k"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn merge_overrides_only_set_fields() {
        let base: LinuxResources = serde_json::from_str(
            r#"{"memory": {"limit": 1000, "reservation": 500}, "pids": {"limit": 10},
                "cpu": {"shares": 512}}"#,
        )
        .unwrap();
        let patch: LinuxResources = serde_json::from_str(
            r#"{"memory": {"limit": 2000, "swap": 0}, "pids": {"limit": 20}}"#,
        )
        .unwrap();
        let m = merge(&base, &patch).unwrap();
        let mem = m.memory().as_ref().unwrap();
        assert_eq!(mem.limit(), Some(2000));
        assert_eq!(mem.reservation(), Some(500));
        assert_eq!(mem.swap(), None);
        assert_eq!(m.pids().as_ref().unwrap().limit(), 20);
        assert_eq!(m.cpu().as_ref().unwrap().shares(), Some(512));
    }
}
