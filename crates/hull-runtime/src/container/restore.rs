//! `restore`: a new container from a checkpoint's images and a bundle, as runc makes it.
//!
//! The id is reserved and the cgroup made as for `create`; `criu swrk` is put in the cgroup
//! (CRIU restores the processes into its own cgroup, `cg_root`) and given a bind mount of the
//! rootfs as its root, the external mounts with their sources in this bundle, the pipes the
//! container had as stdio (from hull's own fds 0-2), and `rst_sibling` (the restored init
//! becomes hull's child). CRIU's notifications drive the rest: `setup-namespaces` runs the
//! prestart and createRuntime hooks, `orphan-pts-master` hands over the new pty master (sent
//! to `--console-socket`, or proxied in the foreground). Then state.json is written, as for a
//! running container. Any failure leaves nothing: no process, cgroup, mount or state dir.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use hull_cgroups::Manager;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::checkpoint::{base_opts, empty_ns_flags, failure, CriuFlags, Dirs, NETNS_KEY};
use super::console::Console;
use super::create::{due_hooks, hook_state, write_pid_file};
use super::state::{self, Container, Record, Status};
use super::stored_spec::StoredSpec;
use super::{delete, foreground, start};
use crate::criu::externals::{self, Kind};
use crate::criu::images::ImageInfo;
use crate::criu::rpc;
use crate::criu::swrk::{Stdio3, Swrk};
use crate::criu::Criu;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, HookPoint};
use crate::spec::{self, Bundle};

/// What `restore` is asked to do, beyond [`CriuFlags`].
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The shared CRIU flags.
    pub criu: CriuFlags,
    /// The state root (`--root`).
    pub root: PathBuf,
    /// The new container's id.
    pub id: String,
    /// The bundle (`--bundle`).
    pub bundle: PathBuf,
    /// Return once restored instead of waiting for the container (`--detach`).
    pub detach: bool,
    /// Where to write the restored init's pid (`--pid-file`).
    pub pid_file: Option<PathBuf>,
    /// Where to send the new pty master (`--console-socket`).
    pub console_socket: Option<PathBuf>,
    /// `--systemd-cgroup`: `cgroupsPath` is `slice:prefix:name`.
    pub systemd_cgroup: bool,
}

