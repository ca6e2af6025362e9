//! Creating the container's init process.
//!
//! Fast path (nothing to join): one `clone3` with every `CLONE_NEW*` flag, so the child is
//! PID 1 of its new PID namespace. Intermediate path: a short-lived process enters the
//! namespaces given by path (and makes a time namespace when clock offsets must be set before
//! anyone is in it), then clones init with `CLONE_PARENT` (so init is hull's child, as on the
//! fast path), reports init's pid and exits. On a cgroup v2 host init is cloned straight into
//! the container's cgroup (`CLONE_INTO_CGROUP`).
//!
//! Every child keeps only its own end of the channel (and none of the parent's locks), and
//! dies with hull until it is told otherwise ([`parent_death`]).

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use nix::sched::{setns, CloneFlags};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::channel::{Channel, Msg};
use super::namespaces::{self, Plan};
use super::parent_death;
use crate::error::{Context, Error, Result};
use oci_spec::runtime::LinuxNamespaceType;

/// Which side of a `clone3` this process is on.
enum Forked {
    Child,
    Parent(i32),
}

/// `CLONE_INTO_CGROUP` (Linux 5.7), which nix has no name for.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `clone3` without a new stack: fork semantics with namespace flags, and the child placed in
/// the cgroup whose directory `cgroup` is open on. hull is single-threaded at this point, so
/// the child may allocate and run ordinary Rust code.
fn clone3(flags: CloneFlags, cgroup: Option<RawFd>) -> Result<Forked> {
    // SAFETY: clone_args is plain data; zero is a valid value for every field.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags.bits() as u64;
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // With CLONE_PARENT the kernel wants exit_signal 0 and uses the parent's own (SIGCHLD).
    if !flags.contains(CloneFlags::CLONE_PARENT) {
        args.exit_signal = libc::SIGCHLD as u64;
    }
    // SAFETY: clone3 with a null stack behaves like fork; the process is single-threaded, so
    // the child has a consistent copy of memory.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    match ret {
        -1 => Err(nix::errno::Errno::last()).ctx(|| format!("clone3 with {flags:?}")),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// Leave the child process without running the parent's exit handlers or flushing its buffers.
fn exit_child(code: i32) -> ! {
    // SAFETY: _exit is always safe to call; it does not return.
    unsafe { libc::_exit(code) }
}

/// First thing in a child: close what only the parent may hold (its end of the channel, its
/// locks), then die with the parent. Exits at once if the parent is already gone.
fn enter_child(parent_only: &[RawFd], child_end: &Channel) {
    for &fd in parent_only {
        // The objects owning these fds stay in this copy of memory but are never used or
        // dropped here: the child leaves through _exit or execve.
        let _ = nix::unistd::close(fd);
    }
    if parent_death::die_with_parent(child_end).is_err() {
        exit_child(1);
    }
}

/// hull's own PID namespace, to come back to after entering one for its child, or `None` if
/// hull may not come back: setns into it needs `CAP_SYS_ADMIN` over the user namespace that
/// owns it, which root of another user namespace lacks for the host's (rootless podman runs
/// hull so). Asked of the kernel by that very setns, made while hull is still in it, which
/// changes nothing.
fn own_pid_ns_to_return_to() -> Result<Option<File>> {
    let own = File::open("/proc/self/ns/pid").ctx(|| "open /proc/self/ns/pid")?;
    Ok(setns(own.as_fd(), CloneFlags::CLONE_NEWPID)
        .is_ok()
        .then_some(own))
}

/// The path with joins but no intermediate process (see [`Plan::joins_after_clone`]): hull
/// enters the PID namespace to join (if any; then `own_pid_ns` is hull's own) for its
/// children only, clones init (which is then born in it) and goes back to its own; init
/// enters the other namespaces itself, in order.
fn clone_then_join(
    opened: Vec<(LinuxNamespaceType, File)>,
    own_pid_ns: Option<File>,
    flags: CloneFlags,
    cgroup: Option<RawFd>,
    parent_only: &[RawFd],
    child_end: &Channel,
    init: impl FnOnce(&Channel) -> i32,
) -> Result<i32> {
    let (pid_ns, rest): (Vec<_>, Vec<_>) = opened
        .into_iter()
        .partition(|(kind, _)| *kind == LinuxNamespaceType::Pid);
    namespaces::enter(&pid_ns)?;
    let back_home = || match &own_pid_ns {
        Some(own) => setns(own.as_fd(), CloneFlags::CLONE_NEWPID)
            .ctx(|| "return to hull's own PID namespace for its next children"),
        None => Ok(()),
    };
    let forked = match clone3(flags, cgroup) {
        Ok(forked) => forked,
        Err(e) => return back_home().and(Err(e)),
    };
    match forked {
        Forked::Parent(pid) => back_home().map(|()| pid),
        Forked::Child => {
            enter_child(parent_only, child_end);
            drop(own_pid_ns);
            let code = match namespaces::enter(&rest) {
                Ok(()) => {
                    drop(rest);
                    init(child_end)
                }
                Err(e) => {
                    child_end.fail("namespaces", &e);
                    1
                }
            };
            exit_child(code)
        }
    }
}

/// Start init in the namespaces of `plan` (and in the cgroup whose directory `cgroup` is open
/// on, if given), running `init(child_end)` in it. `init` only returns on failure (it ends in
/// execve). The children close `parent_end` and the fds `parent_only` at once, and die with
/// hull (PR_SET_PDEATHSIG) until they disarm it. Returns init's pid in hull's pid namespace.
pub fn spawn_init(
    plan: &Plan,
    cgroup: Option<RawFd>,
    parent_end: &Channel,
    child_end: Channel,
    parent_only: &[RawFd],
    init: impl FnOnce(&Channel) -> i32,
) -> Result<i32> {
    // `--debug` marks each stage in runc's words (nsexec, init, setns_init), which tools
    // and runc's tests look for.
    tracing::debug!("nsexec container setup: spawning the container's process");
    let mut parent_only = parent_only.to_vec();
    parent_only.push(parent_end.as_fd().as_raw_fd());
    // The cgroup namespace is made by init itself once the parent has moved it into its
    // cgroup, so that the namespace is rooted at the container's cgroup.
    // (`difference`, not `& !`: `!` drops the bits nix has no name for, CLONE_NEWTIME among them)
    let mut flags = plan.new.difference(CloneFlags::CLONE_NEWCGROUP);
    if plan.time_offsets.is_some() {
        // The intermediate makes the time namespace (with its offsets) for init instead.
        flags = flags.difference(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME));
    }
    if !plan.needs_intermediate() {
        return match clone3(flags, cgroup)? {
            Forked::Child => {
                enter_child(&parent_only, &child_end);
                exit_child(init(&child_end))
            }
            Forked::Parent(pid) => Ok(pid),
        };
    }
    let opened = plan.open_joins()?;
    if plan.joins_after_clone() {
        let joins_pid = opened
            .iter()
            .any(|(kind, _)| *kind == LinuxNamespaceType::Pid);
        let own_pid_ns = match joins_pid {
            true => own_pid_ns_to_return_to()?,
            false => None,
        };
        // Without a way back, the intermediate process enters the PID namespace instead.
        if !joins_pid || own_pid_ns.is_some() {
            return clone_then_join(
                opened,
                own_pid_ns,
                flags,
                cgroup,
                &parent_only,
                &child_end,
                init,
            );
        }
    }
    match clone3(CloneFlags::empty(), None)? {
        Forked::Child => {
            enter_child(&parent_only, &child_end);
            let code = match namespaces::enter(&opened)
                .and_then(|_| match &plan.time_offsets {
                    Some(offsets) => namespaces::unshare_time(offsets),
                    None => Ok(()),
                })
                .and_then(|_| clone3(flags | CloneFlags::CLONE_PARENT, cgroup))
            {
                Ok(Forked::Child) => {
                    drop(opened);
                    // hull is init's parent (CLONE_PARENT): the channel tells if it is gone.
                    enter_child(&[], &child_end);
                    init(&child_end)
                }
                Ok(Forked::Parent(pid)) => child_end.send(&Msg::InitPid { pid }).map_or(1, |_| 0),
                Err(e) => {
                    child_end.fail("namespaces", &e);
                    1
                }
            };
            exit_child(code)
        }
        Forked::Parent(intermediate) => {
            drop(child_end);
            let reply = parent_end.recv();
            let _ = waitpid(Pid::from_raw(intermediate), None);
            match reply? {
                Some(Msg::InitPid { pid }) => Ok(pid),
                Some(Msg::Failed { step, error }) => Err(Error::Init {
                    step,
                    message: error,
                }),
                other => Err(Error::Msg(format!("unexpected bootstrap reply {other:?}"))),
            }
        }
    }
}
