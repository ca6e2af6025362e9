//! Mounting every entry of `mounts`, in order, onto targets resolved inside the rootfs.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::Mount;

use super::inroot::{self, Create};
use super::mount_options::{self, MountOptions};
use super::tmpcopyup;
use crate::bootstrap::idmap_mount;
use crate::error::{Context, Error, Result};

/// A `ro` tmpfs on `/dev`, mounted writable so that the device nodes, `/dev/pts` and the
/// symlinks can be made in it; [`DevReadOnly::finish`] makes it read-only afterwards.
#[derive(Debug)]
pub struct DevReadOnly(Option<MountOptions>);

impl DevReadOnly {
    /// Remount `/dev` read-only, if it was asked.
    pub fn finish(&self, root: &OwnedFd) -> Result<()> {
        match &self.0 {
            Some(opts) => remount_tmpfs_read_only(root, Path::new("/dev"), opts),
            None => Ok(()),
        }
    }
}

/// Asks the parent for the source of `mounts[index]` (see `bootstrap::mount_sources`): an
/// `O_PATH` fd, or a detached id-mapped copy; `None` when it has none to give.
pub type AskParent<'a> = &'a dyn Fn(usize) -> Result<Option<OwnedFd>>;

/// Mount every entry of `mounts` under the rootfs `rootfs`, opened as `root`. A mount that
/// lands on the root itself (destination `/`, or a symlink to it) replaces the rootfs, as in
/// runc: `root` is reopened on it, so the later mounts (and the devices) are made on top of it.
pub fn mount_all(
    root: &mut OwnedFd,
    rootfs: &Path,
    bundle: &Path,
    mounts: &[Mount],
    new_cgroupns: bool,
    ask_parent: AskParent<'_>,
) -> Result<DevReadOnly> {
    let mut dev = DevReadOnly(None);
    for (i, m) in mounts.iter().enumerate() {
        let ro_dev = mount_entry(root, rootfs, bundle, i, m, new_cgroupns, ask_parent)
            .map_err(|e| naming(i, m.destination(), e))?;
        if ro_dev.is_some() {
            dev = DevReadOnly(ro_dev);
        }
    }
    Ok(dev)
}

/// `e`, saying first which mount it is about (`mounts[i] (/dest)`) unless it already does.
fn naming(i: usize, dest: &Path, e: Error) -> Error {
    let at = format!("mounts[{i}]");
    let named = |what: String| match what.starts_with(&at) {
        true => what,
        false => format!("{at} ({}): {what}", dest.display()),
    };
    match e {
        Error::Sys { what, source } => Error::Sys {
            what: named(what),
            source,
        },
        Error::Io { what, source } => Error::Io {
            what: named(what),
            source,
        },
        Error::Msg(what) => Error::Msg(named(what)),
        other => other,
    }
}

/// Make mount `i` (`m`); returns its options when it is a `ro` `/dev` tmpfs, left writable
/// for now (see [`DevReadOnly`]).
fn mount_entry(
    root: &mut OwnedFd,
    rootfs: &Path,
    bundle: &Path,
    i: usize,
    m: &Mount,
    new_cgroupns: bool,
    ask_parent: AskParent<'_>,
) -> Result<Option<MountOptions>> {
    let idmapped = match idmap_mount::is_idmapped(m) {
        true => Some(
            ask_parent(i)?
                .ok_or_else(|| Error::Msg("the id-mapped mount was not made".to_string()))?,
        ),
        false => None,
    };
    let source = match mount_options::parse(m.options().as_deref().unwrap_or_default()).is_bind() {
        true => Some(BindSource::find(
            crate::spec::query::mount_source(bundle, m),
            || ask_parent(i),
        )?),
        false => None,
    };
    let replaces_root =
        super::procfs::check_mount(root, i, m, source.as_ref().map(BindSource::path).as_deref())?;
    let opts = mount_options::parse(m.options().as_deref().unwrap_or_default());
    let dev_ro = m.typ().as_deref() == Some("tmpfs")
        && m.destination() == Path::new("/dev")
        && opts.flags.contains(MsFlags::MS_RDONLY);
    let after = mount_one(
        root,
        source.as_ref(),
        m,
        new_cgroupns,
        idmapped.as_ref(),
        dev_ro,
    )?;
    if replaces_root {
        *root = inroot::open_root(rootfs)?;
    }
    finish_one(root, m, after, dev_ro)?;
    Ok(dev_ro.then_some(opts))
}

