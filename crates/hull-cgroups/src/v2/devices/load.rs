//! The bpf(2) side: loading the device filter and attaching it to a cgroup directory.
//!
//! Programs are attached with `BPF_F_ALLOW_MULTI` (so they compose with those of ancestor
//! cgroups and of other managers) and named [`PROG_NAME`], which is how a later `set` finds
//! the program hull attached before. Replacing it never leaves the cgroup unfiltered: with
//! exactly one old program, the new one takes its place atomically (`BPF_F_REPLACE`, Linux
//! 5.6+); otherwise the new one is attached first and the old ones are detached after (in
//! between, both apply, which only denies more). Programs not named by hull are left alone:
//! an extra device program can only deny more.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{CgroupError, Result};

/// `BPF_PROG_LOAD`, `BPF_PROG_ATTACH`, ... (`enum bpf_cmd`).
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
const BPF_PROG_QUERY: libc::c_int = 16;
/// `BPF_PROG_TYPE_CGROUP_DEVICE`.
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE` (`enum bpf_attach_type`).
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;
const BPF_F_REPLACE: u32 = 1 << 2;

/// The name hull gives its device programs (at most 15 bytes: `BPF_OBJ_NAME_LEN` - 1).
pub(crate) const PROG_NAME: &str = "hull_devices";

/// The program uses no kernel helper, so it needs no GPL-compatible license.
const LICENSE: &CStr = c"Apache-2.0";

/// The `BPF_PROG_LOAD` part of `union bpf_attr`, up to `expected_attach_type`.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH`/`BPF_PROG_DETACH` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// The `BPF_PROG_QUERY` part of `union bpf_attr`, up to `prog_cnt`.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// The `BPF_PROG_GET_FD_BY_ID` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// The `BPF_OBJ_GET_INFO_BY_FD` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// `struct bpf_prog_info` up to `name` (offset 64, 16 bytes).
#[repr(C, align(8))]
struct ProgInfo([u8; 80]);
const PROG_INFO_NAME: std::ops::Range<usize> = 64..80;

/// Calls bpf(2) with `attr`, returning its non-negative result.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed `#[repr(C)]` prefix of `union bpf_attr`
    // for `cmd`, and its size is passed, so the kernel reads and writes only inside it. Any
    // pointer inside it was set by the caller to a buffer that outlives this call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Takes ownership of a file descriptor bpf(2) just returned.
fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: `fd` is a new descriptor returned by the kernel for this call only, so nothing
    // else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) }
}

fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd() as u32
}

/// Loads `code` as a cgroup device program. On `EPERM` (kernels before 5.11 charge BPF
/// memory to `RLIMIT_MEMLOCK`) the limit is raised for the one retry and then restored, so
/// processes started later by this one do not inherit it. If the kernel rejects the
/// program, the verifier log is in the error.
pub(crate) fn load(code: &[u8], dir: &Path) -> Result<OwnedFd> {
    let fail = |e: io::Error| {
        CgroupError::io(
            "load the linux.resources.devices eBPF filter (BPF_PROG_LOAD) for",
            dir,
            e,
        )
    };
    match load_once(code, PROG_NAME, None) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            with_unlimited_memlock(|| load_once(code, PROG_NAME, None)).map_err(fail)
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EACCES)) => {
            let mut log = vec![0u8; 1 << 16];
            match load_once(code, PROG_NAME, Some(&mut log)) {
                Ok(fd) => Ok(fd),
                Err(_) => {
                    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                    Err(CgroupError::invalid(
                        "linux.resources.devices",
                        format!(
                            "the kernel rejected the generated eBPF device filter ({e}): {}",
                            String::from_utf8_lossy(&log[..end]).trim()
                        ),
                    ))
                }
            }
        }
        other => other.map_err(fail),
    }
}

