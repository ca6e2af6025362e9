//! The writes that take a v1 `devices` cgroup from what it allows now (its `devices.list`)
//! to what a rule list allows, without a moment where the cgroup's processes lose a device
//! both states allow (runc's minimal transition): between two deny-by-default states only
//! the differences are written, additions first. Only a change of the default itself
//! (allow-all to deny-all) is written as a whole, as runc does.
//!
//! The state is modelled as the kernel keeps it: a default (allow or deny) and exceptions,
//! each a (type, major, minor) with its access letters; a rule for the same device merges
//! or removes letters, a rule of type `a` sets the default and clears the exceptions.

use std::collections::BTreeMap;

use super::devices::Rule;

/// One device pattern: type and the `major:minor` text (`*` for any).
type Device = (String, String);

/// What a devices cgroup allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceState {
    default_allow: bool,
    exceptions: BTreeMap<Device, String>,
}

const ALLOW: &str = "devices.allow";
const DENY: &str = "devices.deny";

fn merge(a: &str, b: &str) -> String {
    "rwm"
        .chars()
        .filter(|c| a.contains(*c) || b.contains(*c))
        .collect()
}

fn minus(a: &str, b: &str) -> String {
    a.chars().filter(|c| !b.contains(*c)).collect()
}

/// `"<type> <major>:<minor> <access>"` split in its three parts.
fn parse(line: &str) -> Option<(String, String, String)> {
    let mut parts = line.split_whitespace();
    let typ = parts.next()?.to_string();
    let numbers = parts.next().unwrap_or("*:*").to_string();
    let access = parts.next().unwrap_or("rwm").to_string();
    Some((typ, numbers, access))
}

impl DeviceState {
    /// A new cgroup's state: everything allowed.
    pub(crate) fn allow_all() -> DeviceState {
        DeviceState {
            default_allow: true,
            exceptions: BTreeMap::new(),
        }
    }

    /// The state `devices.list` shows: `a *:* rwm` alone is allow-all (the kernel then does
    /// not list the denied exceptions), anything else is deny-all with those allowed.
    pub(crate) fn from_list(text: &str) -> DeviceState {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.iter().any(|l| l.trim_start().starts_with('a')) {
            return DeviceState::allow_all();
        }
        let mut state = DeviceState {
            default_allow: false,
            exceptions: BTreeMap::new(),
        };
        for (typ, numbers, access) in lines.iter().filter_map(|l| parse(l)) {
            state.add((typ, numbers), &access);
        }
        state
    }

    fn add(&mut self, dev: Device, access: &str) {
        let entry = self.exceptions.entry(dev).or_default();
        *entry = merge(entry, access);
    }

    fn remove(&mut self, dev: Device, access: &str) {
        if let Some(entry) = self.exceptions.get_mut(&dev) {
            *entry = minus(entry, access);
            if entry.is_empty() {
                self.exceptions.remove(&dev);
            }
        }
    }

    /// The state after the kernel applies `rule`.
    pub(crate) fn apply(&mut self, (file, line): &Rule) {
        let Some((typ, numbers, access)) = parse(line) else {
            return;
        };
        let allow = *file == ALLOW;
        if typ == "a" {
            *self = DeviceState {
                default_allow: allow,
                exceptions: BTreeMap::new(),
            };
        } else if allow != self.default_allow {
            // an exception to the default
            self.add((typ, numbers), &access);
        } else {
            self.remove((typ, numbers), &access);
        }
    }

    /// The state `rules` leave a new cgroup in.
    pub(crate) fn after(rules: &[Rule]) -> DeviceState {
        let mut state = DeviceState::allow_all();
        rules.iter().for_each(|r| state.apply(r));
        state
    }

    fn rule(file: &'static str, (typ, numbers): &Device, access: &str) -> Rule {
        (file, format!("{typ} {numbers} {access}"))
    }