/// The source of a bind mount: the path the config names and, when init may not reach it (a
/// user namespace), the fd the parent opened on it, through which it is reached.
struct BindSource {
    named: PathBuf,
    opened: Option<OwnedFd>,
}

impl BindSource {
    /// The source `named`; if init is refused it (EACCES, EPERM), the fd `ask` gets from the
    /// parent, if any (else the refusal is reported when it is mounted).
    fn find(named: PathBuf, ask: impl FnOnce() -> Result<Option<OwnedFd>>) -> Result<BindSource> {
        let opened = match std::fs::metadata(&named) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => ask()?,
            _ => None,
        };
        Ok(BindSource { named, opened })
    }

    /// The path to reach the source by: the opened fd's, else the named one.
    fn path(&self) -> std::borrow::Cow<'_, Path> {
        match &self.opened {
            Some(fd) => inroot::fd_path(fd).into(),
            None => self.named.as_path().into(),
        }
    }
}

/// What is left to do once a mount is made: remount a bind with its flags, or fill a tmpfs
/// from the directory it covers; then the recursive attributes and the propagation.
enum After {
    Remount(MountOptions),
    Tmpfs(Option<OwnedFd>),
    Nothing,
}

/// Make mount `m` itself (the part that depends on what was there before it).
fn mount_one(
    root: &OwnedFd,
    bind_source: Option<&BindSource>,
    m: &Mount,
    new_cgroupns: bool,
    idmapped: Option<&OwnedFd>,
    read_only_later: bool,
) -> Result<After> {
    let opts = mount_options::parse(m.options().as_deref().unwrap_or_default());
    let dest = m.destination();
    let typ = m.typ().as_deref().unwrap_or("");
    if let Some(tree) = idmapped {
        attach_idmapped(root, tree, dest)?;
        return Ok(After::Remount(opts));
    }
    if let Some(source) = bind_source {
        if opts.copy_symlink && source.named.is_symlink() {
            copy_symlink(root, &source.named, dest)?;
            return Ok(After::Nothing);
        }
        bind_only(root, &source.path(), &source.named, dest, &opts)?;
        return Ok(After::Remount(opts));
    }
    if typ == "cgroup" || typ == "cgroup2" {
        super::cgroupfs::mount(root, dest, &opts, new_cgroupns)?;
        return Ok(After::Nothing);
    }
    let source = m
        .source()
        .as_deref()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(typ));
    // A tmpfs may need the directory it covers, if there was one: to copy it
    // (tmpcopyup), or for its mode.
    let (target, made) = inroot::open_noting_made(root, dest, Create::Dir)?;
    let covered = match typ == "tmpfs" && !made {
        true => Some(tmpcopyup::open_dir(&target).ctx(|| format!("open {}", dest.display()))?),
        false => None,
    };
    let mut flags = opts.flags.difference(MsFlags::MS_REMOUNT);
    if opts.tmpcopyup || read_only_later {
        // written to first, made read-only after the copy (or by the caller)
        flags.remove(MsFlags::MS_RDONLY);
    }
    let data = opts.data();
    match mount(
        Some(&source),
        &inroot::fd_path(&target),
        Some(typ),
        flags,
        data.as_deref(),
    ) {
        // sysfs cannot be mounted without a network namespace of our own: bind the host's.
        Err(Errno::EPERM) if typ == "sysfs" => {
            let fallback = mount_options::parse(&["rbind", "nosuid", "nodev", "noexec", "ro"]);
            let sys = Path::new("/sys");
            bind_only(root, sys, sys, dest, &fallback)?;
            Ok(After::Remount(fallback))
        }
        other => {
            other.ctx(|| {
                let data = data
                    .as_deref()
                    .map(|d| format!(" with data {d:?}"))
                    .unwrap_or_default();
                format!(
                    "mount {typ} {} on {}{data}",
                    source.display(),
                    dest.display()
                )
            })?;
            Ok(match typ {
                "tmpfs" => After::Tmpfs(covered),
                _ => After::Nothing,
            })
        }
    }
}

