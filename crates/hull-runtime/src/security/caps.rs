//! `process.capabilities`: the five sets, applied around the switch to `process.user` as runc
//! does: the bounding set is reduced and PR_SET_KEEPCAPS set while init is still root
//! ([`before_user`]); after setresuid the effective, inheritable and permitted sets are set
//! with capset, and the ambient set is raised last ([`after_user`]).
//!
//! A seccomp filter without no_new_privs can only be loaded with CAP_SYS_ADMIN, and hull
//! loads it as the last step before execve: the process then holds CAP_SYS_ADMIN in
//! effective and permitted until the filter is in place ([`for_privileged_seccomp`]), and one
//! capset right after the load gives the configured sets back ([`drop_to`]).
//!
//! A missing `capabilities` object, or a missing set in it, means an empty set (runc).
//! A capability unknown to hull or to the kernel, or that hull itself does not hold (so it
//! cannot hand it on), is left out with runc's warning, which tools match on:
//! `ignoring unknown or unavailable capabilities: [NAME ...]`; the container still runs.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::OnceLock;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::{Error, Result};

/// The five sets to give the process, checked against the kernel and the runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapSets {
    /// The bounding set: everything else is dropped from it.
    pub bounding: CapsHashSet,
    /// The effective set.
    pub effective: CapsHashSet,
    /// The permitted set.
    pub permitted: CapsHashSet,
    /// The inheritable set.
    pub inheritable: CapsHashSet,
    /// The ambient set.
    pub ambient: CapsHashSet,
}

fn caps_err(what: &str) -> impl FnOnce(caps::errors::CapsError) -> Error + '_ {
    move |e| Error::Msg(format!("capabilities: {what}: {e}"))
}

/// Our name for an oci-spec capability (`CAP_…`), or None when the `caps` crate lacks it.
fn convert(cap: &oci_spec::runtime::Capability) -> Option<Capability> {
    Capability::from_str(&format!("CAP_{cap}")).ok()
}

fn convert_set(set: &Option<Capabilities>, unknown: &mut HashSet<String>) -> CapsHashSet {
    let mut out = CapsHashSet::new();
    for cap in set.iter().flatten() {
        match convert(cap) {
            Some(c) => {
                out.insert(c);
            }
            None => {
                unknown.insert(format!("CAP_{cap}"));
            }
        }
    }
    out
}

impl CapSets {
    /// The sets as the config gives them (None: all empty), before any check.
    pub fn from_spec(caps: Option<&LinuxCapabilities>) -> CapSets {
        let mut unknown = HashSet::new();
        let sets = match caps {
            None => CapSets::default(),
            Some(c) => CapSets {
                bounding: convert_set(c.bounding(), &mut unknown),
                effective: convert_set(c.effective(), &mut unknown),
                permitted: convert_set(c.permitted(), &mut unknown),
                inheritable: convert_set(c.inheritable(), &mut unknown),
                ambient: convert_set(c.ambient(), &mut unknown),
            },
        };
        warn_ignored(unknown);
        sets
    }

    fn all_named(&self) -> CapsHashSet {
        let mut all = self.bounding.clone();
        for s in [
            &self.effective,
            &self.permitted,
            &self.inheritable,
            &self.ambient,
        ] {
            all.extend(s.iter().copied());
        }
        all
    }

    /// Leave out (with a warning each) the capabilities not in `supported` (the kernel's)
    /// and, from every set but bounding, those not in `held` (the runtime's permitted set).
    pub fn restrict(mut self, supported: &CapsHashSet, held: &CapsHashSet) -> CapSets {
        let mut ignored = HashSet::new();
        for cap in self.all_named() {
            if !supported.contains(&cap) {
                self.remove(cap, true);
            } else if !held.contains(&cap) {
                self.remove(cap, false);
            } else {
                continue;
            }
            ignored.insert(cap.to_string());
        }
        warn_ignored(ignored);
        self
    }

