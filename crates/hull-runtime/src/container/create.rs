//! `create`: validate the bundle, reserve the id, make the cgroup, spawn init, and leave it
//! blocked on `exec.fifo`. On any failure everything made so far is undone.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hull_cgroups::Manager;
use nix::fcntl::{open, Flock, OFlag};
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::console::Console;
use super::state::{self, Container, OciState, Record, Status, EXEC_FIFO};
use super::stored_spec::StoredSpec;
use crate::bootstrap::channel::{self, Channel, Msg};
use crate::bootstrap::mount_sources::Server as MountSourceServer;
use crate::bootstrap::namespaces::Plan;
use crate::bootstrap::spawn::spawn_init;
use crate::error::{Context, Error, Result};
use crate::fault;
use crate::hooks::{self, Due, HookPoint};
use crate::init::{self, InitConfig};
use crate::spec::{self, Bundle};

/// What `create` (and `run`) is asked to do.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The state root (`--root`).
    pub root: PathBuf,
    /// The new container's id.
    pub id: String,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// Where to write init's pid (`--pid-file`).
    pub pid_file: Option<PathBuf>,
    /// chroot instead of pivot_root (`--no-pivot`).
    pub no_pivot: bool,
    /// Keep the caller's session keyring (`--no-new-keyring`).
    pub no_new_keyring: bool,
    /// Where to send the pty master when `process.terminal` is true (`--console-socket`).
    pub console_socket: Option<PathBuf>,
    /// Pass fds 3..3+N on to the container (`--preserve-fds`), after any `LISTEN_FDS`.
    pub preserve_fds: u32,
    /// `--systemd-cgroup`: `cgroupsPath` is `slice:prefix:name`.
    pub systemd_cgroup: bool,
    /// The cgroup may be skipped when it cannot be made (`--rootless`, see
    /// [`RootlessMode::cgroups_optional`](super::rootless::RootlessMode::cgroups_optional)).
    pub rootless_cgroups: bool,
}

/// Undoes a half-made container when dropped, unless disarmed.
struct Undo {
    dir: PathBuf,
    init: Option<i32>,
    cgroup: Option<Box<dyn Manager>>,
    armed: bool,
}

impl Undo {
    fn manager(&self) -> Result<&dyn Manager> {
        self.cgroup
            .as_deref()
            .ok_or_else(|| Error::Msg("no cgroup manager".into()))
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.init {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        if let Some(cg) = &self.cgroup {
            if let Err(e) = cg.destroy() {
                tracing::warn!("remove the cgroup of a failed container: {e}");
            }
        }
        let _ = state::remove_dir(&self.dir);
    }
}

/// Create the container; on success init is hull's child, blocked on `exec.fifo`.
pub fn create(opts: &CreateOptions) -> Result<Container> {
    let bundle = spec::load(&opts.bundle)?;
    let console = Console::choose(
        wants_terminal(&bundle),
        opts.console_socket.as_deref(),
        false,
    )?;
    create_in(opts, bundle, &console, false)
}

/// Whether the bundle's process asks for a terminal.
pub fn wants_terminal(bundle: &Bundle) -> bool {
    wants_terminal_spec(&bundle.spec)
}

/// Whether the spec's process asks for a terminal.
pub fn wants_terminal_spec(spec: &oci_spec::runtime::Spec) -> bool {
    spec.process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false)
}