/// Restore a container; returns hull's exit code (the container's with no `--detach`).
pub fn restore(opts: &RestoreOptions) -> Result<i32> {
    let bundle = spec::load(&opts.bundle)?;
    let terminal = super::create::wants_terminal(&bundle);
    let empty_ns = empty_ns_flags(&opts.criu.empty_ns)?;
    let info = ImageInfo::load(&super::checkpoint::absolute_path(&opts.criu.image_path)?)?;
    let binds = externals::of_spec(&bundle.spec, &bundle.dir, None, None);
    info.check_fits(&opts.criu.image_path, &binds, terminal)?;
    let console = Console::choose(terminal, opts.console_socket.as_deref(), !opts.detach)?;
    let criu = Criu::find(opts.criu.criu.as_deref())?;
    let dirs = Dirs::existing(&opts.criu.image_path, opts.criu.work_path.as_deref())?;
    let dir = state::container_dir(&opts.root, &opts.id)?;
    let signals = if opts.detach {
        None
    } else {
        Some(foreground::block_signals()?)
    };
    // Declared before `undo`, so the lock is held until the undo is done.
    let lock = super::create::reserve(&opts.root, &dir, &opts.id)?;
    let mut undo = Undo {
        dir: dir.clone(),
        pid: None,
        cgroup: None,
        criu_root: None,
    };
    let cgroup = super::cgroup::for_new(&opts.id, &bundle.spec, opts.systemd_cgroup)?;
    let cgroup = undo.cgroup.insert(cgroup);
    let paths = cgroup.paths();
    let mut all = externals::of_spec(
        &bundle.spec,
        &bundle.dir,
        None,
        externals::unified_cgroup(&paths),
    );
    all.extend(
        info.externals
            .iter()
            .filter(|e| e.kind == Kind::Masked)
            .cloned(),
    );
    make_mount_points(&bundle.rootfs, &all)?;
    let criu_root = dir.join("criu-root");
    bind_root(&bundle.rootfs, &criu_root)?;
    undo.criu_root = Some(criu_root.clone());

    let netns = open_netns(&bundle, &info)?;
    let pty = match &info.tty {
        Some(_) => Some(new_pty()?),
        None => None,
    };
    let mut o = base_opts(&opts.criu, &dirs, "restore.log");
    o.set_root(criu_root.to_string_lossy().into_owned());
    o.set_rst_sibling(true);
    if let Some(flags) = empty_ns {
        o.set_empty_ns(flags);
    }
    o.ext_mnt = externals::restore_map(&all);
    o.inherit_fd = inherited(&info, netns.as_ref());
    let mut keep: Vec<RawFd> = vec![dirs.images.as_raw_fd(), dirs.work.as_raw_fd()];
    keep.extend(netns.as_ref().map(|fd| fd.as_raw_fd()));
    if let (Some(key), Some((_, slave))) = (&info.tty, &pty) {
        let mut i = rpc::Inherit_fd::new();
        i.set_key(key.clone());
        i.set_fd(slave.as_raw_fd());
        o.inherit_fd.push(i);
        keep.push(slave.as_raw_fd());
    }

    let spec = StoredSpec::new(&bundle.spec)?;
    let swrk = Swrk::start(&criu, Stdio3::Inherit, &keep)?;
    let joined = join_cgroup(cgroup.as_ref(), swrk.pid(), &bundle, &mut o);
    let mut provisional = record(&opts.id, 0, &bundle, &spec, cgroup.as_ref());
    let (mut master, slave) = match pty {
        Some((m, s)) => (Some(m), Some(s)),
        None => (None, None),
    };
    let mut hook_error: Option<Error> = None;
    let answer = match joined {
        Err(e) => {
            swrk.abandon();
            Err(e)
        }
        Ok(()) => swrk.call(&request(o), |script, pid, fd| {
            match script {
                "setup-namespaces" => {
                    provisional.pid = pid;
                    let hooks = bundle.spec.hooks().as_ref();
                    let state = hook_state(
                        &provisional,
                        bundle.spec.annotations().as_ref(),
                        Status::Creating,
                    );
                    let run = hooks::run_point(hooks, HookPoint::Prestart, &state)
                        .and_then(|_| hooks::run_point(hooks, HookPoint::CreateRuntime, &state));
                    if let Err(e) = run {
                        let msg = e.to_string();
                        hook_error = Some(e);
                        return Err(Error::Msg(msg));
                    }
                }
                "orphan-pts-master" => master = fd.or(master.take()),
                _ => {}
            }
            Ok(())
        }),
    };
    let resp = match answer {
        Ok(resp) => resp,
        Err(e) => return Err(hook_error.unwrap_or(e)),
    };
    if !resp.success() {
        let log = dirs.work_path.join("restore.log");
        return Err(failure(&criu, "restore", &resp, &log, true));
    }
    drop(slave);
    let pid = resp.restore.pid();
    undo.pid = Some(pid);
    unbind_root(&criu_root);
    undo.criu_root = None;
    let record = record(&opts.id, pid, &bundle, &spec, cgroup.as_ref());
    state::save(&dir, &record)?;
    if let Some(path) = &opts.pid_file {
        write_pid_file(path, pid)?;
    }
    let pty = match (&console, master) {
        (Console::Socket(sock), Some(m)) => {
            crate::init::console::send_master(sock.as_raw_fd(), &m)?;
            None
        }
        (Console::Proxy { .. }, Some(m)) => Some(m),
        (Console::None, _) => None,
        (_, None) => {
            return Err(Error::Msg(
                "CRIU sent no pty master for the terminal".into(),
            ))
        }
    };
    drop(console);
    undo.disarm();
    drop(lock);
    let c = Container { dir, record };
    let poststart = due_hooks(&c.record, HookPoint::Poststart, Status::Running)?;
    start::poststart(&c, poststart.as_ref())?;
    let Some(set) = signals else {
        return Ok(0);
    };
    let code = foreground::wait(Pid::from_raw(pid), &set, pty)?;
    delete::delete_loaded(&c, true)?;
    Ok(code)
}

fn request(o: rpc::Criu_opts) -> rpc::Criu_req {
    let mut req = rpc::Criu_req::new();
    req.set_type(rpc::Criu_req_type::RESTORE);
    req.opts = protobuf::MessageField::some(o);
    req
}

/// Put CRIU in the container's cgroup with its limits, and tell CRIU to restore into that
/// cgroup (`cg_root`: the cgroup as CRIU itself sees it, for each hierarchy).
fn join_cgroup(
    cgroup: &dyn Manager,
    criu_pid: i32,
    bundle: &Bundle,
    o: &mut rpc::Criu_opts,
) -> Result<()> {
    cgroup.apply(criu_pid)?;
    if let Some(resources) = super::cgroup::resources(&bundle.spec)? {
        cgroup.set(&resources)?;
    }
    let path = format!("/proc/{criu_pid}/cgroup");
    let text = std::fs::read_to_string(&path).ctx(|| format!("read {path}"))?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrl, dir) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(c), Some(d)) => (n, c, d),
            _ => continue,
        };
        let mut root = rpc::Cgroup_root::new();
        if !ctrl.is_empty() {
            root.set_ctrl(ctrl.trim_start_matches("name=").into());
        }
        root.set_path(dir.into());
        o.cg_root.push(root);
    }
    Ok(())
}

