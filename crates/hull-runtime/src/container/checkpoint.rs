//! `checkpoint`: dump a running container with CRIU (runc's flags and defaults). CRIU is
//! told the container's root, its external mounts, its cgroup (which it freezes) and, with
//! `--parent-path`, the pre-dump the memory is tracked from. The container stops and is
//! removed, as runc does, unless `--leave-running` or `--pre-dump`. When CRIU fails, the
//! container is left as it was, the image and work directories hull made are removed, and
//! the error names CRIU's own cause (from its log) with the CRIU and kernel versions.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::state::{Container, Status};
use crate::criu::externals::{self, External};
use crate::criu::images::ImageInfo;
use crate::criu::rpc;
use crate::criu::swrk::{Stdio3, Swrk};
use crate::criu::Criu;
use crate::error::{Context, Error, Result};
use crate::pidfd::PidFd;

/// How CRIU treats the container's cgroups (`--manage-cgroups-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupsMode {
    /// Restore the cgroup properties only where the cgroups are new (CRIU's default).
    Soft,
    /// Restore every property.
    Full,
    /// Restore every property, and fail on any mismatch.
    Strict,
    /// Leave cgroups alone.
    Ignore,
}

impl CgroupsMode {
    /// Parse runc's spelling.
    pub fn parse(s: &str) -> Result<CgroupsMode> {
        match s {
            "soft" => Ok(CgroupsMode::Soft),
            "full" => Ok(CgroupsMode::Full),
            "strict" => Ok(CgroupsMode::Strict),
            "ignore" => Ok(CgroupsMode::Ignore),
            other => Err(Error::Msg(format!(
                "--manage-cgroups-mode {other:?}: use soft, full, strict or ignore"
            ))),
        }
    }

    pub(crate) fn rpc(self) -> rpc::Criu_cg_mode {
        match self {
            CgroupsMode::Soft => rpc::Criu_cg_mode::SOFT,
            CgroupsMode::Full => rpc::Criu_cg_mode::FULL,
            CgroupsMode::Strict => rpc::Criu_cg_mode::STRICT,
            CgroupsMode::Ignore => rpc::Criu_cg_mode::IGNORE,
        }
    }
}

/// The CRIU options `checkpoint` and `restore` share.
#[derive(Debug, Clone, Default)]
pub struct CriuFlags {
    /// The CRIU binary (global `--criu`), else `criu` in `PATH`.
    pub criu: Option<PathBuf>,
    /// Where the images are (`--image-path`).
    pub image_path: PathBuf,
    /// Where CRIU's log and work files go (`--work-path`, default: the image path).
    pub work_path: Option<PathBuf>,
    /// `--tcp-established`.
    pub tcp_established: bool,
    /// `--ext-unix-sk`.
    pub ext_unix_sk: bool,
    /// `--shell-job`.
    pub shell_job: bool,
    /// `--file-locks`.
    pub file_locks: bool,
    /// `--lazy-pages`.
    pub lazy_pages: bool,
    /// `--manage-cgroups-mode`.
    pub cgroups_mode: Option<CgroupsMode>,
    /// `--empty-ns`: namespaces CRIU makes empty instead of restoring (only `network`).
    pub empty_ns: Vec<String>,
    /// `--auto-dedup`.
    pub auto_dedup: bool,
}

/// What `checkpoint` is asked to do, beyond [`CriuFlags`].
#[derive(Debug, Clone, Default)]
pub struct CheckpointOptions {
    /// The shared CRIU flags.
    pub criu: CriuFlags,
    /// `--parent-path`: the previous (pre-)dump, relative to the image path.
    pub parent_path: Option<PathBuf>,
    /// `--leave-running`.
    pub leave_running: bool,
    /// `--pre-dump`: dump the memory only; the container keeps running.
    pub pre_dump: bool,
    /// `--status-fd`: CRIU writes a byte to it when the lazy-pages server is ready.
    pub status_fd: Option<i32>,
    /// `--page-server ADDR:PORT`.
    pub page_server: Option<String>,
}

