//! `linux.seccomp`: the profile translated into a libseccomp filter, checked completely while
//! the config is validated ([`check`]) and loaded by init as late as it can be ([`load`]).
//!
//! Translation, as runc does it:
//! * a rule whose action equals the default action is left out (libseccomp refuses it);
//! * `SCMP_ACT_ERRNO` without `errnoRet` returns EPERM; `SCMP_ACT_TRACE` without it, EPERM too;
//! * a syscall name unknown to libseccomp (newer than it, or of another arch) is skipped;
//! * the `args` of one rule are ANDed, unless two name the same argument index: libseccomp
//!   cannot express that, so each comparison then becomes a rule of its own (ORed), as runc;
//! * `SCMP_CMP_MASKED_EQ` compares `arg & value == valueTwo`.
//!
//! Syscalls newer than the profile get ENOSYS, as with runc: see [`super::seccomp_enosys`].
//! hull loads the program itself (`seccomp(2)`), so the kernel flags are set here too.

use std::collections::HashMap;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use super::seccomp_enosys;
use crate::error::{Context, Error, Result};

/// Flags oci-spec cannot represent; dropped from the raw config with a warning.
const UNSUPPORTED_FLAGS: [&str; 1] = ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"];

/// A profile that cannot be turned into a filter: the field at fault and why.
#[derive(Debug)]
pub struct BadProfile {
    /// The JSON path of the field, e.g. `linux.seccomp.syscalls[2].args[0]`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

fn bad(field: impl Into<String>, reason: impl std::fmt::Display) -> BadProfile {
    BadProfile {
        field: field.into(),
        reason: reason.to_string(),
    }
}

/// Remove from `linux.seccomp.flags` (raw config JSON) the flags hull cannot apply, with a
/// warning naming each, before the config is parsed.
pub fn drop_unsupported_flags(config: &mut serde_json::Value) {
    let Some(flags) = config
        .pointer_mut("/linux/seccomp/flags")
        .and_then(|f| f.as_array_mut())
    else {
        return;
    };
    flags.retain(|f| {
        let name = f.as_str().unwrap_or_default();
        let unsupported = UNSUPPORTED_FLAGS.contains(&name);
        if unsupported {
            tracing::warn!("linux.seccomp.flags: {name} is not supported; skipped");
        }
        !unsupported
    });
}

fn action(act: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    let errno = errno.map_or(libc::EPERM, |e| e as i32);
    match act {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    }
}

fn arch(a: Arch) -> std::result::Result<ScmpArch, String> {
    let name = serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    name.parse::<ScmpArch>()
        .map_err(|e| format!("{name}: not supported by libseccomp: {e}"))
}

fn compare(arg: &LinuxSeccompArg) -> std::result::Result<ScmpArgCompare, String> {
    use LinuxSeccompOperator as Op;
    if arg.index() > 5 {
        return Err(format!("index {} is not an argument (0-5)", arg.index()));
    }
    let (op, datum) = match arg.op() {
        Op::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        Op::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        Op::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        Op::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        Op::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        Op::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        Op::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    Ok(ScmpArgCompare::new(arg.index() as u32, op, datum))
}

/// Whether the profile has any rule with `SCMP_ACT_NOTIFY`.
pub fn has_notify(profile: &LinuxSeccomp) -> bool {
    profile
        .syscalls()
        .iter()
        .flatten()
        .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify)
}

/// Build the filter (not loaded). Every error names the field at fault.
pub fn build(profile: &LinuxSeccomp) -> std::result::Result<ScmpFilterContext, BadProfile> {
    let f = "linux.seccomp";
    if profile.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(bad(
            format!("{f}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    for (i, sc) in profile.syscalls().iter().flatten().enumerate() {
        // hull (as runc) writes after the filter is in place: a notified write would wait for
        // an agent that may be the container's own supervisor
        if sc.action() == LinuxSeccompAction::ScmpActNotify
            && sc.names().iter().any(|n| n == "write")
        {
            return Err(bad(
                format!("{f}.syscalls[{i}]"),
                "SCMP_ACT_NOTIFY cannot be used for the write syscall",
            ));
        }
    }
    if has_notify(profile) {
        match profile.listener_path() {
            Some(p) if p.is_absolute() => {}
            Some(p) => {
                return Err(bad(
                    format!("{f}.listenerPath"),
                    format!("{p:?} is not absolute"),
                ))
            }
            None => {
                return Err(bad(
                    format!("{f}.listenerPath"),
                    "SCMP_ACT_NOTIFY needs a listenerPath",
                ))
            }
        }
    }
    let default = action(profile.default_action(), profile.default_errno_ret());
    let mut ctx =
        ScmpFilterContext::new(default).map_err(|e| bad(format!("{f}.defaultAction"), e))?;
    // libseccomp would set no_new_privs while loading: that is `process.noNewPrivileges`'s
    // business alone (init sets it itself, and loads without it while holding CAP_SYS_ADMIN).
    ctx.set_ctl_nnp(false)
        .map_err(|e| bad(f, format!("turn off libseccomp's no_new_privs: {e}")))?;
    add_arches(&mut ctx, profile)?;
    for (i, sc) in profile.syscalls().iter().flatten().enumerate() {
        let field = format!("{f}.syscalls[{i}]");
        add_syscall(&mut ctx, sc, default, &field)?;
    }
    Ok(ctx)
}

fn add_arches(
    ctx: &mut ScmpFilterContext,
    profile: &LinuxSeccomp,
) -> std::result::Result<(), BadProfile> {
    for (i, a) in profile.architectures().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.architectures[{i}]");
        let scmp = arch(*a).map_err(|e| bad(&field, e))?;
        if !ctx.is_arch_present(scmp).unwrap_or(false) {
            ctx.add_arch(scmp).map_err(|e| bad(&field, e))?;
        }
    }
    Ok(())
}

/// The `seccomp(2)` flags for the profile's `flags`, plus NEW_LISTENER when it notifies, as
/// runc sets them: TSYNC is accepted and ignored (hull's process is single-threaded), and
/// without any `flags` SPEC_ALLOW is set where the kernel has it (an empty list sets none).
/// `--debug` says the value in runc's words ("seccomp filter flags: N"), which its tests read.
fn kernel_flags(profile: &LinuxSeccomp) -> libc::c_ulong {
    let mut flags: libc::c_ulong = 0;
    match profile.flags() {
        None => {
            let spec_allow = libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
            if crate::features::kernel_knows_flag(spec_allow as u32) {
                flags |= spec_allow;
            }
        }
        Some(list) => {
            for flag in list {
                flags |= match flag {
                    LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 0,
                    LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
                    LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                        libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
                    }
                };
            }
        }
    }
    tracing::debug!("seccomp filter flags: {flags}");
    if has_notify(profile) {
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
    }
    flags
}

/// The architectures the filter covers: the native one and the profile's.
fn filter_arches(profile: &LinuxSeccomp) -> Vec<ScmpArch> {
    let mut arches = vec![ScmpArch::native()];
    for a in profile.architectures().iter().flatten() {
        if let Ok(scmp) = arch(*a) {
            if !arches.contains(&scmp) {
                arches.push(scmp);
            }
        }
    }
    arches
}

/// Add the rules of one `syscalls[]` entry.
fn add_syscall(
    ctx: &mut ScmpFilterContext,
    sc: &LinuxSyscall,
    default: ScmpAction,
    field: &str,
) -> std::result::Result<(), BadProfile> {
    let act = action(sc.action(), sc.errno_ret());
    let conds: Vec<ScmpArgCompare> = sc
        .args()
        .iter()
        .flatten()
        .enumerate()
        .map(|(j, a)| compare(a).map_err(|e| bad(format!("{field}.args[{j}]"), e)))
        .collect::<std::result::Result<_, _>>()?;
    let mut per_index: HashMap<usize, usize> = HashMap::new();
    for a in sc.args().iter().flatten() {
        *per_index.entry(a.index()).or_default() += 1;
    }
    let split = per_index.values().any(|n| *n > 1);
    for name in sc.names() {
        let Ok(nr) = ScmpSyscall::from_name(name) else {
            tracing::debug!("{field}.names: {name} is unknown to libseccomp; skipped");
            continue;
        };
        if act == default {
            continue;
        }
        let added = if split {
            conds
                .iter()
                .try_for_each(|c| ctx.add_rule_conditional(act, nr, &[*c]).map(drop))
        } else {
            ctx.add_rule_conditional(act, nr, &conds).map(drop)
        };
        added.map_err(|e| bad(format!("{field}: {name}"), e))?;
    }
    Ok(())
}

/// Check the profile completely (builds the filter without loading it).
pub fn check(profile: &LinuxSeccomp) -> std::result::Result<(), BadProfile> {
    build(profile).map(drop)
}

/// Connect to the seccomp agent at `listenerPath` (done by init before pivot_root, while the
/// host path is reachable). The socket is close-on-exec. A failure says so in runc's words,
/// "failed to connect with seccomp agent".
pub fn connect_listener(path: &Path) -> Result<OwnedFd> {
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ctx(|| "linux.seccomp.listenerPath: socket")?;
    let addr =
        UnixAddr::new(path).ctx(|| format!("linux.seccomp.listenerPath {}", path.display()))?;
    connect(sock.as_raw_fd(), &addr).ctx(|| {
        format!(
            "linux.seccomp.listenerPath: failed to connect with seccomp agent specified in the \
             seccomp profile: connect to {}",
            path.display()
        )
    })?;
    Ok(sock)
}

/// The document sent with the notify fd: runtime-spec's "container process state".
pub fn process_state(state_json: &str, metadata: Option<&str>) -> Result<Vec<u8>> {
    let state: serde_json::Value = serde_json::from_str(state_json)
        .map_err(|e| Error::Msg(format!("seccomp listener: bad state: {e}")))?;
    let doc = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": state["pid"],
        "metadata": metadata.unwrap_or_default(),
        "state": state,
    });
    serde_json::to_vec(&doc).map_err(|e| Error::Msg(format!("seccomp listener: {e}")))
}

