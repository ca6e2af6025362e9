//! The process `exec` runs: a `process.json` as given, or the container's own process with
//! the command line's changes (args, env, cwd, user, groups, capabilities...), as runc builds it.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;
use serde_json::{json, Value};

use super::state::Container;
use crate::error::{Context, Error, Result};

/// Changes `exec`'s flags make to the container's process.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// The command and its arguments (required without `--process`).
    pub args: Vec<String>,
    /// `KEY=VALUE` entries added to (or replacing in) the environment.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// `uid[:gid]`.
    pub user: Option<String>,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// Capabilities added to the bounding, effective and permitted sets.
    pub caps: Vec<String>,
    /// Allocate a terminal.
    pub tty: bool,
    /// Set no_new_privileges.
    pub no_new_privs: bool,
    /// AppArmor profile.
    pub apparmor: Option<String>,
    /// SELinux process label.
    pub process_label: Option<String>,
}

/// Read a `process.json` file and check it as `create` checks the container's process. As
/// runc, a missing `user` is uid 0, gid 0, and the names runc tolerates are tolerated.
pub fn from_file(path: &Path) -> Result<Process> {
    let text = std::fs::read(path).ctx(|| format!("read {}", path.display()))?;
    let invalid =
        |e: serde_json::Error| Error::Msg(format!("{}: invalid process: {e}", path.display()));
    let raw: Value = serde_json::from_slice(&text).map_err(invalid)?;
    let mut config = json!({ "process": raw });
    crate::security::tolerate(&mut config);
    let mut raw = config["process"].take();
    if let Some(obj) = raw.as_object_mut() {
        obj.entry("user")
            .or_insert_with(|| json!({"uid": 0, "gid": 0}));
    }
    let process: Process = serde_json::from_value(raw).map_err(invalid)?;
    crate::spec::validate_process(&process)?;
    Ok(process)
}

/// The container's process with `o` applied, checked as `create` checks the container's
/// process (so an out-of-range `--user` or `--additional-gids` is refused).
pub fn with_overrides(c: &Container, o: &Overrides) -> Result<Process> {
    if o.args.is_empty() {
        return Err(Error::Msg(
            "exec: no command given (args, or --process FILE)".into(),
        ));
    }
    let base = c
        .record
        .spec
        .process(&c.record.id)?
        .ok_or_else(|| Error::Msg("container has no process".into()))?;
    let mut p =
        serde_json::to_value(&base).map_err(|e| Error::Msg(format!("encode process: {e}")))?;
    p["args"] = json!(o.args);
    p["terminal"] = json!(o.tty);
    p["env"] = json!(merge_env(p["env"].as_array(), &o.env));
    if let Some(cwd) = &o.cwd {
        p["cwd"] = json!(cwd);
    }
    if let Some(user) = &o.user {
        let (uid, gid) = parse_user(user)?;
        p["user"]["uid"] = json!(uid);
        p["user"]["gid"] = json!(gid.unwrap_or(0));
    }
    if !o.additional_gids.is_empty() {
        p["user"]["additionalGids"] = json!(o.additional_gids);
    }
    add_caps(&mut p, &o.caps);
    if o.no_new_privs {
        p["noNewPrivileges"] = json!(true);
    }
    if let Some(profile) = &o.apparmor {
        p["apparmorProfile"] = json!(profile);
    }
    if let Some(label) = &o.process_label {
        p["selinuxLabel"] = json!(label);
    }
    // An unknown or unavailable `--cap` is left out with runc's warning, as in a config.
    let mut config = json!({ "process": p });
    crate::security::tolerate(&mut config);
    let process: Process = serde_json::from_value(config["process"].take())
        .map_err(|e| Error::Msg(format!("exec: invalid process: {e}")))?;
    crate::spec::validate_process(&process)?;
    Ok(process)
}

fn merge_env(base: Option<&Vec<Value>>, extra: &[String]) -> Vec<String> {
    let mut env: Vec<String> = base
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    for kv in extra {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    env
}

/// Parse `uid[:gid]` (numbers, as runc's `--user`).
pub fn parse_user(user: &str) -> Result<(u32, Option<u32>)> {
    let bad = || Error::Msg(format!("--user {user:?}: expected uid[:gid] as numbers"));
    let (uid, gid) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let uid = uid.parse().map_err(|_| bad())?;
    let gid = gid.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

fn add_caps(p: &mut Value, caps: &[String]) {
    if caps.is_empty() {
        return;
    }
    // As runc: bounding, effective and permitted; never inheritable or ambient.
    for set in ["bounding", "effective", "permitted"] {
        let entry = &mut p["capabilities"][set];
        if !entry.is_array() {
            *entry = json!([]);
        }
        if let Some(list) = entry.as_array_mut() {
            for cap in caps {
                let name = cap.to_ascii_uppercase();
                let name = if name.starts_with("CAP_") {
                    name
                } else {
                    format!("CAP_{name}")
                };
                if !list.iter().any(|v| v == &json!(name)) {
                    list.push(json!(name));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_replace_by_key() {
        let base = vec![json!("PATH=/bin"), json!("A=1")];
        let env = merge_env(Some(&base), &["A=2".into(), "B=3".into()]);
        assert_eq!(env, ["PATH=/bin", "A=2", "B=3"]);
    }

    #[test]
    fn user_forms() {
        assert_eq!(parse_user("1000").unwrap(), (1000, None));
        assert_eq!(parse_user("1000:100").unwrap(), (1000, Some(100)));
        assert!(parse_user("bob").is_err());
    }
}