/// The rest of mount `m` once it is made (see [`After`]), on the mount now at its destination.
fn finish_one(root: &OwnedFd, m: &Mount, after: After, read_only_later: bool) -> Result<()> {
    let opts = mount_options::parse(m.options().as_deref().unwrap_or_default());
    let dest = m.destination();
    match after {
        After::Remount(asked) => remount_with_options(root, dest, &asked)?,
        After::Tmpfs(covered) => {
            if let Some(covered) = covered {
                fill_tmpfs(root, dest, &opts, &covered)?;
            }
            if opts.tmpcopyup && !read_only_later && opts.flags.contains(MsFlags::MS_RDONLY) {
                remount_tmpfs_read_only(root, dest, &opts)?;
            }
        }
        After::Nothing => {}
    }
    if !opts.recursive.is_empty() {
        let mounted = open_dest(root, dest, &opts, Create::Nothing)?;
        opts.recursive.apply(&mounted).ctx(|| {
            let asked: Vec<&str> = m
                .options()
                .iter()
                .flatten()
                .map(String::as_str)
                .filter(|o| super::recursive_attrs::OPTIONS.contains(o))
                .collect();
            format!(
                "set {} on {} and every mount under it",
                asked.join(","),
                dest.display()
            )
        })?;
    }
    set_propagation(root, dest, &opts)
}

/// A new tmpfs at `dest`: with `tmpcopyup`, copy in the directory it covers; without, give its root the mode of that directory unless `mode=` says
/// otherwise (runc alike).
fn fill_tmpfs(root: &OwnedFd, dest: &Path, opts: &MountOptions, covered: &OwnedFd) -> Result<()> {
    let keep_mode = opts.has_data_key("mode");
    if !opts.tmpcopyup && keep_mode {
        return Ok(());
    }
    let mounted = inroot::open(root, dest, Create::Nothing)?;
    let top = tmpcopyup::open_dir(&mounted).ctx(|| format!("open the tmpfs {}", dest.display()))?;
    let what = dest.display().to_string();
    if opts.tmpcopyup {
        let keep_owner = opts.has_data_key("uid") || opts.has_data_key("gid");
        tmpcopyup::copy_up(covered, &top, keep_owner, keep_mode, &what)
    } else {
        tmpcopyup::copy_mode(covered, &top).ctx(|| format!("chmod the tmpfs {}", dest.display()))
    }
}

/// Remount the tmpfs at `dest` with its options, read-only.
fn remount_tmpfs_read_only(root: &OwnedFd, dest: &Path, opts: &MountOptions) -> Result<()> {
    let mounted = inroot::open(root, dest, Create::Nothing)?;
    let flags = opts.flags.difference(MsFlags::MS_BIND | MsFlags::MS_REC)
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY;
    mount(
        None::<&str>,
        &inroot::fd_path(&mounted),
        None::<&str>,
        flags,
        opts.data().as_deref(),
    )
    .ctx(|| format!("remount the tmpfs {} read-only", dest.display()))
}

/// Bind-mount a host path, then remount with the requested flags if any.
pub fn bind(root: &OwnedFd, source: &Path, dest: &Path, opts: &MountOptions) -> Result<()> {
    bind_only(root, source, source, dest, opts)?;
    remount_with_options(root, dest, opts)
}