/// [`create`] from a loaded bundle, with the console already chosen (`run` may proxy it);
/// `started_at_once` when `start` follows at once (`run`), so init need not idle until then.
///
/// Crash consistency: the id is reserved (directory made and locked) and the record written
/// (`creating`, with the cgroup paths) before anything else exists; init's pid is recorded as
/// soon as it is known. Until init reports `Ready` it dies with hull (PR_SET_PDEATHSIG), and
/// after that it waits for `Created`, which hull sends only once the final record is on disk.
/// So whenever hull is killed, `delete --force` finds everything that was made.
pub fn create_in(
    opts: &CreateOptions,
    mut bundle: Bundle,
    console: &Console,
    started_at_once: bool,
) -> Result<Container> {
    let dir = state::container_dir(&opts.root, &opts.id)?;
    let listen_fds = socket_activation(&mut bundle);
    let mut cgroup = super::cgroup::for_new(&opts.id, &bundle.spec, opts.systemd_cgroup)?;
    if opts.rootless_cgroups && !opts.systemd_cgroup {
        cgroup = super::rootless::cgroup_or_none(cgroup, &bundle.spec)?;
    }
    // Declared before `undo`, so the lock is held until the undo is done.
    let lock = reserve(&opts.root, &dir, &opts.id)?;
    fault::point("create::reserved");
    let mut undo = Undo {
        dir: dir.clone(),
        init: None,
        cgroup: Some(cgroup),
        armed: true,
    };
    let mut record = new_record(&opts.id, &bundle, undo.manager()?)?;
    state::save(&dir, &record)?;
    fault::point("create::recorded");
    let fifo = make_fifo(&dir)?;
    fault::point("create::fifo");
    let plan = Plan::from_spec(&bundle.spec);
    crate::bootstrap::idmap_mount::check_allowed(&bundle.spec)?;
    let (parent, child) = channel::pair()?;
    let init_cfg = InitConfig {
        id: &opts.id,
        bundle: &bundle,
        fifo: fifo.as_raw_fd(),
        new_namespaces: plan.new,
        no_pivot: opts.no_pivot,
        session_keyring: (!opts.no_new_keyring).then(|| format!("_ses.{}", opts.id)),
        console_socket: console.init_end(),
        preserve_fds: listen_fds + opts.preserve_fds,
        idle_until_start: !started_at_once,
    };
    super::cgroup::warn_if_not_empty(undo.manager()?)?;
    // Joining a user namespace takes the rights CLONE_INTO_CGROUP needs: then init is moved
    // into its cgroup after the clone.
    let into_cgroup = match plan.joins_user_ns() {
        true => None,
        false => super::cgroup::clone_target(undo.manager()?)?,
    };
    super::cgroup::refuse_frozen(undo.manager()?)?;
    let into_fd = into_cgroup.as_ref().map(|fd| fd.as_raw_fd());
    let cloned_into_cgroup = into_fd.is_some();
    fault::point("create::cgroup-target");
    let parent_only = [lock.as_raw_fd()];
    crate::init::idle::release_memory();
    let pid = spawn_init(&plan, into_fd, &parent, child, &parent_only, |chan| {
        init::run(chan, &init_cfg)
    })?;
    undo.init = Some(pid);
    fault::point("create::spawned");
    drop((fifo, into_cgroup));
    record.pid = pid;
    record.pid_start = state::proc_stat(pid)
        .ok_or_else(|| Error::Msg("container init exited during set-up".into()))?
        .1;
    let own_pid_ns = plan.new.contains(CloneFlags::CLONE_NEWPID);
    record.member_ns = Some(super::members::Namespace::of_init(pid, own_pid_ns)?);
    state::save(&dir, &record)?;
    fault::point("create::pid-recorded");
    if plan.new.contains(CloneFlags::CLONE_NEWUSER) {
        map_ids(pid, &bundle.spec)?;
    }
    let cgroup = undo.manager()?;
    if !cloned_into_cgroup {
        cgroup.apply(pid)?;
    }
    if let Some(resources) = super::cgroup::resources(&bundle.spec)? {
        cgroup.set(&resources)?;
    }
    fault::point("create::in-cgroup");
    super::net_devices::move_in(pid, &bundle.spec)?;
    let mut sources = MountSourceServer::new(pid, &bundle.spec, &bundle.dir);
    drive_init(&parent, &record, &bundle.spec, &mut sources)?;
    fault::point("create::ready");
    record.creating = false;
    state::save(&dir, &record)?;
    fault::point("create::saved");
    if let Some(path) = &opts.pid_file {
        write_pid_file(path, pid)?;
    }
    parent.send(&Msg::Created)?;
    fault::point("create::released");
    undo.armed = false;
    drop(lock);
    Ok(Container { dir, record })
}

/// Write the new user namespace's id maps (the child waits for `Proceed` until then).
fn map_ids(pid: i32, spec: &oci_spec::runtime::Spec) -> Result<()> {
    let (uid, gid) = crate::bootstrap::idmap::container_maps(spec);
    if super::rootless::is_rootless() {
        // An unprivileged parent may map only its own ids (with setgroups denied), or use the
        // newuidmap/newgidmap helpers.
        return super::rootless::write_maps(pid, &uid, &gid);
    }
    crate::bootstrap::idmap::write_maps(pid, &uid, &gid, false)
}

/// Reserve `<root>/<id>`: the directory is made (or taken over, when a `create` or `delete`
/// killed earlier left it without a record) and locked; whoever gets the lock first on a
/// directory without a record owns the id. `Error::Exists` if another command holds the lock or
/// the directory has a record. The lock is held until `create` ends.
pub(crate) fn reserve(root: &Path, dir: &Path, id: &str) -> Result<Flock<File>> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(root)
        .ctx(|| format!("create {}", root.display()))?;
    // A `delete` may remove a directory without a record between our mkdir and our lock:
    // then try again.
    for _ in 0..10 {
        let made = match std::fs::DirBuilder::new().mode(0o711).create(dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(e).ctx(|| format!("create {}", dir.display())),
        };
        let lock = match state::try_lock_dir(dir) {
            Ok(Some(lock)) => lock,
            Ok(None) => return Err(Error::Exists(id.into())),
            Err(_) if !dir.exists() => continue,
            Err(e) => return Err(e),
        };
        if !same_dir(&lock, dir) {
            continue;
        }
        if state::has_record(dir) {
            return Err(Error::Exists(id.into()));
        }
        if !made {
            state::clear_dir(dir, &[])?;
        }
        return Ok(lock);
    }
    Err(Error::Msg(format!(
        "reserve {}: removed again and again while being made",
        dir.display()
    )))
}