/// Checkpoint container `id` under `root`.
pub fn checkpoint(root: &Path, id: &str, opts: &CheckpointOptions) -> Result<()> {
    let empty_ns = empty_ns_flags(&opts.criu.empty_ns)?;
    let page_server = opts.page_server.as_deref().map(page_server).transpose()?;
    if let Some(p) = &opts.parent_path {
        check_parent(&opts.criu.image_path, p)?;
    }
    let c = Container::load(root, id)?;
    let _lock = c.lock()?;
    match c.status() {
        Status::Running | Status::Paused => {}
        s => return Err(c.bad_status(s, "only a running container can be checkpointed")),
    }
    let spec = c.record.spec.full(id)?;
    let teardown = super::delete::Teardown::of(&c.record)?;
    let criu = Criu::find(opts.criu.criu.as_deref())?;
    let pid = c.record.pid;
    let proc_root = PathBuf::from(format!("/proc/{pid}/root"));
    let externals = externals::of_spec(
        &spec,
        &c.record.bundle,
        Some(&proc_root),
        externals::unified_cgroup(&c.record.cgroup_paths),
    );
    let info = ImageInfo {
        id: id.into(),
        externals: externals.clone(),
        stdio: (0..3).map(|fd| stdio_of(pid, fd)).collect(),
        terminal: super::create::wants_terminal_spec(&spec),
        external_netns: joined_netns(&spec)?,
        tty: terminal_of(pid),
    };
    let dirs = Dirs::make(&opts.criu.image_path, opts.criu.work_path.as_deref())?;
    let mut req_opts = dump_opts(&c, opts, &dirs, &externals, &info)?;
    if let Some(flags) = empty_ns {
        req_opts.set_empty_ns(flags);
    }
    if let Some((addr, port)) = page_server {
        let mut ps = rpc::Criu_page_server_info::new();
        ps.set_address(addr);
        ps.set_port(port);
        req_opts.ps = protobuf::MessageField::some(ps);
    }
    let stops = !(opts.leave_running || opts.pre_dump);
    let pidfd = PidFd::open(pid, c.record.pid_start)?;
    let mut req = rpc::Criu_req::new();
    req.set_type(if opts.pre_dump {
        rpc::Criu_req_type::PRE_DUMP
    } else {
        rpc::Criu_req_type::DUMP
    });
    req.opts = protobuf::MessageField::some(req_opts);
    let mut keep = vec![dirs.images.as_raw_fd(), dirs.work.as_raw_fd()];
    keep.extend(opts.status_fd);
    let what = if opts.pre_dump { "pre-dump" } else { "dump" };
    let answer =
        Swrk::start(&criu, Stdio3::Null, &keep).and_then(|swrk| swrk.call(&req, |_, _, _| Ok(())));
    let log = dirs.work_path.join(log_name(opts.pre_dump));
    match answer {
        Ok(resp) if resp.success() => {}
        Ok(resp) => {
            let kept = !dirs.made.contains(&dirs.work_path);
            return Err(dirs.fail(failure(&criu, what, &resp, &log, kept)));
        }
        Err(e) => return Err(dirs.fail(e)),
    }
    info.save(&dirs.image_path)?;
    if stops {
        if let Some(pidfd) = pidfd {
            pidfd.wait_exit(Duration::from_secs(10))?;
        }
        super::delete::destroy(&c, &teardown)?;
    }
    Ok(())
}

fn log_name(pre_dump: bool) -> &'static str {
    if pre_dump {
        "pre-dump.log"
    } else {
        "dump.log"
    }
}

fn dump_opts(
    c: &Container,
    opts: &CheckpointOptions,
    dirs: &Dirs,
    externals: &[External],
    info: &ImageInfo,
) -> Result<rpc::Criu_opts> {
    let mut o = base_opts(&opts.criu, dirs, log_name(opts.pre_dump));
    o.set_pid(c.record.pid);
    o.set_root(c.record.rootfs.to_string_lossy().into_owned());
    o.set_leave_running(opts.leave_running);
    if opts.pre_dump {
        o.set_track_mem(true);
    }
    if let Some(parent) = &opts.parent_path {
        o.set_parent_img(parent.to_string_lossy().into_owned());
        o.set_track_mem(true);
    }
    if let Some(fd) = opts.status_fd {
        o.set_status_fd(fd);
    }
    o.ext_mnt = externals::dump_map(externals);
    if let Some(ino) = info.external_netns {
        o.external.push(format!("net[{ino}]:{NETNS_KEY}"));
    }
    if let Some(tty) = &info.tty {
        // the pty's master is outside (the console socket's receiver): CRIU dumps the
        // slave as an external tty; restore gives it a new pty's slave under this key
        o.external.push(tty.clone());
    }
    if let Some(dir) = freezer(&c.record.cgroup_paths) {
        o.set_freeze_cgroup(dir.to_string_lossy().into_owned());
    }
    Ok(o)
}