    fn whole(&self) -> Vec<Rule> {
        let (default, exception) = if self.default_allow {
            (ALLOW, DENY)
        } else {
            (DENY, ALLOW)
        };
        let mut out = vec![(default, "a *:* rwm".to_string())];
        for (dev, access) in &self.exceptions {
            out.push(DeviceState::rule(exception, dev, access));
        }
        out
    }

    /// The writes that take a cgroup in state `self` to `target`, none of which takes away
    /// an access both allow.
    pub(crate) fn transition(&self, target: &DeviceState) -> Vec<Rule> {
        if self == target {
            return Vec::new();
        }
        if target.default_allow || self.default_allow {
            // Allow-all's denied exceptions are not listed, so there is nothing to diff
            // against; going to allow-all never takes anything away first.
            return target.whole();
        }
        let mut out = Vec::new();
        for (dev, access) in &target.exceptions {
            let have = self.exceptions.get(dev).map_or("", String::as_str);
            let more = minus(access, have);
            if !more.is_empty() {
                out.push(DeviceState::rule(ALLOW, dev, &more));
            }
        }
        for (dev, have) in &self.exceptions {
            let keep = target.exceptions.get(dev).map_or("", String::as_str);
            let less = minus(have, keep);
            if !less.is_empty() {
                out.push(DeviceState::rule(DENY, dev, &less));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(file: &'static str, line: &str) -> Rule {
        (file, line.to_string())
    }

    fn runc_like() -> Vec<Rule> {
        vec![
            r(DENY, "a *:* rwm"),
            r(ALLOW, "c 1:3 rwm"),
            r(ALLOW, "c 1:5 rwm"),
            r(ALLOW, "c 136:* rwm"),
        ]
    }

    #[test]
    fn a_new_cgroup_gets_the_whole_list() {
        let target = DeviceState::after(&runc_like());
        let writes = DeviceState::from_list("a *:* rwm\n").transition(&target);
        assert_eq!(writes[0], r(DENY, "a *:* rwm"));
        assert_eq!(writes.len(), 4);
    }

    #[test]
    fn the_same_rules_again_write_nothing() {
        let current = DeviceState::from_list("c 1:3 rwm\nc 1:5 rwm\nc 136:* rwm\n");
        assert!(current
            .transition(&DeviceState::after(&runc_like()))
            .is_empty());
    }

    #[test]
    fn only_the_differences_are_written_additions_first() {
        let current = DeviceState::from_list("c 1:3 rwm\nc 1:5 rwm\nc 10:200 rwm\n");
        let writes = current.transition(&DeviceState::after(&runc_like()));
        assert_eq!(
            writes,
            vec![r(ALLOW, "c 136:* rwm"), r(DENY, "c 10:200 rwm")]
        );
        assert!(writes.iter().all(|(_, l)| !l.starts_with('a')));
    }

    #[test]
    fn partial_access_is_merged_and_removed_by_letter() {
        let current = DeviceState::from_list("c 1:3 r\n");
        let target = DeviceState::after(&[r(DENY, "a *:* rwm"), r(ALLOW, "c 1:3 rw")]);
        assert_eq!(current.transition(&target), vec![r(ALLOW, "c 1:3 w")]);
        let target = DeviceState::after(&[
            r(DENY, "a *:* rwm"),
            r(ALLOW, "c 1:3 rwm"),
            r(DENY, "c 1:3 m"),
        ]);
        assert_eq!(target, DeviceState::from_list("c 1:3 rw\n"));
    }

    #[test]
    fn allow_all_is_written_whole() {
        let current = DeviceState::from_list("c 1:3 rwm\n");
        let target = DeviceState::after(&[r(ALLOW, "a *:* rwm"), r(DENY, "b 8:0 w")]);
        assert_eq!(
            current.transition(&target),
            vec![r(ALLOW, "a *:* rwm"), r(DENY, "b 8:0 w")]
        );
    }
}
