//! Translating a mount's `options` list into mount flags, propagation changes and fs data,
//! with runc's vocabulary.

use nix::mount::MsFlags;

use super::recursive_attrs::RecursiveAttrs;

/// A parsed `options` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for `mount(2)` (includes `MS_BIND`/`MS_REC` for bind and rbind).
    pub flags: MsFlags,
    /// Flags the options explicitly clear (`rw`, `suid`, `dev`, `exec`, ...), which a bind
    /// remount must not keep from the source.
    pub cleared: MsFlags,
    /// Propagation changes to apply after mounting, in order.
    pub propagation: Vec<MsFlags>,
    /// The recursive options (`rro`, ...), applied to the whole tree with `mount_setattr`.
    pub recursive: RecursiveAttrs,
    /// `tmpcopyup`: fill a new tmpfs with a copy of the directory it covers.
    pub tmpcopyup: bool,
    /// `src-nofollow` (crun's): a bind source that is a symlink is bound itself, not followed.
    pub src_nofollow: bool,
    /// `dest-nofollow` (crun's): a destination that is a symlink is mounted on, not followed.
    pub dest_nofollow: bool,
    /// `copy-symlink` (crun's): a bind source that is a symlink is copied (a new symlink with
    /// its target at the destination) instead of mounted.
    pub copy_symlink: bool,
    /// Everything else, passed to the filesystem as `data` (comma-joined).
    pub data: Vec<String>,
}

impl MountOptions {
    /// Whether `bind` or `rbind` was given.
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// The `data` argument for `mount(2)`, or None when empty.
    pub fn data(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }

    /// Whether the data sets `key=` (e.g. `mode`, `uid`) for the filesystem.
    pub fn has_data_key(&self, key: &str) -> bool {
        self.data
            .iter()
            .any(|d| d.split_once('=').is_some_and(|(k, _)| k == key))
    }
}

/// Flags an option sets (`true`) or clears (`false`): runc's list, the kernel's `MS_*` flags.
fn flag_option(opt: &str) -> Option<(bool, MsFlags)> {
    use MsFlags as F;
    Some(match opt {
        "ro" => (true, F::MS_RDONLY),
        "rw" => (false, F::MS_RDONLY),
        "nosuid" => (true, F::MS_NOSUID),
        "suid" => (false, F::MS_NOSUID),
        "nodev" => (true, F::MS_NODEV),
        "dev" => (false, F::MS_NODEV),
        "noexec" => (true, F::MS_NOEXEC),
        "exec" => (false, F::MS_NOEXEC),
        "sync" => (true, F::MS_SYNCHRONOUS),
        "async" => (false, F::MS_SYNCHRONOUS),
        "dirsync" => (true, F::MS_DIRSYNC),
        "remount" => (true, F::MS_REMOUNT),
        "mand" => (true, F::MS_MANDLOCK),
        "nomand" => (false, F::MS_MANDLOCK),
        "atime" => (false, F::MS_NOATIME),
        "noatime" => (true, F::MS_NOATIME),
        "diratime" => (false, F::MS_NODIRATIME),
        "nodiratime" => (true, F::MS_NODIRATIME),
        "relatime" => (true, F::MS_RELATIME),
        "norelatime" => (false, F::MS_RELATIME),
        "strictatime" => (true, F::MS_STRICTATIME),
        "nostrictatime" => (false, F::MS_STRICTATIME),
        "nosymfollow" => (true, MS_NOSYMFOLLOW),
        "symfollow" => (false, MS_NOSYMFOLLOW),
        "acl" => (true, F::MS_POSIXACL),
        "noacl" => (false, F::MS_POSIXACL),
        "silent" => (true, F::MS_SILENT),
        "loud" => (false, F::MS_SILENT),
        "iversion" => (true, F::MS_I_VERSION),
        "noiversion" => (false, F::MS_I_VERSION),
        "lazytime" => (true, F::MS_LAZYTIME),
        "nolazytime" => (false, F::MS_LAZYTIME),
        "defaults" => (true, F::empty()),
        "bind" => (true, F::MS_BIND),
        "rbind" => (true, F::MS_BIND | F::MS_REC),
        _ => return None,
    })
}

/// `MS_NOSYMFOLLOW` (Linux 5.10), which nix does not name.
pub const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(256);

/// Options hull handles apart from flags and propagation: `idmap` and `ridmap` (with or
/// without a value), in `bootstrap/idmap_mount.rs`, and `tmpcopyup`.
fn is_extension(opt: &str) -> bool {
    let name = opt.split_once('=').map_or(opt, |(n, _)| n);
    matches!(name, "idmap" | "ridmap") || opt == "tmpcopyup"
}

