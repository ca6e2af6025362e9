//! `linux.resources.devices` on cgroup v2: an eBPF program instead of `devices.allow`.
//!
//! cgroup v2 has no devices controller files. Like runc and crun, hull turns the ordered
//! rule list into a `BPF_PROG_TYPE_CGROUP_DEVICE` program and attaches it to the cgroup
//! directory with `BPF_CGROUP_DEVICE`:
//! - `rules.rs`: the OCI list checked and reduced the way the v1 controller would (a
//!   default action plus exceptions; no rule matching means deny);
//! - `program.rs`: the reduced rules as eBPF instructions (generated here, no BPF crate);
//! - `load.rs`: bpf(2): load, attach, and replace the program of an earlier `set`.
//!
//! [`compile`] has no side effect, so the manager runs it before writing anything.

mod load;
mod program;
mod rules;

use std::os::fd::AsFd;
use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::error::Result;
use rules::Filter;

/// A checked, compiled device filter, ready to [`install`].
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    /// The program as `BPF_PROG_LOAD` takes it.
    code: Vec<u8>,
    /// Whether a failure to load or attach may be ignored (see [`install`]).
    skippable: bool,
}

/// Checks `list` (errors name the entry, e.g. `linux.resources.devices[1].access`) and
/// generates the program.
pub(crate) fn compile(list: &[LinuxDeviceCgroup]) -> Result<Compiled> {
    let filter = Filter::from_spec(list)?;
    Ok(Compiled {
        code: program::bytes(&program::emit(&filter)),
        skippable: only_allows_everything(list) || in_user_namespace(),
    })
}

/// Loads the program and attaches it to the cgroup directory `dir`, replacing the one an
/// earlier call attached there.
///
/// As in runc, a failure is only a warning when it cannot weaken confinement: inside a user
/// namespace (bpf(2) is normally unavailable there, and the container cannot reach host
/// devices anyway), or when every rule allows every access.
pub(crate) fn install(dir: &Path, c: &Compiled) -> Result<()> {
    let r = load::load(&c.code, dir).and_then(|prog| load::attach(dir, prog.as_fd()));
    match r {
        Err(e) if c.skippable => {
            tracing::warn!("ignoring the cgroup v2 device filter failure: {e}");
            Ok(())
        }
        r => r,
    }
}

/// runc's test for "nothing is denied": every rule allows `rwm` (a missing access is rwm).
fn only_allows_everything(list: &[LinuxDeviceCgroup]) -> bool {
    list.iter().all(|d| {
        let acc = d.access().as_deref().unwrap_or("");
        d.allow() && (acc.is_empty() || ['r', 'w', 'm'].iter().all(|c| acc.contains(*c)))
    })
}

/// Whether this process runs in a user namespace other than the initial one (whose
/// `uid_map` is the identity over the whole range).
fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::rules::tests::dev;
    use super::*;

    #[test]
    fn compile_checks_and_marks_skippable_lists() {
        assert!(compile(&[dev(true, "c", 1, 3, "x")]).is_err());
        let c = compile(&[dev(true, "a", -1, -1, ""), dev(true, "c", 1, 3, "mrw")]).unwrap();
        assert!(c.skippable);
        assert_eq!(c.code.len(), 16);
        let c = compile(&[dev(false, "a", -1, -1, "rwm"), dev(true, "c", 1, 3, "rwm")]).unwrap();
        assert_eq!(c.skippable, in_user_namespace());
        assert_eq!(c.code.len() % 8, 0);
    }
}
