//! `exec`: start another process in a running container, as runc's nsenter path does. An
//! intermediate process joins every namespace of the container's init with `setns` (user
//! first, mount last) and clones the new process with `CLONE_PARENT`; hull puts it in the
//! container's cgroup, then it takes on the process's user, capabilities and cwd, and execs.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::console::{self, Console};
use super::foreground;
use super::state::{Container, Status};
use crate::bootstrap::channel::{self, Msg};
use crate::bootstrap::namespaces::Plan;
use crate::bootstrap::spawn::spawn_init;
use crate::error::{Error, Result};
use crate::fault;

/// What `exec` is asked to do.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// The process to start, complete (args, env, cwd, user, capabilities...).
    pub process: Process,
    /// Return once the process runs instead of waiting for it.
    pub detach: bool,
    /// Where to write the new process's pid.
    pub pid_file: Option<PathBuf>,
    /// Pass fds 3..3+N on to the process.
    pub preserve_fds: u32,
    /// Allow exec into a paused container.
    pub ignore_paused: bool,
    /// Where to send the pty master when the process has a terminal (`--console-socket`).
    pub console_socket: Option<PathBuf>,
    /// `--cgroup [CONTROLLERS:]PATH`: existing sub-cgroups of the container's to run in.
    pub sub_cgroups: Vec<String>,
}

/// Start the process in the container `c` (as loaded from its state); returns the exit code
/// hull should exit with (0 when detached).
pub fn exec(c: &Container, opts: &ExecOptions) -> Result<i32> {
    check_status(c, opts.ignore_paused)?;
    let spec = &c.record.spec.full(&c.record.id)?;
    let state = state_json(c)?;
    let plan = join_plan(c, spec);
    let terminal = opts.process.terminal().unwrap_or(false);
    let console = Console::choose(terminal, opts.console_socket.as_deref(), !opts.detach)?;
    let mut process = opts.process.clone();
    if let Console::Proxy { .. } = &console {
        foreground::size_like_ours(&mut process);
    }
    let (parent, child) = channel::pair()?;
    let (preserve, console_fd) = (opts.preserve_fds, console.init_end());
    let cgroup = super::cgroup::for_exec(&c.record, &opts.sub_cgroups)?;
    // Joining the container's user namespace takes the rights CLONE_INTO_CGROUP needs: then
    // the process joins its cgroup after the clone only (below).
    let into_cgroup = match plan.joins_user_ns() {
        true => None,
        false => super::cgroup::exec_clone_target(cgroup.as_ref())?,
    };
    let into_fd = into_cgroup.as_ref().map(|fd| fd.as_raw_fd());
    let agent = crate::security::connect_seccomp_agent(spec)?;
    let pid = spawn_init(&plan, into_fd, &parent, child, &[], |chan| {
        crate::init::enter::run(chan, &process, spec, console_fd, preserve, agent.as_ref())
    })?;
    drop(agent);
    fault::point("exec::spawned");
    let started = cgroup
        .join(pid)
        .map_err(Error::from)
        .and_then(|_| {
            fault::point("exec::in-cgroup");
            parent.send(&Msg::Proceed { state })
        })
        .and_then(|_| {
            fault::point("exec::proceeded");
            wait_exec(&parent)
        });
    if let Err(e) = started {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(pid), None);
        return Err(e);
    }
    fault::point("exec::started");
    if let Some(path) = &opts.pid_file {
        super::create::write_pid_file(path, pid)?;
    }
    if opts.detach {
        return Ok(0);
    }
    let pty = match &console {
        Console::Proxy { ours, .. } => Some(console::recv_master(ours)?),
        _ => None,
    };
    drop(console);
    let set = foreground::block_signals()?;
    foreground::wait(Pid::from_raw(pid), &set, pty)
}

fn state_json(c: &Container) -> Result<String> {
    Ok(serde_json::to_string(&c.oci_state()?).unwrap_or_default())
}

fn check_status(c: &Container, ignore_paused: bool) -> Result<()> {
    let status = c.status();
    let refuse = match status {
        Status::Stopped => Some("cannot exec in a stopped container"),
        Status::Creating => Some("cannot exec in a container that is being created"),
        Status::Paused if !ignore_paused => {
            Some("cannot exec in a paused container (use --ignore-paused)")
        }
        _ => None,
    };
    match refuse {
        Some(what) => Err(c.bad_status(status, what)),
        None => Ok(()),
    }
}

/// Join every namespace the container has, through its init's `/proc/<pid>/ns` links.
fn join_plan(c: &Container, spec: &Spec) -> Plan {
    let proc_ns = Path::new("/proc").join(c.record.pid.to_string()).join("ns");
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().clone());
    let join = namespaces
        .into_iter()
        .flatten()
        .map(|ns| (ns.typ(), proc_ns.join(ns_file(ns.typ()))));
    Plan::joining(join.collect())
}

fn ns_file(kind: LinuxNamespaceType) -> &'static str {
    match kind {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// The process reports `Ready` when only the seccomp load and execve remain; the channel then
/// closes (close-on-exec) when it execs. A `Failed`, or a close before `Ready` (it died), is an
/// error.
fn wait_exec(chan: &channel::Channel) -> Result<()> {
    let mut ready = false;
    loop {
        match chan.recv()? {
            Some(Msg::Ready) => ready = true,
            None if ready => return Ok(()),
            None => {
                return Err(Error::Msg(
                    "the process died while it was being set up".into(),
                ))
            }
            Some(Msg::Failed { step, error }) => {
                return Err(Error::Init {
                    step,
                    message: error,
                })
            }
            Some(other) => {
                return Err(Error::Msg(format!(
                    "unexpected message from the exec'd process: {other:?}"
                )))
            }
        }
    }
}
