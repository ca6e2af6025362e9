//! What runs inside the new namespaces, step by step, ending in `execve`. The order is the
//! one `shared/DESIGN.md` gives; each step's name is what a failure report names.

mod cgroupfs;
pub(crate) mod console;
pub(crate) mod devices;
pub mod enter;
mod environ;
mod exec;
mod hostname;
pub(crate) mod idle;
pub mod inroot;
mod keyring;
pub(crate) mod mempolicy;
pub(crate) mod mount_options;
mod mounts;
mod network;
mod paths;
mod personality;
mod pivot;
pub(crate) mod procfs;
mod propagation;
mod recursive_attrs;
mod remount;
mod rootfs;
mod session;
mod signals;
pub mod sysctl;
mod tmpcopyup;
mod user;

use std::convert::Infallible;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{umask, Mode};
use oci_spec::runtime::{LinuxSeccomp, Process, Spec};

use crate::bootstrap::channel::{Channel, Msg};
use crate::bootstrap::parent_death;
use crate::error::{Context as _, Error, Result};
use crate::hooks::{self, HookPoint};
use crate::security::{self, caps, nnp, oom, rlimits, scheduling};
use crate::spec::Bundle;

/// What init needs from the parent, fixed before the clone.
pub struct InitConfig<'a> {
    /// The container id (named in what init itself prints).
    pub id: &'a str,
    /// The validated bundle.
    pub bundle: &'a Bundle,
    /// `O_PATH` fd of `exec.fifo`, opened before the clone.
    pub fifo: RawFd,
    /// The namespaces created for this container.
    pub new_namespaces: CloneFlags,
    /// `--no-pivot`: chroot instead of pivot_root.
    pub no_pivot: bool,
    /// Name of a new session keyring to join (None with `--no-new-keyring`).
    pub session_keyring: Option<String>,
    /// Console socket to send the pty master to, when `process.terminal` is true.
    pub console_socket: Option<RawFd>,
    /// How many fds from 3 up the program keeps.
    pub preserve_fds: u32,
    /// Whether `start` may come much later (`create`), so that init gives back the memory it
    /// does not need while it waits; false for `run`, which starts at once.
    pub idle_until_start: bool,
}

/// Run init; returns (an exit code) only after reporting a failure to the parent.
pub fn run(chan: &Channel, cfg: &InitConfig) -> i32 {
    match steps(chan, cfg) {
        Ok(never) => match never {},
        Err((step, e)) => {
            chan.fail(step, &e);
            // After `start` no hull process listens on the channel any more: the container's
            // stderr is the only way left to tell the user why it exits 1 (runc alike).
            if matches!(
                step,
                "startContainer hooks" | "close fds" | "seccomp" | "exec"
            ) {
                let why = e.to_string();
                let why = crate::error::one_line(&why);
                eprintln!("hull: container {}: {step}: {why}", cfg.id);
            }
            1
        }
    }
}