/// Load the filter into this process: libseccomp's program behind the ENOSYS stub when the
/// default action denies. With a listener, send it the notify fd (SCM_RIGHTS) and `state`
/// as the payload, then close both.
pub fn load(profile: &LinuxSeccomp, listener: Option<(OwnedFd, Vec<u8>)>) -> Result<()> {
    let ctx = build(profile).map_err(|b| Error::Msg(format!("{}: {}", b.field, b.reason)))?;
    let default = action(profile.default_action(), profile.default_errno_ret());
    let mut program = Vec::new();
    if !matches!(default, ScmpAction::Allow | ScmpAction::Log) {
        let names = profile
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|s| s.names().iter().map(String::as_str));
        let highest = seccomp_enosys::highest_by_arch(&filter_arches(profile), names);
        program = seccomp_enosys::stub(&highest);
    }
    program.extend(seccomp_enosys::export(&ctx)?);
    let notify_fd = seccomp_enosys::load(&program, kernel_flags(profile))?;
    let (Some((sock, state)), Some(fd)) = (listener, notify_fd) else {
        return Ok(());
    };
    let iov = [IoSlice::new(&state)];
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .ctx(|| "linux.seccomp.listenerPath: send the notify fd")
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_plain_profile_builds() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
            "syscalls":[{"names":["mkdir","mkdirat","no_such_call"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
            {"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        assert!(check(&p).is_ok());
    }

    #[test]
    fn args_on_one_index_are_split_and_on_several_are_anded() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[
              {"index":0,"value":8,"op":"SCMP_CMP_EQ"},{"index":0,"value":9,"op":"SCMP_CMP_EQ"}]},
            {"names":["socket"],"action":"SCMP_ACT_ERRNO","args":[
              {"index":0,"value":2,"op":"SCMP_CMP_NE"},{"index":1,"value":15,"valueTwo":1,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
        );
        assert!(check(&p).is_ok());
    }

    #[test]
    fn bad_arg_index_names_the_field() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO",
            "args":[{"index":7,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        let e = check(&p).unwrap_err();
        assert_eq!(e.field, "linux.seccomp.syscalls[0].args[0]");
    }

    #[test]
    fn notify_needs_a_listener_path() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        assert_eq!(check(&p).unwrap_err().field, "linux.seccomp.listenerPath");
    }

    #[test]
    fn unsupported_flag_is_dropped() {
        let mut v = serde_json::json!({"linux":{"seccomp":{"flags":
            ["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}}});
        drop_unsupported_flags(&mut v);
        assert_eq!(
            v["linux"]["seccomp"]["flags"],
            serde_json::json!(["SECCOMP_FILTER_FLAG_LOG"])
        );
    }
}