/// Bind-mount a host path onto `dest` (bind or rbind only: no other flag yet). `source` is
/// how it is reached, `named` how messages name it.
fn bind_only(
    root: &OwnedFd,
    source: &Path,
    named: &Path,
    dest: &Path,
    opts: &MountOptions,
) -> Result<()> {
    // (a source the parent opened is reached through its fd, already followed)
    let unfollowed = match opts.src_nofollow && source == named {
        true => Some(
            nix::fcntl::open(
                source,
                OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ctx(|| format!("bind mount source {}", named.display()))?,
        ),
        false => None,
    };
    let source = match &unfollowed {
        Some(fd) => inroot::fd_path(fd),
        None => source.to_path_buf(),
    };
    let meta =
        std::fs::metadata(&source).ctx(|| format!("bind mount source {}", named.display()))?;
    let create = if meta.is_dir() {
        Create::Dir
    } else {
        Create::File
    };
    let target = open_dest(root, dest, opts, create)?;
    let bind_flags = opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
    mount(
        Some(&source),
        &inroot::fd_path(&target),
        None::<&str>,
        bind_flags,
        None::<&str>,
    )
    .ctx(|| format!("bind mount {} on {}", named.display(), dest.display()))
}

/// `copy-symlink`: make at `dest` a symlink with the target of the symlink `source`.
fn copy_symlink(root: &OwnedFd, source: &Path, dest: &Path) -> Result<()> {
    let target =
        std::fs::read_link(source).ctx(|| format!("read the symlink {}", source.display()))?;
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
        return Err(Error::Msg(format!("copy-symlink onto {}", dest.display())));
    };
    let dir = inroot::open(root, parent, Create::Dir)?;
    nix::unistd::symlinkat(&target, dir.as_fd(), name).ctx(|| {
        format!(
            "copy the symlink {} to {}",
            source.display(),
            dest.display()
        )
    })
}

/// Attach a detached id-mapped mount made by the parent (see `bootstrap::idmap_mount`) onto
/// `dest`; its flags are set afterwards, as for [`bind`].
fn attach_idmapped(root: &OwnedFd, tree: &OwnedFd, dest: &Path) -> Result<()> {
    let is_dir = nix::sys::stat::fstat(tree.as_fd())
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .ctx(|| format!("stat the id-mapped source of {}", dest.display()))?;
    let create = if is_dir { Create::Dir } else { Create::File };
    let target = inroot::open(root, dest, create)?;
    idmap_mount::attach(tree, &target)
        .ctx(|| format!("move the id-mapped mount onto {}", dest.display()))
}

/// Open `dest` inside `root` (creating what `create` says), not following a last symlink with
/// `dest-nofollow`.
fn open_dest(root: &OwnedFd, dest: &Path, opts: &MountOptions, create: Create) -> Result<OwnedFd> {
    match opts.dest_nofollow {
        true => inroot::open_unfollowed(root, dest, create),
        false => inroot::open(root, dest, create),
    }
}

/// Remount the bind mount at `dest` with the flags of `opts` beyond bind/rbind, if any.
fn remount_with_options(root: &OwnedFd, dest: &Path, opts: &MountOptions) -> Result<()> {
    let extra = opts
        .flags
        .difference(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if extra.is_empty() && opts.cleared.is_empty() {
        return Ok(());
    }
    let mounted = open_dest(root, dest, opts, Create::Nothing)?;
    super::remount::remount_bind_as_asked(&inroot::fd_path(&mounted), extra, opts.cleared).ctx(
        || {
            format!(
                "remount {} with {}",
                dest.display(),
                flag_names(extra, opts.cleared)
            )
        },
    )
}

/// `ro,nosuid,...` for the flags set and `rw,suid,...` for those cleared, for messages.
fn flag_names(set: MsFlags, cleared: MsFlags) -> String {
    let names: Vec<&str> = mount_options::known_options()
        .into_iter()
        .filter(|o| {
            let p = mount_options::parse(&[*o]);
            let (s, c) = (p.flags.difference(MsFlags::MS_BIND), p.cleared);
            (!s.is_empty() && set.contains(s)) || (!c.is_empty() && cleared.contains(c))
        })
        .collect();
    names.join(",")
}

fn set_propagation(root: &OwnedFd, dest: &Path, opts: &MountOptions) -> Result<()> {
    if opts.propagation.is_empty() {
        return Ok(());
    }
    let mounted = open_dest(root, dest, opts, Create::Nothing)?;
    for p in &opts.propagation {
        mount(
            None::<&str>,
            &inroot::fd_path(&mounted),
            None::<&str>,
            *p,
            None::<&str>,
        )
        .ctx(|| format!("set propagation {p:?} on {}", dest.display()))?;
    }
    Ok(())
}
