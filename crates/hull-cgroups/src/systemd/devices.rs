//! OCI device cgroup rules as systemd's `DevicePolicy=` and `DeviceAllow=`, as runc does.
//!
//! systemd keeps only an allow-list, so the rules are first played in order (as the kernel's
//! v1 device cgroup would) to find what is allowed at the end:
//! - everything allowed (`a` allowed last, nothing denied after) → `DevicePolicy=auto`;
//! - an allow-list → `DevicePolicy=strict` with one `DeviceAllow=` entry a rule:
//!   `/dev/char/M:m` for a device, the /proc/devices group (`char-pts`) for `M:*`,
//!   `char-*`/`block-*` for `*:*`; `*:m` has no systemd form and is left to the files;
//! - a deny-list (allow all but some) has no systemd form either: systemd is told `auto`
//!   and the manager's cgroup files (v1 `devices.deny`, the v2 eBPF filter) enforce it.
//!
//! The rules are then also written to the files, so systemd's form only has to be no
//! stricter than theirs; it is what systemd re-applies on a daemon-reload.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::properties::{prop, Property, Value};

/// A device class a rule covers: `(type, major, minor)`, `None` a wildcard.
type Key = (char, Option<i64>, Option<i64>);

/// The properties for `rules` (in order); `group` resolves `(type, major)` to the
/// /proc/devices name systemd wants for a `major:*` rule.
pub(crate) fn properties(
    rules: &[LinuxDeviceCgroup],
    group: &dyn Fn(char, i64) -> Option<String>,
) -> Vec<Property> {
    let (default_allow, list) = play(rules);
    if default_allow {
        if !list.is_empty() {
            tracing::warn!(
                "systemd cannot express deny rules after allow-all; the device cgroup files enforce them"
            );
        }
        return vec![
            prop("DevicePolicy", Value::Str("auto".into())),
            prop("DeviceAllow", Value::Devices(Vec::new())),
        ];
    }
    let mut allow = Vec::new();
    for ((typ, major, minor), access) in list {
        let class = if typ == 'b' { "block" } else { "char" };
        let path = match (major, minor) {
            (None, None) => format!("{class}-*"),
            (Some(ma), None) => {
                match group(typ, ma) {
                    Some(g) => format!("{class}-{g}"),
                    None => {
                        tracing::warn!("no /proc/devices group for {typ} {ma}:*; left to the device cgroup files");
                        continue;
                    }
                }
            }
            (Some(ma), Some(mi)) => format!("/dev/{class}/{ma}:{mi}"),
            (None, Some(mi)) => {
                tracing::warn!(
                    "systemd has no form for {typ} *:{mi}; left to the device cgroup files"
                );
                continue;
            }
        };
        allow.push((path, access));
    }
    vec![
        prop("DevicePolicy", Value::Str("strict".into())),
        prop("DeviceAllow", Value::Devices(allow)),
    ]
}

/// Plays the rules: whether everything is allowed by default at the end, and the
/// exceptions (allowed classes with their access when not; denied ones when it is).
fn play(rules: &[LinuxDeviceCgroup]) -> (bool, Vec<(Key, String)>) {
    let mut default_allow = false;
    let mut list: Vec<(Key, String)> = Vec::new();
    for r in rules {
        let access = normalize(r.access().as_deref().unwrap_or(""));
        let typ = match r.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => {
                default_allow = r.allow();
                list.clear();
                continue;
            }
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::P => continue,
        };
        let wild = |n: Option<i64>| n.filter(|v| *v >= 0);
        let key = (typ, wild(r.major()), wild(r.minor()));
        if r.allow() == default_allow {
            // Takes access away from the exceptions of the same class.
            for (k, acc) in list.iter_mut() {
                if *k == key {
                    acc.retain(|c| !access.contains(c));
                }
            }
            list.retain(|(_, acc)| !acc.is_empty());
        } else if let Some((_, acc)) = list.iter_mut().find(|(k, _)| *k == key) {
            *acc = normalize(&format!("{acc}{access}"));
        } else {
            list.push((key, access));
        }
    }
    (default_allow, list)
}

/// Access letters in `rwm` order, without repeats; empty means all.
fn normalize(access: &str) -> String {
    if access.is_empty() {
        return "rwm".into();
    }
    "rwm".chars().filter(|c| access.contains(*c)).collect()
}

/// The /proc/devices name of `(type, major)` (`c 136` → `pts`), read now.
pub(crate) fn proc_devices_group(typ: char, major: i64) -> Option<String> {
    let text = std::fs::read_to_string("/proc/devices").ok()?;
    group_in(&text, typ, major)
}

/// [`proc_devices_group`] on given /proc/devices text.
fn group_in(text: &str, typ: char, major: i64) -> Option<String> {
    let section = if typ == 'b' {
        "Block devices:"
    } else {
        "Character devices:"
    };
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.ends_with(':') {
            inside = line == section;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some((num, name)) = line.split_once(char::is_whitespace) {
            if num.parse::<i64>().ok() == Some(major) {
                return Some(name.trim().to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(json: &str) -> Vec<Property> {
        let rules: Vec<LinuxDeviceCgroup> = serde_json::from_str(json).unwrap();
        let group = |t: char, m: i64| (t == 'c' && m == 136).then(|| "pts".to_string());
        properties(&rules, &group)
    }

    fn devices(v: &[(&str, &str)]) -> Value {
        Value::Devices(
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn an_allow_list_is_strict() {
        let ps = props(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 136, "access": "rw"},
                {"allow": true, "type": "b", "access": "m"},
                {"allow": true, "type": "c", "minor": 4, "access": "r"},
                {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "wr"},
                {"allow": false, "type": "c", "major": 5, "minor": 0, "access": "w"}]"#,
        );
        assert_eq!(ps[0].value, Value::Str("strict".into()));
        assert_eq!(
            ps[1].value,
            devices(&[
                ("/dev/char/1:3", "rwm"),
                ("char-pts", "rw"),
                ("block-*", "m"),
                ("/dev/char/5:0", "r")
            ])
        );
    }

    #[test]
    fn allow_all_and_deny_lists_are_auto() {
        let all = props(r#"[{"allow": false}, {"allow": true, "access": "rwm"}]"#);
        assert_eq!(all[0].value, Value::Str("auto".into()));
        assert_eq!(all[1].value, devices(&[]));
        let deny =
            props(r#"[{"allow": true}, {"allow": false, "type": "c", "major": 1, "minor": 3}]"#);
        assert_eq!(deny[0].value, Value::Str("auto".into()));
        let none = props(r#"[{"allow": false, "access": "rwm"}]"#);
        assert_eq!(none[0].value, Value::Str("strict".into()));
        assert_eq!(none[1].value, devices(&[]));
    }

    #[test]
    fn unknown_groups_are_left_out() {
        let ps = props(r#"[{"allow": true, "type": "c", "major": 250, "access": "r"}]"#);
        assert_eq!(ps[1].value, devices(&[]));
    }

    #[test]
    fn proc_devices_groups() {
        let text = "Character devices:\n  1 mem\n136 pts\n\nBlock devices:\n  8 sd\n";
        assert_eq!(group_in(text, 'c', 136).as_deref(), Some("pts"));
        assert_eq!(group_in(text, 'b', 8).as_deref(), Some("sd"));
        assert_eq!(group_in(text, 'b', 1), None);
    }
}
