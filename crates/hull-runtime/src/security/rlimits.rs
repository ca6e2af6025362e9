//! `process.rlimits`.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use crate::error::{Context, Error, Result};

fn resource(kind: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType as R;
    match kind {
        R::RlimitCpu => libc::RLIMIT_CPU,
        R::RlimitFsize => libc::RLIMIT_FSIZE,
        R::RlimitData => libc::RLIMIT_DATA,
        R::RlimitStack => libc::RLIMIT_STACK,
        R::RlimitCore => libc::RLIMIT_CORE,
        R::RlimitRss => libc::RLIMIT_RSS,
        R::RlimitNproc => libc::RLIMIT_NPROC,
        R::RlimitNofile => libc::RLIMIT_NOFILE,
        R::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        R::RlimitAs => libc::RLIMIT_AS,
        R::RlimitLocks => libc::RLIMIT_LOCKS,
        R::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        R::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        R::RlimitNice => libc::RLIMIT_NICE,
        R::RlimitRtprio => libc::RLIMIT_RTPRIO,
        R::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Apply every rlimit. Raising a hard limit above the runtime's own needs CAP_SYS_RESOURCE; the
/// error then names the rlimit and both values.
pub fn apply(limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        let res = resource(l.typ());
        let want = libc::rlimit {
            rlim_cur: l.soft(),
            rlim_max: l.hard(),
        };
        // SAFETY: setrlimit reads a valid rlimit struct.
        let r = unsafe { libc::setrlimit(res, &want) };
        if r == 0 {
            continue;
        }
        let err = nix::errno::Errno::last();
        let mut have = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into a valid rlimit struct.
        unsafe { libc::getrlimit(res, &mut have) };
        if err == nix::errno::Errno::EPERM && l.hard() > have.rlim_max {
            return Err(Error::Msg(format!(
                "process.rlimits: {}: hard limit {} is above the runtime's own hard limit {}",
                l.typ(),
                l.hard(),
                have.rlim_max
            )));
        }
        return Err(err).ctx(|| {
            format!(
                "process.rlimits: setrlimit {} soft {} hard {}",
                l.typ(),
                l.soft(),
                l.hard()
            )
        });
    }
    Ok(())
}