/// Every option word hull interprets itself (the rest is filesystem data): what
/// `hull features` advertises as `mountOptions`.
pub fn known_options() -> Vec<&'static str> {
    const WORDS: &[&str] = &[
        "ro",
        "rw",
        "nosuid",
        "suid",
        "nodev",
        "dev",
        "noexec",
        "exec",
        "sync",
        "async",
        "dirsync",
        "remount",
        "mand",
        "nomand",
        "atime",
        "noatime",
        "diratime",
        "nodiratime",
        "relatime",
        "norelatime",
        "strictatime",
        "nostrictatime",
        "nosymfollow",
        "symfollow",
        "acl",
        "noacl",
        "silent",
        "loud",
        "iversion",
        "noiversion",
        "lazytime",
        "nolazytime",
        "defaults",
        "bind",
        "rbind",
        "private",
        "rprivate",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "unbindable",
        "runbindable",
        "tmpcopyup",
        "src-nofollow",
        "dest-nofollow",
        "copy-symlink",
        "idmap",
        "ridmap",
    ];
    let mut all = WORDS.to_vec();
    all.extend(super::recursive_attrs::OPTIONS);
    all.sort_unstable();
    all
}

/// The propagation change an option or a `rootfsPropagation` value names; None if unknown.
pub fn propagation(opt: &str) -> Option<MsFlags> {
    use MsFlags as F;
    Some(match opt {
        "private" => F::MS_PRIVATE,
        "rprivate" => F::MS_PRIVATE | F::MS_REC,
        "shared" => F::MS_SHARED,
        "rshared" => F::MS_SHARED | F::MS_REC,
        "slave" => F::MS_SLAVE,
        "rslave" => F::MS_SLAVE | F::MS_REC,
        "unbindable" => F::MS_UNBINDABLE,
        "runbindable" => F::MS_UNBINDABLE | F::MS_REC,
        _ => return None,
    })
}

/// Parse an `options` list; unknown words become filesystem data, as runc does, and the
/// id-mapping options are left to `bootstrap/idmap_mount.rs`.
pub fn parse<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut parsed = MountOptions {
        flags: MsFlags::empty(),
        cleared: MsFlags::empty(),
        propagation: Vec::new(),
        recursive: RecursiveAttrs::default(),
        tmpcopyup: false,
        src_nofollow: false,
        dest_nofollow: false,
        copy_symlink: false,
        data: Vec::new(),
    };
    for opt in options.iter().map(AsRef::as_ref) {
        if let Some((set, flag)) = flag_option(opt) {
            if set {
                parsed.flags |= flag;
                parsed.cleared.remove(flag);
            } else {
                parsed.flags.remove(flag);
                parsed.cleared |= flag;
            }
        } else if let Some(p) = propagation(opt) {
            parsed.propagation.push(p);
        } else if parsed.recursive.add(opt) {
        } else if opt == "tmpcopyup" {
            parsed.tmpcopyup = true;
        } else if opt == "src-nofollow" {
            parsed.src_nofollow = true;
        } else if opt == "dest-nofollow" {
            parsed.dest_nofollow = true;
        } else if opt == "copy-symlink" {
            parsed.copy_symlink = true;
        } else if !opt.is_empty() && !is_extension(opt) {
            parsed.data.push(opt.to_string());
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_data_and_propagation_are_separated() {
        let o = parse(&[
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
            "rslave",
            "ro",
        ]);
        assert_eq!(
            o.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME | MsFlags::MS_RDONLY
        );
        assert_eq!(o.data().as_deref(), Some("mode=755,size=65536k"));
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let o = parse(&["ro", "rw", "noexec", "exec", "nodev"]);
        assert_eq!(o.flags, MsFlags::MS_NODEV);
    }

    #[test]
    fn rbind_is_recursive_bind() {
        let o = parse(&["rbind", "ro"]);
        assert!(o.is_bind());
        assert!(o.flags.contains(MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert_eq!(o.data(), None);
    }

    #[test]
    fn every_advertised_option_is_interpreted_not_passed_as_data() {
        for opt in known_options() {
            assert_eq!(parse(&[opt]).data(), None, "{opt}");
        }
        assert_eq!(parse(&["idmap=uids=0-1-1"]).data(), None);
    }

    #[test]
    fn tmpcopyup_and_cleared_flags() {
        let o = parse(&["rw", "tmpcopyup", "suid", "nosymfollow"]);
        assert!(o.tmpcopyup);
        assert_eq!(o.cleared, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
        assert_eq!(o.flags, MS_NOSYMFOLLOW);
        assert_eq!(
            parse(&["nosymfollow", "ro"]).flags,
            MS_NOSYMFOLLOW | MsFlags::MS_RDONLY
        );
        let o = parse(&["suid", "nosuid"]);
        assert_eq!((o.flags, o.cleared), (MsFlags::MS_NOSUID, MsFlags::empty()));
    }
}
