//! ENOSYS for syscalls newer than a seccomp profile, and loading the patched program.
//!
//! A profile written for an older kernel denies a syscall it has never heard of with its
//! default action (often EPERM), and programs then fail instead of falling back to the older
//! call (glibc tries clone3, then clone, only on ENOSYS). As runc does, hull puts a short
//! stub in front of the BPF program libseccomp generates: for each architecture of the
//! filter that hull knows, a syscall numbered above the highest one the profile names for
//! that architecture returns ENOSYS; everything else goes on to libseccomp's program. A
//! syscall the profile names keeps its own rule, whatever its number.
//!
//! The stub is built only when the default action denies (anything but ALLOW and LOG).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use libseccomp::{ScmpArch, ScmpFilterContext, ScmpSyscall};
use nix::errno::Errno;

use crate::error::{Context, Error, Result};

/// x32 syscalls are numbered from this bit up, under the x86_64 audit arch.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `offsetof(struct seccomp_data, nr)` and `arch`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

/// The audit arch number the kernel puts in `seccomp_data.arch` for `arch`, for the
/// architectures the stub handles.
fn audit_arch(arch: ScmpArch) -> Option<u32> {
    match arch {
        ScmpArch::X8664 | ScmpArch::X32 => Some(0xC000_003E),
        ScmpArch::X86 => Some(0x4000_0003),
        ScmpArch::Aarch64 => Some(0xC000_00B7),
        ScmpArch::Arm => Some(0x4000_0028),
        _ => None,
    }
}

/// The highest number, per architecture of the filter, of the syscalls in `names`.
pub fn highest_by_arch<'a>(
    arches: &[ScmpArch],
    names: impl Iterator<Item = &'a str> + Clone,
) -> Vec<(ScmpArch, u32)> {
    arches
        .iter()
        .filter_map(|&arch| {
            let nrs = names.clone().filter_map(|n| {
                let nr = i32::from(ScmpSyscall::from_name_by_arch(n, arch).ok()?);
                u32::try_from(nr).ok()
            });
            Some((arch, nrs.max()?))
        })
        .collect()
}

/// Where a stub instruction jumps.
#[derive(Clone, Copy, Debug, PartialEq)]
enum To {
    Next,
    NextArch,
    Enosys,
    Libseccomp,
}

#[derive(Clone, Copy, Debug)]
enum Insn {
    LoadArch,
    LoadNr,
    /// if A == k: next, else: `to`.
    IfArch(u32, To),
    /// if A >= k: `yes`, else: skip one instruction.
    IfAtLeastElseSkip(u32, To),
    /// if A > k: `yes`, else: `no`.
    IfAbove(u32, To, To),
    Jump(To),
}

/// The stub's instructions for `highest` (from [`highest_by_arch`]), ending in the ENOSYS
/// return; the libseccomp program follows it.
pub fn stub(highest: &[(ScmpArch, u32)]) -> Vec<libc::sock_filter> {
    let max = |a: ScmpArch| highest.iter().find(|(x, _)| *x == a).map(|(_, m)| *m);
    let mut blocks: Vec<Vec<Insn>> = Vec::new();
    for &(arch, top) in highest {
        let Some(audit) = audit_arch(arch) else {
            continue;
        };
        let block = match arch {
            // x32 shares the audit arch with x86_64: one block for both, split on the bit.
            ScmpArch::X32 if max(ScmpArch::X8664).is_some() => continue,
            ScmpArch::X8664 | ScmpArch::X32 => {
                let x32 = match max(ScmpArch::X32) {
                    Some(m) => Insn::IfAbove(m, To::Enosys, To::Libseccomp),
                    None => Insn::Jump(To::Libseccomp),
                };
                let native = match max(ScmpArch::X8664) {
                    Some(m) => Insn::IfAbove(m, To::Enosys, To::Libseccomp),
                    None => Insn::Jump(To::Libseccomp),
                };
                vec![
                    Insn::LoadArch,
                    Insn::IfArch(audit, To::NextArch),
                    Insn::LoadNr,
                    Insn::IfAtLeastElseSkip(X32_SYSCALL_BIT, To::Next),
                    x32,
                    native,
                ]
            }
            _ => vec![
                Insn::LoadArch,
                Insn::IfArch(audit, To::NextArch),
                Insn::LoadNr,
                Insn::IfAbove(top, To::Enosys, To::Libseccomp),
            ],
        };
        blocks.push(block);
    }
    assemble(&blocks)
}