type StepResult<T> = std::result::Result<T, (&'static str, Error)>;

fn at(step: &'static str) -> impl FnOnce(Error) -> (&'static str, Error) {
    move |e| (step, e)
}

fn steps(chan: &Channel, cfg: &InitConfig) -> StepResult<Infallible> {
    let spec = &cfg.bundle.spec;
    tracing::debug!("child process in init(): setting up the container");
    session::lead_new_session().map_err(at("session"))?;
    if let Some(process) = spec.process() {
        set_initial_affinity(process).map_err(at("execCPUAffinity"))?;
    }
    let state = wait_proceed(chan).map_err(at("wait for the parent"))?;
    // Only now: until the parent has written our id maps it must be able to open our /proc.
    security::dumpable::forbid().map_err(at("dumpable"))?;
    let agent = security::connect_seccomp_agent(spec).map_err(at("seccomp listener"))?;
    let mut listener =
        security::seccomp_listener(spec, agent, &state).map_err(at("seccomp listener"))?;
    umask(Mode::empty());
    if cfg.new_namespaces.contains(CloneFlags::CLONE_NEWUSER) {
        user::become_namespace_root().map_err(at("user namespace"))?;
        // The change of credentials cleared the parent-death signal.
        parent_death::die_with_parent(chan).map_err(at("user namespace"))?;
    }
    if cfg.new_namespaces.contains(CloneFlags::CLONE_NEWCGROUP) {
        // Only now that the parent has put us in our cgroup, so the namespace is rooted there.
        unshare(CloneFlags::CLONE_NEWCGROUP)
            .ctx(|| "unshare the cgroup namespace")
            .map_err(at("cgroup namespace"))?;
    }
    if cfg.new_namespaces.contains(CloneFlags::CLONE_NEWNET) {
        network::loopback_up().map_err(at("network"))?;
    }
    if let Some(name) = &cfg.session_keyring {
        keyring::join_session(name).map_err(at("session keyring"))?;
    }
    let new_cgroupns = cfg.new_namespaces.contains(CloneFlags::CLONE_NEWCGROUP);
    rootfs::prepare(
        spec,
        &cfg.bundle.dir,
        &cfg.bundle.rootfs,
        new_cgroupns,
        &|index| crate::bootstrap::mount_sources::request(chan, index),
    )
    .map_err(at("rootfs"))?;
    runtime_hooks(chan, spec).map_err(at("prestart and createRuntime hooks"))?;
    // As runc: in the rootfs directory, hooks without env get the process's environment.
    let process_env = spec.process().as_ref().and_then(|p| p.env().as_deref());
    hooks::run_point_in(
        spec.hooks().as_ref(),
        HookPoint::CreateContainer,
        &state,
        Some(&cfg.bundle.rootfs),
        Some(process_env.unwrap_or_default()),
    )
    .map_err(at("createContainer hooks"))?;
    enter_root(cfg).map_err(at("pivot_root"))?;
    // As runc: a missing cwd is made in the new root before it is made read-only.
    if let Some(process) = spec.process() {
        ensure_cwd(process).map_err(at("process"))?;
    }
    if readonly_root(spec) {
        pivot::make_readonly().map_err(at("pivot_root"))?;
    }
    let proc = procfs::open_root().map_err(at("procfs"))?;
    if let Some(socket) = cfg.console_socket {
        let size = spec.process().as_ref().and_then(console_size);
        console::attach(socket, size).map_err(at("console"))?;
    }
    hostname::apply(spec).map_err(at("hostname"))?;
    let process_cfg = spec.process().as_ref();
    security::apparmor::apply(process_cfg.and_then(|p| p.apparmor_profile().as_deref()))
        .map_err(at("apparmor"))?;
    sysctl::apply(spec, &proc).map_err(at("sysctl"))?;
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        personality::apply(p).map_err(at("personality"))?;
    }
    mempolicy::apply(spec).map_err(at("memoryPolicy"))?;
    if let Some(linux) = spec.linux() {
        paths::make_readonly(linux.readonly_paths().as_deref().unwrap_or_default())
            .map_err(at("readonlyPaths"))?;
        paths::mask(linux.masked_paths().as_deref().unwrap_or_default())
            .map_err(at("maskedPaths"))?;
    }
    // after the paths: an unbindable `/` could not have them bound
    propagation::after_pivot(spec).map_err(at("rootfsPropagation"))?;
    security::selinux::apply_exec_label(process_cfg.and_then(|p| p.selinux_label().as_deref()))
        .map_err(at("process label"))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or(("process", Error::Msg("missing".into())))?;
    let seccomp = security::seccomp_profile(spec);
    let prepared = become_process_with(process, seccomp).map_err(at("process"))?;
    parent_death::outlive_parent().map_err(at("report ready"))?;
    tracing::debug!("init: closing the pipe to signal completion (set-up done)");
    chan.send(&Msg::Ready).map_err(at("report ready"))?;
    wait_created(chan).map_err(at("wait for the parent"))?;
    if cfg.idle_until_start {
        idle::release_memory();
    }
    let _started = exec::wait_for_start(cfg.fifo).map_err(at("wait for start"))?;
    set_final_affinity(process).map_err(at("execCPUAffinity"))?;
    exec::close_inherited_fds(cfg.preserve_fds).map_err(at("close fds"))?;
    security::load_seccomp(seccomp, &mut listener, prepared.caps_after_seccomp.as_ref())
        .map_err(at("seccomp"))?;
    hooks::run_point_in(
        spec.hooks().as_ref(),
        HookPoint::StartContainer,
        &hooks::with_status(&state, "created"),
        None,
        Some(prepared.env()),
    )
    .map_err(at("startContainer hooks"))?;
    Err(("exec", prepared.exec()))
}

/// `process.execCPUAffinity.initial`: the CPUs to run on before joining the cgroup.
pub(crate) fn set_initial_affinity(process: &Process) -> Result<()> {
    match process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().as_deref())
    {
        Some(cpus) => scheduling::set_affinity(cpus),
        None => Ok(()),
    }
}

/// `process.execCPUAffinity.final`: the CPUs the program runs on. Without any
/// `execCPUAffinity`, every CPU of the container's cpuset (called once the process is in its
/// cgroup; as runc 1.2, not the affinity hull was started with).
pub(crate) fn set_final_affinity(process: &Process) -> Result<()> {
    let affinity = process.exec_cpu_affinity().as_ref();
    match affinity.and_then(|a| a.cpu_affinity_final().as_deref()) {
        Some(cpus) => scheduling::set_affinity(cpus),
        None if affinity.and_then(|a| a.initial().as_deref()).is_none() => {
            scheduling::reset_affinity();
            Ok(())
        }
        None => Ok(()),
    }
}

/// `process.consoleSize` as `(rows, cols)`.
pub(crate) fn console_size(process: &Process) -> Option<(u16, u16)> {
    let size = process.console_size()?;
    Some((size.height() as u16, size.width() as u16))
}

fn wait_proceed(chan: &Channel) -> Result<String> {
    match chan.recv()? {
        Some(Msg::Proceed { state }) => Ok(state),
        other => Err(Error::Msg(format!("expected Proceed, got {other:?}"))),
    }
}