/// CRIU's key for a network namespace joined by path (runc's name for it).
pub(crate) const NETNS_KEY: &str = "extRootNetNS";

/// The options dump and restore share.
pub(crate) fn base_opts(flags: &CriuFlags, dirs: &Dirs, log: &str) -> rpc::Criu_opts {
    let mut o = rpc::Criu_opts::new();
    o.set_images_dir_fd(dirs.images.as_raw_fd());
    o.set_work_dir_fd(dirs.work.as_raw_fd());
    o.set_log_level(4);
    o.set_log_file(log.into());
    o.set_manage_cgroups(true);
    o.set_notify_scripts(true);
    o.set_tcp_established(flags.tcp_established);
    o.set_ext_unix_sk(flags.ext_unix_sk);
    o.set_shell_job(flags.shell_job);
    o.set_file_locks(flags.file_locks);
    o.set_lazy_pages(flags.lazy_pages);
    o.set_auto_dedup(flags.auto_dedup);
    if let Some(mode) = flags.cgroups_mode {
        o.set_manage_cgroups_mode(mode.rpc());
    }
    o
}

/// The error for a request CRIU answered with failure: CRIU's own cause (its log's first
/// error, else its message, else its errno) and the CRIU and kernel versions. When `criu
/// check` fails too, the cause is said to be this kernel. `log` is named if it is kept.
pub(crate) fn failure(
    criu: &Criu,
    what: &str,
    resp: &rpc::Criu_resp,
    log: &Path,
    log_kept: bool,
) -> Error {
    let cause = crate::criu::log::first_error(log)
        .or_else(|| Some(resp.cr_errmsg().to_string()).filter(|m| !m.is_empty()))
        .unwrap_or_else(|| match resp.cr_errno() {
            0 => "no reason given".into(),
            n => nix::errno::Errno::from_raw(n).desc().into(),
        });
    if !criu.works_here() {
        return Error::Msg(format!(
            "CRIU {} does not work on this kernel (Linux {}: `criu check` fails): {cause}",
            criu.version,
            crate::criu::kernel_release()
        ));
    }
    let log = if log_kept {
        format!("; log {}", log.display())
    } else {
        String::new()
    };
    Error::Msg(format!(
        "criu {what} failed: {cause} ({}{log})",
        criu.describe()
    ))
}

/// The image and work directories, opened for CRIU; those hull created are removed again if
/// the request fails.
pub(crate) struct Dirs {
    pub image_path: PathBuf,
    pub work_path: PathBuf,
    pub images: OwnedFd,
    pub work: OwnedFd,
    made: Vec<PathBuf>,
}

impl Dirs {
    /// Create (checkpoint) the directories as needed and open them.
    fn make(image: &Path, work: Option<&Path>) -> Result<Dirs> {
        let mut made = Vec::new();
        let image_path = absolute_path(image)?;
        let work_path = work
            .map(absolute_path)
            .transpose()?
            .unwrap_or(image_path.clone());
        for dir in [&image_path, &work_path] {
            if !dir.exists() {
                std::fs::create_dir_all(dir).ctx(|| format!("create {}", dir.display()))?;
                made.push(dir.clone());
            }
        }
        Dirs::open(image_path, work_path, made)
    }

    /// Open existing directories (restore).
    pub(crate) fn existing(image: &Path, work: Option<&Path>) -> Result<Dirs> {
        let image_path = absolute_path(image)?;
        let work_path = work
            .map(absolute_path)
            .transpose()?
            .unwrap_or(image_path.clone());
        Dirs::open(image_path, work_path, Vec::new())
    }

    fn open(image_path: PathBuf, work_path: PathBuf, made: Vec<PathBuf>) -> Result<Dirs> {
        let dirs = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let opened = open(&image_path, dirs, Mode::empty())
            .ctx(|| format!("open image directory {}", image_path.display()))
            .and_then(|images| {
                let work = open(&work_path, dirs, Mode::empty())
                    .ctx(|| format!("open work directory {}", work_path.display()))?;
                Ok((images, work))
            });
        match opened {
            Ok((images, work)) => Ok(Dirs {
                image_path,
                work_path,
                images,
                work,
                made,
            }),
            Err(e) => {
                made.iter().for_each(|d| {
                    let _ = std::fs::remove_dir_all(d);
                });
                Err(e)
            }
        }
    }