fn load_once(code: &[u8], name: &str, log: Option<&mut Vec<u8>>) -> io::Result<OwnedFd> {
    let name = {
        let mut buf = [0u8; 16];
        let n = name.len().min(15);
        buf[..n].copy_from_slice(&name.as_bytes()[..n]);
        buf
    };
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: (code.len() / 8) as u32,
        insns: code.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    if let Some(log) = log {
        attr.log_level = 1;
        attr.log_size = log.len() as u32;
        attr.log_buf = log.as_mut_ptr() as u64;
    }
    bpf(BPF_PROG_LOAD, &mut attr).map(owned)
}

fn with_unlimited_memlock<T>(f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `old` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut old) } != 0 {
        return f();
    }
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `unlimited` is a valid rlimit; failure (no CAP_SYS_RESOURCE) is harmless.
    let raised = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } == 0;
    let r = f();
    if raised {
        // SAFETY: `old` is the valid rlimit read above; lowering is always allowed.
        unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &old) };
    }
    r
}

/// Attaches `prog` to the cgroup directory `dir` and detaches the device programs hull
/// attached there before (see the module documentation).
pub(crate) fn attach(dir: &Path, prog: BorrowedFd<'_>) -> Result<()> {
    let file = File::open(dir).map_err(|e| CgroupError::io("open cgroup directory", dir, e))?;
    let cg = file.as_fd();
    let old = hull_programs(cg).map_err(|e| {
        CgroupError::io("query the linux.resources.devices eBPF filters of", dir, e)
    })?;
    if let [only] = old.as_slice() {
        match attach_raw(cg, prog, Some(only.as_fd())) {
            Ok(()) => return Ok(()),
            // No BPF_F_REPLACE (before 5.6), or the old program went away meanwhile.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => {}
            Err(e) => return Err(attach_error(dir, e)),
        }
    }
    attach_raw(cg, prog, None).map_err(|e| attach_error(dir, e))?;
    for p in &old {
        match detach_raw(cg, p.as_fd()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => {
                return Err(CgroupError::io(
                    "detach the previous linux.resources.devices eBPF filter from",
                    dir,
                    e,
                ))
            }
        }
    }
    Ok(())
}

fn attach_error(dir: &Path, e: io::Error) -> CgroupError {
    CgroupError::io(
        "attach the linux.resources.devices eBPF filter (BPF_PROG_ATTACH, BPF_CGROUP_DEVICE) to",
        dir,
        e,
    )
}