/// After `Ready`, wait until the parent has written the state: if hull died first (EOF),
/// nobody would ever find this init, so it must not block on `exec.fifo`.
fn wait_created(chan: &Channel) -> Result<()> {
    match chan.recv()? {
        Some(Msg::Created) => Ok(()),
        other => Err(Error::Msg(format!("expected Created, got {other:?}"))),
    }
}

/// Ask the parent to run prestart and createRuntime hooks (in the runtime's namespaces).
fn runtime_hooks(chan: &Channel, spec: &Spec) -> Result<()> {
    if !hooks::has_any(
        spec.hooks().as_ref(),
        &[HookPoint::Prestart, HookPoint::CreateRuntime],
    ) {
        return Ok(());
    }
    chan.send(&Msg::RunRuntimeHooks)?;
    match chan.recv()? {
        Some(Msg::HooksDone) => Ok(()),
        other => Err(Error::Msg(format!("expected HooksDone, got {other:?}"))),
    }
}

fn readonly_root(spec: &Spec) -> bool {
    spec.root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
}

fn enter_root(cfg: &InitConfig) -> Result<()> {
    if cfg.no_pivot {
        pivot::move_root(&cfg.bundle.rootfs)
    } else {
        pivot::pivot(&cfg.bundle.rootfs)
    }
}

/// Create `process.cwd` (as root, inside the new root, before a read-only root is made
/// read-only, as runc) when it is missing. Only init does this: `exec` never creates its cwd.
fn ensure_cwd(process: &Process) -> Result<()> {
    let cwd = process.cwd();
    if cwd.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(cwd).ctx(|| format!("process.cwd: create {}", cwd.display()))
}

/// The process, set up and ready to exec: what is left is loading seccomp and execve.
pub(crate) struct Prepared {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<String>,
    /// The capability sets to return to right after loading seccomp, when the process kept
    /// CAP_SYS_ADMIN for it (see [`caps::for_privileged_seccomp`]).
    pub caps_after_seccomp: Option<caps::CapSets>,
}

impl Prepared {
    /// The program's environment (`process.env`, with HOME).
    pub fn env(&self) -> &[String] {
        &self.env
    }

    /// Replace this process with the program; returns only on failure.
    pub fn exec(&self) -> Error {
        exec::execve(&self.program, &self.args, &self.env)
    }
}

/// Apply rlimits, the OOM score, the scheduler, no_new_privileges, the user, capabilities and
/// cwd, and find the program; the seccomp filter is left for the caller to load last, with
/// [`security::load_seccomp`]. Shared by init and `exec`.
pub(crate) fn become_process_with(
    process: &Process,
    seccomp: Option<&LinuxSeccomp>,
) -> Result<Prepared> {
    signals::restore_defaults()?;
    rlimits::apply(process.rlimits().as_deref().unwrap_or_default())?;
    oom::apply(process.oom_score_adj())?;
    if let Some(prio) = process.io_priority() {
        scheduling::set_io_priority(prio)?;
    }
    if let Some(sched) = process.scheduler() {
        scheduling::set_scheduler(sched)?;
    }
    let nnp = process.no_new_privileges().unwrap_or(false);
    if nnp {
        nnp::set_no_new_privs()?;
    }
    let target = caps::plan(process.capabilities().as_ref())?;
    // Without no_new_privs, loading the filter needs CAP_SYS_ADMIN: keep it until then.
    let during = match seccomp {
        Some(_) if !nnp => caps::for_privileged_seccomp(&target),
        _ => None,
    };
    let sets = during.as_ref().unwrap_or(&target);
    let cwd = process.cwd();
    // As runc: chdir while still root (a cwd only root can enter), and again as the user
    // only when root was refused (a root-squashed network filesystem).
    let entered = match chdir_inside(cwd) {
        Ok(()) => true,
        Err(Error::Sys {
            source: nix::errno::Errno::EACCES,
            ..
        }) => false,
        Err(e) => return Err(e),
    };
    console::give_stdio_to(process.user().uid())?;
    caps::before_user(sets)?;
    user::become_user(process.user())?;
    if !entered {
        chdir_inside(cwd)?;
    }
    caps::after_user(sets)?;
    let env = environ::for_program(
        process.env().as_deref().unwrap_or_default(),
        process.user().uid(),
    );
    let args = process.args().clone().unwrap_or_default();
    let first = args
        .first()
        .ok_or_else(|| Error::Msg("process.args: must name the program to run".into()))?;
    let program = exec::find_program(first, &env)?;
    Ok(Prepared {
        program,
        args,
        env,
        caps_after_seccomp: during.map(|_| target),
    })
}

/// chdir to `cwd` and check the result is inside the container's root: a cwd reached through a
/// leaked fd (`/proc/self/fd/N`) would show as unreachable (CVE-2024-21626).
fn chdir_inside(cwd: &Path) -> Result<()> {
    // runc's words: `chdir to cwd ("/x") set in config.json failed`
    nix::unistd::chdir(cwd)
        .ctx(|| format!("process.cwd: chdir to cwd ({cwd:?}) set in config.json failed"))?;
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        _ => Err(Error::Msg(format!(
            "process.cwd: {} is outside the container",
            cwd.display()
        ))),
    }
}