    fn remove(&mut self, cap: Capability, from_bounding: bool) {
        if from_bounding {
            self.bounding.remove(&cap);
        }
        for s in [
            &mut self.effective,
            &mut self.permitted,
            &mut self.inheritable,
            &mut self.ambient,
        ] {
            s.remove(&cap);
        }
    }
}

/// The capabilities this kernel knows, probed once per process: the kernel numbers them
/// without gaps (0..=CAP_LAST_CAP, PR_CAPBSET_READ fails with EINVAL above), so one probe
/// from the top of the `caps` crate's list down to the first the kernel accepts finds them.
fn kernel_supported() -> &'static CapsHashSet {
    static SUPPORTED: OnceLock<CapsHashSet> = OnceLock::new();
    SUPPORTED.get_or_init(|| {
        let mut all: Vec<Capability> = caps::all().into_iter().collect();
        all.sort_by_key(|c| std::cmp::Reverse(c.index()));
        let last = all
            .iter()
            .find(|c| caps::has_cap(None, CapSet::Bounding, **c).is_ok())
            .map_or(0, |c| c.index() + 1);
        all.into_iter().filter(|c| c.index() < last).collect()
    })
}

/// runc's warning for capabilities left out, each name once, sorted.
fn warn_ignored(names: impl IntoIterator<Item = String>) {
    let mut names: Vec<String> = names.into_iter().collect();
    if names.is_empty() {
        return;
    }
    names.sort();
    names.dedup();
    tracing::warn!(
        "ignoring unknown or unavailable capabilities: [{}]",
        names.join(" ")
    );
}

/// The config's sets, restricted to what this kernel has and this runtime holds.
pub fn plan(caps: Option<&LinuxCapabilities>) -> Result<CapSets> {
    let held = caps::read(None, CapSet::Permitted).map_err(caps_err("read our own"))?;
    Ok(CapSets::from_spec(caps).restrict(kernel_supported(), &held))
}

/// While still root: drop from the bounding set every capability not in `sets.bounding`,
/// and keep the permitted set across the coming setresuid.
pub fn before_user(sets: &CapSets) -> Result<()> {
    for &cap in kernel_supported() {
        if !sets.bounding.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(caps_err(&format!("drop {cap} from the bounding set")))?;
        }
    }
    caps::securebits::set_keepcaps(true).map_err(caps_err("PR_SET_KEEPCAPS"))
}

/// After setresuid: set effective, inheritable and permitted (in the order the kernel allows
/// when shrinking from full sets), then the ambient set, and turn keepcaps off again.
pub fn after_user(sets: &CapSets) -> Result<()> {
    // Effective first: it must stay within permitted, which is still the runtime's.
    caps::set(None, CapSet::Effective, &sets.effective).map_err(caps_err("set effective"))?;
    caps::set(None, CapSet::Inheritable, &sets.inheritable).map_err(caps_err("set inheritable"))?;
    caps::set(None, CapSet::Permitted, &sets.permitted).map_err(caps_err("set permitted"))?;
    caps::securebits::set_keepcaps(false).map_err(caps_err("PR_SET_KEEPCAPS off"))?;
    if caps::runtime::ambient_set_supported().is_err() {
        if !sets.ambient.is_empty() {
            tracing::warn!("capabilities: the kernel has no ambient set; ambient skipped");
        }
        return Ok(());
    }
    caps::clear(None, CapSet::Ambient).map_err(caps_err("clear ambient"))?;
    for cap in &sets.ambient {
        // The kernel raises only a capability both permitted and inheritable; runc's default
        // config names ambient caps without inheritable ones, and runc ignores the failure.
        if !(sets.permitted.contains(cap) && sets.inheritable.contains(cap)) {
            tracing::debug!("capabilities: ambient {cap} is not permitted and inheritable");
            continue;
        }
        caps::raise(None, CapSet::Ambient, *cap)
            .map_err(caps_err(&format!("raise {cap} in the ambient set")))?;
    }
    Ok(())
}