fn attach_raw(
    cg: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    replace: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: fd_u32(cg),
        attach_bpf_fd: fd_u32(prog),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    if let Some(old) = replace {
        attr.attach_flags |= BPF_F_REPLACE;
        attr.replace_bpf_fd = fd_u32(old);
    }
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

fn detach_raw(cg: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: fd_u32(cg),
        attach_bpf_fd: fd_u32(prog),
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// The ids of the device programs attached directly to the cgroup (not inherited ones).
fn attached_ids(cg: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    for _ in 0..10 {
        let mut attr = QueryAttr {
            target_fd: fd_u32(cg),
            attach_type: BPF_CGROUP_DEVICE,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..Default::default()
        };
        match bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            // More programs than room: prog_cnt now says how many.
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                ids = vec![0; attr.prog_cnt.max(ids.len() as u32 * 2) as usize];
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("the attached programs kept changing"))
}

/// Opens the attached device programs named [`PROG_NAME`]. Programs this process may not
/// open (`EPERM`/`EACCES`, e.g. an LSM policy) or that went away meanwhile are skipped.
fn hull_programs(cg: BorrowedFd<'_>) -> io::Result<Vec<OwnedFd>> {
    let mut out = Vec::new();
    for id in attached_ids(cg)? {
        let mut attr = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        let fd = match bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) {
            Ok(fd) => owned(fd),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EPERM | libc::EACCES | libc::ENOENT)
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        if program_info(fd.as_fd())?.1 == PROG_NAME {
            out.push(fd);
        }
    }
    Ok(out)
}

/// The id and name of a loaded program.
fn program_info(prog: BorrowedFd<'_>) -> io::Result<(u32, String)> {
    let mut info = ProgInfo([0; 80]);
    let mut attr = InfoAttr {
        bpf_fd: fd_u32(prog),
        info_len: info.0.len() as u32,
        info: info.0.as_mut_ptr() as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let id = u32::from_ne_bytes([info.0[4], info.0[5], info.0[6], info.0[7]]);
    let name = &info.0[PROG_INFO_NAME];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok((id, String::from_utf8_lossy(&name[..end]).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<ProgLoadAttr>(), 72);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(std::mem::size_of::<AttachAttr>(), 20);
        assert_eq!(std::mem::offset_of!(QueryAttr, prog_ids), 16);
        assert_eq!(std::mem::offset_of!(QueryAttr, prog_cnt), 24);
        assert_eq!(std::mem::offset_of!(InfoAttr, info), 8);
        assert!(PROG_NAME.len() < 16);
    }

    /// `r0 = 1; exit`.
    const ALLOW_ALL: [u8; 16] = [0xb4, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];

    /// A fresh cgroup2 directory, removed on drop; `None` without root or cgroup2.
    struct Cgroup(std::path::PathBuf);

    impl Cgroup {
        fn new() -> Option<Cgroup> {
            if !nix::unistd::geteuid().is_root() {
                return None;
            }
            let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
            let mount = crate::detect::parse_mountinfo(&text)
                .ok()?
                .unified?
                .mount_point;
            let dir = mount.join(format!("hull-unit-bpf-{}", std::process::id()));
            std::fs::create_dir(&dir).ok()?;
            Some(Cgroup(dir))
        }
    }

    impl Drop for Cgroup {
        fn drop(&mut self) {
            if let Ok(f) = File::open(&self.0) {
                for id in attached_ids(f.as_fd()).unwrap_or_default() {
                    let mut attr = GetFdAttr {
                        prog_id: id,
                        ..Default::default()
                    };
                    if let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) {
                        let _ = detach_raw(f.as_fd(), owned(fd).as_fd());
                    }
                }
            }
            let _ = std::fs::remove_dir(&self.0);
        }
    }

    fn id(fd: &OwnedFd) -> u32 {
        program_info(fd.as_fd()).unwrap().0
    }

    /// Needs root: replacing detaches every earlier hull program, keeps foreign ones, and
    /// uses BPF_F_REPLACE (same position) when there is exactly one.
    #[test]
    fn attach_replaces_only_hull_programs() {
        let Some(cg) = Cgroup::new() else {
            eprintln!("skipping: needs root and a cgroup2 mount");
            return;
        };
        let file = File::open(&cg.0).unwrap();
        let target = file.as_fd();
        let ids = || attached_ids(target).unwrap();
        let hull = || load(&ALLOW_ALL, &cg.0).unwrap();
        let (a, foreign, b) = (
            hull(),
            load_once(&ALLOW_ALL, "other_filter", None).unwrap(),
            hull(),
        );
        assert_eq!(program_info(foreign.as_fd()).unwrap().1, "other_filter");
        for p in [&a, &foreign, &b] {
            attach_raw(target, p.as_fd(), None).unwrap();
        }
        assert_eq!(ids(), [id(&a), id(&foreign), id(&b)]);

        let c = hull();
        attach(&cg.0, c.as_fd()).unwrap();
        assert_eq!(ids(), [id(&foreign), id(&c)]);

        let later = load_once(&ALLOW_ALL, "other_filter", None).unwrap();
        attach_raw(target, later.as_fd(), None).unwrap();
        let d = hull();
        attach(&cg.0, d.as_fd()).unwrap();
        assert_eq!(
            ids(),
            [id(&foreign), id(&d), id(&later)],
            "replaced in place"
        );
    }
}
