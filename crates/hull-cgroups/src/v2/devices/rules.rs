//! The OCI device list checked and reduced to what a filter program needs: a default
//! action and a set of exceptions to it.
//!
//! The reduction follows the cgroup v1 devices controller (and so runc's device emulator),
//! so that a rule list means the same on v1 and v2:
//! - the state starts as "deny everything";
//! - a rule of type `a` (or no type) resets the state: "allow all" or "deny all", with no
//!   exceptions (its numbers and access are ignored, as in v1);
//! - any other rule whose action differs from the default adds (unions) its access to the
//!   exception for exactly that type/major/minor; one whose action is the default removes
//!   its access from that exception;
//! - removing access that a *wider* exception still grants (e.g. denying `c 1:3 r` while
//!   `c 1:* r` is allowed) is an error: v1 silently ignores it, which would leave the device
//!   open while the list suggests it is closed.
//!
//! Every exception therefore has the same action (the opposite of the default), so the
//! order in which a program tests them does not matter.

use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{CgroupError, Result};

/// `BPF_DEVCG_ACC_MKNOD`.
pub(crate) const ACC_MKNOD: u32 = 1;
/// `BPF_DEVCG_ACC_READ`.
pub(crate) const ACC_READ: u32 = 2;
/// `BPF_DEVCG_ACC_WRITE`.
pub(crate) const ACC_WRITE: u32 = 4;
/// Every access: `rwm`.
pub(crate) const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// The device types the filter tells apart; the values are the kernel's `BPF_DEVCG_DEV_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// `b`: `BPF_DEVCG_DEV_BLOCK`.
    Block = 1,
    /// `c` (and `u`): `BPF_DEVCG_DEV_CHAR`.
    Char = 2,
}

/// Which devices an exception covers; `None` numbers are wildcards (`*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Devices {
    pub(crate) kind: Kind,
    pub(crate) major: Option<u32>,
    pub(crate) minor: Option<u32>,
}

/// The reduced rule list: what happens to a device no exception covers, and the
/// exceptions (each with its `BPF_DEVCG_ACC_*` bits, never 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    /// Whether a device that no exception covers is allowed.
    pub(crate) default_allow: bool,
    /// Devices whose listed access gets the opposite of the default.
    pub(crate) exceptions: BTreeMap<Devices, u32>,
}

/// One checked OCI rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// `None` for type `a`.
    devices: Option<Devices>,
    access: u32,
}

impl Filter {
    /// Checks every entry of the OCI list and reduces it (see the module documentation).
    /// Errors name the offending entry, e.g. `linux.resources.devices[2].access`.
    pub(crate) fn from_spec(list: &[LinuxDeviceCgroup]) -> Result<Filter> {
        let mut f = Filter {
            default_allow: false,
            exceptions: BTreeMap::new(),
        };
        for (i, d) in list.iter().enumerate() {
            f.apply(i, rule(i, d)?)?;
        }
        Ok(f)
    }

    fn apply(&mut self, i: usize, r: Rule) -> Result<()> {
        let Some(devices) = r.devices else {
            self.default_allow = r.allow;
            self.exceptions.clear();
            return Ok(());
        };
        if r.allow != self.default_allow {
            *self.exceptions.entry(devices).or_insert(0) |= r.access;
            return Ok(());
        }
        for wider in [
            Devices {
                major: None,
                ..devices
            },
            Devices {
                minor: None,
                ..devices
            },
            Devices {
                major: None,
                minor: None,
                ..devices
            },
        ] {
            let granted = self.exceptions.get(&wider).copied().unwrap_or(0);
            if wider != devices && granted & r.access != 0 {
                return Err(CgroupError::invalid(
                    &format!("linux.resources.devices[{i}]"),
                    format!(
                        "\"{}\" cannot be taken out of the earlier, wider rule \"{}\" \
                         (the device cgroup cannot punch a hole in a wildcard rule)",
                        describe(r.allow, devices, r.access),
                        describe(!r.allow, wider, granted),
                    ),
                ));
            }
        }
        if let Some(acc) = self.exceptions.get_mut(&devices) {
            *acc &= !r.access;
            if *acc == 0 {
                self.exceptions.remove(&devices);
            }
        }
        Ok(())
    }
}

/// `"allow c 1:* rw"` for messages.
fn describe(allow: bool, d: Devices, access: u32) -> String {
    let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
    let kind = match d.kind {
        Kind::Block => 'b',
        Kind::Char => 'c',
    };
    let mut acc = String::new();
    for (bit, c) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
        if access & bit != 0 {
            acc.push(c);
        }
    }
    let action = if allow { "allow" } else { "deny" };
    format!("{action} {kind} {}:{} {acc}", num(d.major), num(d.minor))
}

/// Checks one OCI entry: missing type is `a`, `u` is `c`, `p` is refused (fifos are not
/// subject to the device cgroup); missing numbers or -1 are wildcards; missing or empty
/// access is `rwm`.
fn rule(i: usize, d: &LinuxDeviceCgroup) -> Result<Rule> {
    let field = |name: &str| format!("linux.resources.devices[{i}].{name}");
    let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => None,
        LinuxDeviceType::B => Some(Kind::Block),
        LinuxDeviceType::C | LinuxDeviceType::U => Some(Kind::Char),
        LinuxDeviceType::P => {
            return Err(CgroupError::invalid(
                &field("type"),
                "fifo devices are not subject to the device cgroup",
            ))
        }
    };
    let major = number(d.major(), &field("major"))?;
    let minor = number(d.minor(), &field("minor"))?;
    let access = access(d.access().as_deref().unwrap_or(""), &field("access"))?;
    Ok(Rule {
        allow: d.allow(),
        devices: kind.map(|kind| Devices { kind, major, minor }),
        access,
    })
}