/// `sets` with CAP_SYS_ADMIN added to effective and permitted, for loading a seccomp filter
/// without no_new_privs at the very end; None when `sets` already have it there, or when the
/// runtime does not hold it (the load then fails and says so).
pub fn for_privileged_seccomp(sets: &CapSets) -> Option<CapSets> {
    let admin = Capability::CAP_SYS_ADMIN;
    let held = caps::has_cap(None, CapSet::Permitted, admin).unwrap_or(false);
    if !held || (sets.effective.contains(&admin) && sets.permitted.contains(&admin)) {
        return None;
    }
    let mut during = sets.clone();
    during.effective.insert(admin);
    during.permitted.insert(admin);
    Some(during)
}

/// `capset` version 3 (64-bit sets), as `<linux/capability.h>` gives it.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Set effective, permitted and inheritable to `sets` in one `capset` call (the only call
/// hull makes after a seccomp filter loaded with CAP_SYS_ADMIN). The sets may only shrink;
/// a failure (e.g. a filter that denies capset) is an error, never ignored.
pub fn drop_to(sets: &CapSets) -> Result<()> {
    let bits = |s: &CapsHashSet| s.iter().fold(0u64, |b, c| b | c.bitmask());
    let (eff, perm, inh) = (
        bits(&sets.effective),
        bits(&sets.permitted),
        bits(&sets.inheritable),
    );
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: eff as u32,
            permitted: perm as u32,
            inheritable: inh as u32,
        },
        CapData {
            effective: (eff >> 32) as u32,
            permitted: (perm >> 32) as u32,
            inheritable: (inh >> 32) as u32,
        },
    ];
    // SAFETY: capset reads one header and two data structs laid out as the kernel's
    // (`#[repr(C)]`), both alive for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    nix::errno::Errno::result(r)
        .map(drop)
        .map_err(|e| Error::Msg(format!("capabilities: capset after loading seccomp: {e}")))
}

/// Remove from `process.capabilities` (in the raw config JSON) every name oci-spec or hull
/// cannot parse, or that this kernel lacks, with one warning naming them (runc's), so a
/// capability newer than hull or the kernel does not refuse the whole config.
pub fn drop_unknown_names(config: &mut serde_json::Value) {
    let Some(sets) = config
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return;
    };
    let supported = kernel_supported();
    let usable = |name: &serde_json::Value| {
        serde_json::from_value::<oci_spec::runtime::Capability>(name.clone())
            .ok()
            .and_then(|c| convert(&c))
            .is_some_and(|c| supported.contains(&c))
    };
    let mut ignored = Vec::new();
    for names in sets.values_mut() {
        let Some(list) = names.as_array_mut() else {
            continue;
        };
        list.retain(|name| match name.as_str() {
            Some(text) if !usable(name) => {
                ignored.push(text.to_string());
                false
            }
            _ => true,
        });
    }
    warn_ignored(ignored);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_caps(json: &str) -> LinuxCapabilities {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn kernel_supported_is_every_cap_the_kernel_accepts() {
        assert_eq!(kernel_supported(), &caps::runtime::thread_all_supported());
    }

    #[test]
    fn missing_sets_are_empty() {
        let sets = CapSets::from_spec(Some(&spec_caps(r#"{"bounding":["CAP_KILL"]}"#)));
        assert_eq!(
            sets.bounding,
            CapsHashSet::from_iter([Capability::CAP_KILL])
        );
        assert!(sets.effective.is_empty() && sets.ambient.is_empty());
        assert_eq!(CapSets::from_spec(None), CapSets::default());
    }

    #[test]
    fn caps_not_held_are_left_out_except_from_bounding() {
        let sets = CapSets::from_spec(Some(&spec_caps(
            r#"{"bounding":["CAP_KILL","CAP_SYS_RESOURCE"],"effective":["CAP_KILL","CAP_SYS_RESOURCE"]}"#,
        )));
        let supported = caps::all();
        let held = CapsHashSet::from_iter([Capability::CAP_KILL]);
        let r = sets.restrict(&supported, &held);
        assert_eq!(r.effective, held);
        assert!(r.bounding.contains(&Capability::CAP_SYS_RESOURCE));
        let r2 = r.restrict(&held, &held);
        assert_eq!(r2.bounding, held);
    }
}