/// Whether the locked directory is still the one at `path` (not removed meanwhile).
fn same_dir(lock: &Flock<File>, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (lock.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Make `exec.fifo` (0622: init may write to it after dropping to an unprivileged user) and
/// return an `O_PATH` fd to it for init.
fn make_fifo(dir: &Path) -> Result<OwnedFd> {
    let path = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o622))
        .ctx(|| format!("mkfifo {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o622))
        .ctx(|| format!("chmod {}", path.display()))?;
    open(&path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .ctx(|| format!("open {}", path.display()))
}

/// The record written when the id is reserved: no init yet, `creating`.
fn new_record(id: &str, bundle: &Bundle, cgroup: &dyn Manager) -> Result<Record> {
    Ok(Record {
        id: id.into(),
        pid: 0,
        pid_start: 0,
        cgroup_paths: cgroup.paths(),
        creating: true,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        spec: StoredSpec::new(&bundle.spec)?,
        member_ns: None,
        cgroup_unit: cgroup.unit(),
    })
}

/// The state document hooks get on stdin (`annotations` are the spec's).
pub fn hook_state(
    record: &Record,
    annotations: Option<&HashMap<String, String>>,
    status: Status,
) -> String {
    let mut state = OciState::of(record, status, annotations.cloned().unwrap_or_default());
    // Hooks (poststop included) get the pid the container had.
    state.pid = record.pid;
    serde_json::to_string(&state).unwrap_or_default()
}

/// The hooks of `record`'s spec at `point` with the state document (in `status`) they get,
/// read before the command acts; None when there are none.
pub fn due_hooks(record: &Record, point: HookPoint, status: Status) -> Result<Option<Due>> {
    Due::of(record.spec.hooks(&record.id)?, point, || {
        let annotations = record.spec.annotations(&record.id)?;
        Ok(hook_state(record, Some(&annotations), status))
    })
}

/// Let init go on, run the runtime hooks (of `spec`, the record's) when it asks, and wait
/// for it to be ready.
fn drive_init(
    chan: &Channel,
    record: &Record,
    spec: &oci_spec::runtime::Spec,
    sources: &mut MountSourceServer,
) -> Result<()> {
    chan.send(&Msg::Proceed {
        state: hook_state(record, spec.annotations().as_ref(), Status::Creating),
    })?;
    loop {
        match chan.recv()? {
            Some(Msg::Ready) => return Ok(()),
            Some(Msg::RunRuntimeHooks) => {
                let state = hook_state(record, spec.annotations().as_ref(), Status::Creating);
                hooks::run_point(spec.hooks().as_ref(), HookPoint::Prestart, &state)?;
                hooks::run_point(spec.hooks().as_ref(), HookPoint::CreateRuntime, &state)?;
                chan.send(&Msg::HooksDone)?;
            }
            Some(Msg::OpenMountSource { index }) => sources.serve(chan, index)?,
            Some(Msg::Failed { step, error }) => {
                return Err(Error::Init {
                    step,
                    message: error,
                })
            }
            Some(other) => {
                return Err(Error::Msg(format!(
                    "unexpected message from init: {other:?}"
                )))
            }
            None => return Err(Error::Msg("container init exited during set-up".into())),
        }
    }
}

/// Write the pid file atomically (a temporary file renamed into place), as runc does.
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("hull-tmp");
    std::fs::write(&tmp, pid.to_string()).ctx(|| format!("write pid file {}", tmp.display()))?;
    std::fs::rename(&tmp, path).ctx(|| format!("write pid file {}", path.display()))
}

/// Socket activation: when hull itself was given `LISTEN_FDS` (for its own pid), those fds go
/// on to the container, whose process sees `LISTEN_FDS=N` and `LISTEN_PID=1`. Returns N.
fn socket_activation(bundle: &mut Bundle) -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    if count == 0 || ours.is_some_and(|p| p != std::process::id()) {
        return 0;
    }
    if let Some(process) = bundle.spec.process_mut() {
        let mut env = process.env().clone().unwrap_or_default();
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={count}"));
        env.push("LISTEN_PID=1".into());
        process.set_env(Some(env));
    }
    count
}