fn number(n: Option<i64>, field: &str) -> Result<Option<u32>> {
    match n {
        None | Some(-1) => Ok(None),
        Some(v) => u32::try_from(v).map(Some).map_err(|_| {
            CgroupError::invalid(
                field,
                format!("{v} is neither -1 (any) nor a device number"),
            )
        }),
    }
}

/// The access bits, read as runc reads the letters (see `device_access`).
fn access(text: &str, field: &str) -> Result<u32> {
    let letters = crate::device_access::read(Some(text), field)?;
    Ok(letters.chars().fold(0, |acc, c| match c {
        'r' => acc | ACC_READ,
        'w' => acc | ACC_WRITE,
        _ => acc | ACC_MKNOD,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    /// A rule; `typ` is one of "a", "b", "c", "u", "p"; numbers -1 are wildcards.
    pub(crate) fn dev(
        allow: bool,
        typ: &str,
        major: i64,
        minor: i64,
        acc: &str,
    ) -> LinuxDeviceCgroup {
        let typ = match typ {
            "a" => LinuxDeviceType::A,
            "b" => LinuxDeviceType::B,
            "c" => LinuxDeviceType::C,
            "u" => LinuxDeviceType::U,
            _ => LinuxDeviceType::P,
        };
        LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(typ)
            .major(major)
            .minor(minor)
            .access(acc)
            .build()
            .unwrap()
    }

    fn exc(kind: Kind, major: Option<u32>, minor: Option<u32>, acc: u32) -> (Devices, u32) {
        (Devices { kind, major, minor }, acc)
    }

    #[test]
    fn empty_list_denies_everything() {
        let f = Filter::from_spec(&[]).unwrap();
        assert!(!f.default_allow);
        assert!(f.exceptions.is_empty());
    }

    #[test]
    fn type_a_resets_and_later_rules_are_exceptions() {
        let f = Filter::from_spec(&[
            dev(true, "c", 1, 3, "rwm"),
            dev(false, "a", -1, -1, "rwm"),
            dev(true, "c", 1, 5, "r"),
            dev(true, "u", 1, 5, "w"),
            dev(true, "b", 8, -1, "m"),
        ])
        .unwrap();
        assert!(!f.default_allow);
        let want: BTreeMap<_, _> = [
            exc(Kind::Block, Some(8), None, ACC_MKNOD),
            exc(Kind::Char, Some(1), Some(5), ACC_READ | ACC_WRITE),
        ]
        .into();
        assert_eq!(f.exceptions, want);

        let f =
            Filter::from_spec(&[dev(true, "c", 1, 3, "rwm"), dev(true, "a", 5, 5, "r")]).unwrap();
        assert!(f.default_allow && f.exceptions.is_empty());
    }

    #[test]
    fn default_action_rules_remove_access() {
        let f = Filter::from_spec(&[
            dev(false, "a", -1, -1, "rwm"),
            dev(true, "c", 1, 3, "rwm"),
            dev(false, "c", 1, 3, "w"),
            dev(true, "c", 1, 7, "r"),
            dev(false, "c", 1, 7, "rwm"),
        ])
        .unwrap();
        let want: BTreeMap<_, _> = [exc(Kind::Char, Some(1), Some(3), ACC_READ | ACC_MKNOD)].into();
        assert_eq!(f.exceptions, want);

        // In allow-all mode, a deny is the exception and an allow removes it.
        let f = Filter::from_spec(&[
            dev(true, "a", -1, -1, "rwm"),
            dev(false, "b", 8, 0, "rw"),
            dev(true, "b", 8, 0, "r"),
        ])
        .unwrap();
        assert!(f.default_allow);
        let want: BTreeMap<_, _> = [exc(Kind::Block, Some(8), Some(0), ACC_WRITE)].into();
        assert_eq!(f.exceptions, want);
    }

    #[test]
    fn punching_a_hole_in_a_wildcard_is_an_error() {
        let err = Filter::from_spec(&[
            dev(false, "a", -1, -1, "rwm"),
            dev(true, "c", 1, -1, "rw"),
            dev(false, "c", 1, 3, "w"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("linux.resources.devices[2]"), "{err}");
        assert!(err.contains("allow c 1:* rw"), "{err}");
        // Disjoint access is fine.
        Filter::from_spec(&[
            dev(false, "a", -1, -1, "rwm"),
            dev(true, "c", 1, -1, "r"),
            dev(false, "c", 1, 3, "w"),
        ])
        .unwrap();
    }

    #[test]
    fn bad_entries_are_named() {
        let err = |l: &[LinuxDeviceCgroup]| Filter::from_spec(l).unwrap_err().to_string();
        let e = err(&[dev(true, "c", 1, 3, "x")]);
        assert!(e.contains("devices[0].access"), "{e}");
        let e = err(&[dev(true, "c", 1, 3, "r"), dev(true, "p", 1, 3, "r")]);
        assert!(e.contains("devices[1].type"), "{e}");
        let e = err(&[dev(true, "c", -4, 3, "r")]);
        assert!(e.contains("devices[0].major"), "{e}");
        let e = err(&[dev(true, "c", 1, 1 << 32, "r")]);
        assert!(e.contains("devices[0].minor"), "{e}");
    }

    #[test]
    fn missing_fields_are_wildcards() {
        let d = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .build()
            .unwrap();
        let f = Filter::from_spec(&[d]).unwrap();
        let want: BTreeMap<_, _> = [exc(Kind::Char, None, None, ACC_ALL)].into();
        assert_eq!(f.exceptions, want);
    }
}
