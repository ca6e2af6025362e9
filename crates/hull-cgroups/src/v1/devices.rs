//! v1 `devices` controller: the allow/deny list, written rule by rule in spec order.
//!
//! The runtime is expected to pass the complete list (a leading "deny all", then the
//! devices the container may use), as runc builds it; what is written is only the change
//! from the cgroup's present list (`device_transition.rs`).

use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::device_transition::DeviceState;
use crate::error::{CgroupError, Result};
use crate::fs;

/// One rule ready for the kernel: the file (`devices.allow`/`devices.deny`) and the line.
pub(crate) type Rule = (&'static str, String);

/// Translates the spec list into kernel rules, checking every entry first. Guarantees no
/// rule with an unknown type, negative-other-than-wildcard numbers or bad access letters.
pub(crate) fn rules(list: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    list.iter().enumerate().map(|(i, d)| rule(i, d)).collect()
}

/// `"<type> <major>:<minor> <access>"`; missing numbers (or -1) are `*`, missing access is
/// `rwm` (letters other than r, w, m are ignored, as by runc), type `u` (unbuffered char)
/// is `c`.
fn rule(i: usize, d: &LinuxDeviceCgroup) -> Result<Rule> {
    let field = |name: &str| format!("linux.resources.devices[{i}].{name}");
    let typ = match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => "a",
        LinuxDeviceType::B => "b",
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => {
            return Err(CgroupError::invalid(
                &field("type"),
                "fifo devices are not subject to the device cgroup",
            ));
        }
    };
    let major = number(d.major(), &field("major"))?;
    let minor = number(d.minor(), &field("minor"))?;
    let access = crate::device_access::read(d.access().as_deref(), &field("access"))?;
    let file = if d.allow() {
        "devices.allow"
    } else {
        "devices.deny"
    };
    Ok((file, format!("{typ} {major}:{minor} {access}")))
}

fn number(n: Option<i64>, field: &str) -> Result<String> {
    match n {
        None | Some(-1) => Ok("*".into()),
        Some(v) if v >= 0 => Ok(v.to_string()),
        Some(v) => Err(CgroupError::invalid(
            field,
            format!("{v} is not a device number"),
        )),
    }
}

/// Brings `dir` to what `rules` allow, writing only what differs from its `devices.list`
/// (see [`DeviceState::transition`]): a cgroup whose processes already run (a shared cgroup)
/// never loses a device both lists allow, even for a moment.
pub(crate) fn set(dir: &Path, rules: &[Rule]) -> Result<()> {
    let current = DeviceState::from_list(&fs::read(dir, "devices.list")?);
    current
        .transition(&DeviceState::after(rules))
        .iter()
        .try_for_each(|(file, line)| fs::write(dir, file, line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    fn dev(
        allow: bool,
        typ: LinuxDeviceType,
        major: i64,
        minor: i64,
        access: &str,
    ) -> LinuxDeviceCgroup {
        LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(typ)
            .major(major)
            .minor(minor)
            .access(access)
            .build()
            .unwrap()
    }

    #[test]
    fn formats_rules() {
        let deny_all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        let list = [
            deny_all,
            dev(true, LinuxDeviceType::C, 1, 3, "rwm"),
            dev(true, LinuxDeviceType::U, 5, -1, ""),
        ];
        let r = rules(&list).unwrap();
        assert_eq!(r[0], ("devices.deny", "a *:* rwm".to_string()));
        assert_eq!(r[1], ("devices.allow", "c 1:3 rwm".to_string()));
        assert_eq!(r[2], ("devices.allow", "c 5:* rwm".to_string()));
    }

    #[test]
    fn rejects_bad_rules_with_the_field() {
        let err = rules(&[dev(true, LinuxDeviceType::C, 1, 3, "x")]).unwrap_err();
        assert!(err.to_string().contains("devices[0].access"), "{err}");
        assert!(rules(&[dev(true, LinuxDeviceType::P, 1, 3, "r")]).is_err());
        assert!(rules(&[dev(true, LinuxDeviceType::C, -4, 3, "r")]).is_err());
    }
}