    /// Remove what hull made, and hand `e` back.
    fn fail(self, e: Error) -> Error {
        for d in &self.made {
            let _ = std::fs::remove_dir_all(d);
        }
        e
    }
}

/// `p` made absolute against the current directory.
pub(crate) fn absolute_path(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir()
        .ctx(|| "read the current directory")?
        .join(p))
}

/// `--empty-ns` names as CLONE_NEW* bits; CRIU supports only the network namespace.
pub(crate) fn empty_ns_flags(names: &[String]) -> Result<Option<u32>> {
    let mut flags = 0u32;
    for n in names {
        match n.as_str() {
            "network" | "net" => flags |= libc::CLONE_NEWNET as u32,
            other => {
                return Err(Error::Msg(format!(
                    "--empty-ns {other:?}: only the network namespace can be left empty"
                )))
            }
        }
    }
    Ok((flags != 0).then_some(flags))
}

fn page_server(s: &str) -> Result<(String, i32)> {
    let bad = || Error::Msg(format!("--page-server {s:?}: use ADDRESS:PORT"));
    let (addr, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if addr.is_empty() {
        return Err(bad());
    }
    Ok((addr.trim_matches(['[', ']']).to_string(), port.into()))
}

fn check_parent(image: &Path, parent: &Path) -> Result<()> {
    if parent.is_absolute() {
        return Err(Error::Msg(format!(
            "--parent-path {}: must be relative to the image path",
            parent.display()
        )));
    }
    let image = absolute_path(image)?;
    // lexically: the image directory may not exist yet
    let mut dir = image.clone();
    for part in parent.components() {
        match part {
            std::path::Component::ParentDir => {
                dir.pop();
            }
            std::path::Component::Normal(p) => dir.push(p),
            _ => {}
        }
    }
    if !dir.is_dir() {
        return Err(Error::Msg(format!(
            "--parent-path {}: {} is not a directory (the images of a --pre-dump)",
            parent.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// CRIU's name for the terminal on init's stdio (`tty[<rdev>:<dev>]`, hex), if there is one.
fn terminal_of(pid: i32) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    (0..3).find_map(|fd| {
        let path = format!("/proc/{pid}/fd/{fd}");
        let target = std::fs::read_link(&path).ok()?;
        if !target.to_string_lossy().contains("/pts/") {
            return None;
        }
        let m = std::fs::metadata(&path).ok()?;
        Some(format!("tty[{:x}:{:x}]", m.rdev(), m.dev()))
    })
}

/// What fd `fd` of `pid` is (`pipe:[123]`, `/dev/null`, …), "" if it is closed.
fn stdio_of(pid: i32, fd: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The inode of the network namespace the container joined by path, if it did.
fn joined_netns(spec: &Spec) -> Result<Option<u64>> {
    use std::os::unix::fs::MetadataExt;
    let path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|nss| {
            nss.iter()
                .find(|ns| ns.typ() == LinuxNamespaceType::Network)
                .and_then(|ns| ns.path().clone())
        });
    match path {
        None => Ok(None),
        Some(p) => Ok(Some(
            std::fs::metadata(&p)
                .ctx(|| format!("stat network namespace {}", p.display()))?
                .ino(),
        )),
    }
}

/// The directory CRIU freezes the container with: the unified cgroup on v2, the freezer
/// hierarchy's on v1.
fn freezer(paths: &std::collections::BTreeMap<String, PathBuf>) -> Option<&PathBuf> {
    paths.get("freezer").or_else(|| paths.get(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_checked() {
        assert_eq!(
            empty_ns_flags(&["network".into()]).unwrap(),
            Some(libc::CLONE_NEWNET as u32)
        );
        assert!(empty_ns_flags(&["pid".into()]).is_err());
        assert_eq!(
            page_server("127.0.0.1:2001").unwrap(),
            ("127.0.0.1".into(), 2001)
        );
        assert_eq!(page_server("[::1]:80").unwrap(), ("::1".into(), 80));
        assert!(page_server("127.0.0.1").is_err());
        assert!(page_server("h:99999").is_err());
        assert!(CgroupsMode::parse("soft").is_ok());
        assert!(CgroupsMode::parse("props").is_err());
    }
}