/// The pipes the container had as stdio come from hull's own fds 0-2; a network namespace
/// joined by path is the one of this bundle.
fn inherited(info: &ImageInfo, netns: Option<&OwnedFd>) -> Vec<rpc::Inherit_fd> {
    let mut all = Vec::new();
    for (fd, what) in info.stdio.iter().enumerate() {
        if what.starts_with("pipe:") {
            let mut i = rpc::Inherit_fd::new();
            i.set_key(what.clone());
            i.set_fd(fd as i32);
            all.push(i);
        }
    }
    if let Some(ns) = netns {
        let mut i = rpc::Inherit_fd::new();
        i.set_key(NETNS_KEY.into());
        i.set_fd(ns.as_raw_fd());
        all.push(i);
    }
    all
}

fn open_netns(bundle: &Bundle, info: &ImageInfo) -> Result<Option<OwnedFd>> {
    if info.external_netns.is_none() {
        return Ok(None);
    }
    let path = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|nss| {
            nss.iter()
                .find(|ns| ns.typ() == oci_spec::runtime::LinuxNamespaceType::Network)
                .and_then(|ns| ns.path().clone())
        })
        .ok_or_else(|| {
            Error::Msg(
                "the checkpoint joined a network namespace by path; this bundle names none (linux.namespaces)"
                    .into(),
            )
        })?;
    let fd = nix::fcntl::open(
        &path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("open network namespace {}", path.display()))?;
    Ok(Some(fd))
}

fn record(id: &str, pid: i32, bundle: &Bundle, spec: &StoredSpec, cgroup: &dyn Manager) -> Record {
    Record {
        id: id.into(),
        pid,
        pid_start: state::proc_stat(pid).map(|(_, s)| s).unwrap_or(0),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        spec: spec.clone(),
        cgroup_paths: cgroup.paths(),
        member_ns: super::members::Namespace::of_init(pid, own_pid_ns(&bundle.spec)).ok(),
        cgroup_unit: cgroup.unit(),
        creating: false,
    }
}

/// Whether the container made a PID namespace of its own (rather than joining one by path).
fn own_pid_ns(spec: &oci_spec::runtime::Spec) -> bool {
    crate::bootstrap::namespaces::Plan::from_spec(spec)
        .new
        .contains(nix::sched::CloneFlags::CLONE_NEWPID)
}

/// A new pty (master, slave) for a restored terminal; the slave goes to CRIU.
fn new_pty() -> Result<(OwnedFd, OwnedFd)> {
    use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
    let master = posix_openpt(nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY)
        .ctx(|| "open a new pty")?;
    grantpt(&master).ctx(|| "grantpt")?;
    unlockpt(&master).ctx(|| "unlockpt")?;
    let name = ptsname_r(&master).ctx(|| "ptsname")?;
    let slave = nix::fcntl::open(
        name.as_str(),
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("open {name}"))?;
    // SAFETY: posix_openpt returned an fd this process owns; it is moved into the OwnedFd.
    let master = unsafe {
        <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(
            master,
        ))
    };
    nix::fcntl::fcntl(
        &master,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .ctx(|| "fcntl the pty master")?;
    Ok((master, slave))
}

/// CRIU binds each external mount onto its mount point in the rootfs, which a fresh bundle
/// may lack (init made them when the checkpointed container was created): make them, a
/// directory or an empty file as the source is, resolved inside the rootfs.
fn make_mount_points(rootfs: &Path, all: &[externals::External]) -> Result<()> {
    use crate::init::inroot::{self, Create};
    let flags =
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC;
    let root = nix::fcntl::open(rootfs, flags, nix::sys::stat::Mode::empty())
        .ctx(|| format!("open {}", rootfs.display()))?;
    for e in all {
        let create = if e.source.is_dir() {
            Create::Dir
        } else {
            Create::File
        };
        inroot::open(&root, Path::new(&e.key), create)?;
    }
    Ok(())
}

/// CRIU restores a mount namespace onto a root that is a mount point: a bind of the rootfs.
fn bind_root(rootfs: &Path, at: &Path) -> Result<()> {
    std::fs::create_dir(at).ctx(|| format!("create {}", at.display()))?;
    mount(
        Some(rootfs),
        at,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("bind {} on {}", rootfs.display(), at.display()))
}

fn unbind_root(at: &Path) {
    let _ = umount2(at, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir(at);
}

/// Undoes a half-restored container when dropped, unless disarmed.
struct Undo {
    dir: PathBuf,
    pid: Option<i32>,
    cgroup: Option<Box<dyn Manager>>,
    criu_root: Option<PathBuf>,
}

impl Undo {
    fn disarm(&mut self) {
        self.pid = None;
        self.cgroup = None;
        self.criu_root = None;
        self.dir = PathBuf::new();
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        if let Some(at) = &self.criu_root {
            unbind_root(at);
        }
        if let Some(cg) = &self.cgroup {
            if let Ok(pids) = cg.pids() {
                for p in pids {
                    let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
                }
            }
            if let Err(e) = cg.destroy() {
                tracing::warn!("remove the cgroup of a failed restore: {e}");
            }
        }
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
