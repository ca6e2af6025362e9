//! `linux.personality`: the execution domain (`LINUX`, or `LINUX32` so `uname -m` says i686).

use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain};

use crate::error::{Context, Result};

const PER_LINUX: libc::c_ulong = 0x0000;
const PER_LINUX32: libc::c_ulong = 0x0008;

/// Set the personality of this process (inherited by the program it execs).
pub fn apply(p: &LinuxPersonality) -> Result<()> {
    let domain = match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    };
    // SAFETY: personality takes one integer; no memory is involved.
    let r = unsafe { libc::personality(domain) };
    nix::errno::Errno::result(r)
        .ctx(|| format!("linux.personality {:?}", p.domain()))
        .map(drop)
}