fn assemble(blocks: &[Vec<Insn>]) -> Vec<libc::sock_filter> {
    let starts: Vec<usize> = blocks
        .iter()
        .scan(0, |at, b| {
            let start = *at;
            *at += b.len();
            Some(start)
        })
        .collect();
    let enosys = blocks.iter().map(Vec::len).sum::<usize>();
    let lib = enosys + 1;
    let mut out = Vec::with_capacity(lib);
    for (bi, block) in blocks.iter().enumerate() {
        let next_arch = starts.get(bi + 1).copied().unwrap_or(lib);
        for (ii, insn) in block.iter().enumerate() {
            let here = starts[bi] + ii;
            let off = |to: To| -> u8 {
                let target = match to {
                    To::Next => here + 1,
                    To::NextArch => next_arch,
                    To::Enosys => enosys,
                    To::Libseccomp => lib,
                };
                (target - here - 1) as u8
            };
            let ins = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
                code: code as u16,
                jt,
                jf,
                k,
            };
            let jmp = libc::BPF_JMP | libc::BPF_K;
            out.push(match *insn {
                Insn::LoadArch => ins(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, DATA_ARCH),
                Insn::LoadNr => ins(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, DATA_NR),
                Insn::IfArch(k, to) => ins(jmp | libc::BPF_JEQ, 0, off(to), k),
                Insn::IfAtLeastElseSkip(k, yes) => ins(jmp | libc::BPF_JGE, off(yes), 1, k),
                Insn::IfAbove(k, yes, no) => ins(jmp | libc::BPF_JGT, off(yes), off(no), k),
                Insn::Jump(to) => ins(jmp | libc::BPF_JA, 0, 0, u32::from(off(to))),
            });
        }
    }
    out.push(libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
    });
    out
}

/// libseccomp's BPF program for `ctx` (exported through a memfd: `export_bpf_mem` needs a
/// newer libseccomp than Debian 12 has).
pub fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    let fd = nix::sys::memfd::memfd_create(c"seccomp-bpf", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .ctx(|| "linux.seccomp: memfd for the BPF program")?;
    ctx.export_bpf(&fd)
        .map_err(|e| Error::Msg(format!("linux.seccomp: export the BPF program: {e}")))?;
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    use std::io::{Read, Seek};
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bytes))
        .ctx(|| "linux.seccomp: read the BPF program back")?;
    let size = std::mem::size_of::<libc::sock_filter>();
    Ok(bytes
        .chunks_exact(size)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// Load `program` with `seccomp(SECCOMP_SET_MODE_FILTER, flags)`; returns the notify fd when
/// `flags` has SECCOMP_FILTER_FLAG_NEW_LISTENER.
pub fn load(program: &[libc::sock_filter], flags: libc::c_ulong) -> Result<Option<OwnedFd>> {
    let len = u16::try_from(program.len()).map_err(|_| {
        Error::Msg(format!(
            "linux.seccomp: the filter has {} instructions, more than BPF allows",
            program.len()
        ))
    })?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: the kernel copies `prog` and the instructions it points to, both alive for
    // the call; nothing is written through the pointer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    let r = Errno::result(r).ctx(|| "linux.seccomp: load the filter")?;
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
        return Ok(None);
    }
    // SAFETY: with NEW_LISTENER the kernel returns a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(r as i32) };
    debug_assert!(fd.as_raw_fd() >= 0);
    Ok(Some(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the stub on (arch, nr) as the kernel would: Some(true) for ENOSYS, Some(false)
    /// for "on to libseccomp".
    fn run(stub: &[libc::sock_filter], arch: u32, nr: u32) -> bool {
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let i = stub.get(pc).map(|i| (i.code as u32, i.jt, i.jf, i.k));
            let Some((code, jt, jf, k)) = i else {
                return false;
            };
            let jmp = libc::BPF_JMP | libc::BPF_K;
            pc += 1;
            match code {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    a = if k == DATA_ARCH { arch } else { nr }
                }
                c if c == (libc::BPF_RET | libc::BPF_K) => return true,
                c if c == jmp | libc::BPF_JA => pc += k as usize,
                c => {
                    let hit = match c & 0xf0 {
                        x if x == libc::BPF_JEQ => a == k,
                        x if x == libc::BPF_JGT => a > k,
                        x if x == libc::BPF_JGE => a >= k,
                        _ => panic!("unexpected code {c:#x}"),
                    };
                    pc += if hit { jt } else { jf } as usize;
                }
            }
        }
    }

    const X86_64: u32 = 0xC000_003E;
    const I386: u32 = 0x4000_0003;

    #[test]
    fn newer_than_the_profile_per_arch() {
        let s = stub(&[(ScmpArch::X8664, 300), (ScmpArch::X86, 200)]);
        assert!(!run(&s, X86_64, 0));
        assert!(!run(&s, X86_64, 300));
        assert!(run(&s, X86_64, 301));
        assert!(run(&s, X86_64, 1000));
        // x32 not in the profile: libseccomp decides
        assert!(!run(&s, X86_64, X32_SYSCALL_BIT | 5));
        assert!(!run(&s, I386, 200));
        assert!(run(&s, I386, 201));
        assert!(
            !run(&s, 0xC000_00B7, 5000),
            "another arch: libseccomp decides"
        );
    }

    #[test]
    fn x32_has_its_own_highest() {
        let s = stub(&[
            (ScmpArch::X8664, 300),
            (ScmpArch::X32, X32_SYSCALL_BIT | 100),
        ]);
        assert!(run(&s, X86_64, 301));
        assert!(!run(&s, X86_64, X32_SYSCALL_BIT | 100));
        assert!(run(&s, X86_64, X32_SYSCALL_BIT | 101));
    }

    #[test]
    fn highest_comes_from_the_names() {
        let h = highest_by_arch(
            &[ScmpArch::X8664],
            ["read", "clone3", "no_such"].into_iter(),
        );
        assert_eq!(h, [(ScmpArch::X8664, 435)]);
    }
}
