//! Code generation: a [`Filter`] as a `BPF_PROG_TYPE_CGROUP_DEVICE` program.
//!
//! The kernel runs the program on every device access check with R1 pointing at
//! `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, where
//! `access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*`, and allows the access if it
//! returns 1 (0 denies). The program is straight-line blocks, one per exception:
//!
//! ```text
//!     r2 = ctx->access_type & 0xffff      ; device type
//!     r3 = ctx->access_type >> 16         ; requested access
//!     r4 = ctx->major
//!     r5 = ctx->minor
//! block i:
//!     if r2 != TYPE goto block i+1
//!     r1 = r3; r1 &= ACCESS                                 ; only if ACCESS is not rwm:
//!       if r1 != r3 goto block i+1                          ;   allow exception
//!       if r1 == 0 goto block i+1                           ;   deny exception
//!     if r4 != MAJOR goto block i+1                         ; only if MAJOR is not *
//!     if r5 != MINOR goto block i+1                         ; only if MINOR is not *
//!     r0 = !default; exit
//! block n:
//!     r0 = default; exit
//! ```
//!
//! A request matches an exception when its type and numbers match and, as in the v1
//! controller, an allow exception covers every access bit it asks for, while a deny
//! exception (in allow-all mode) covers any of them. (runc's program tests "every" for
//! deny exceptions too, so there `rw` on a device denied only `w` gets through.) Numbers above `i32::MAX` (the immediate of a jump is
//! sign-extended) are compared through a 64-bit constant loaded into r1.

use super::rules::{Filter, ACC_ALL};

// Instruction classes, sizes, modes, operations and sources (include/uapi/linux/bpf.h,
// bpf_common.h).
const BPF_LD: u8 = 0x00;
const BPF_LDX: u8 = 0x01;
const BPF_ALU: u8 = 0x04;
const BPF_JMP: u8 = 0x05;
const BPF_W: u8 = 0x00;
const BPF_DW: u8 = 0x18;
const BPF_IMM: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_AND: u8 = 0x50;
const BPF_RSH: u8 = 0x70;
const BPF_MOV: u8 = 0xb0;
const BPF_JEQ: u8 = 0x10;
const BPF_JNE: u8 = 0x50;
const BPF_EXIT: u8 = 0x90;
const BPF_K: u8 = 0x00;
const BPF_X: u8 = 0x08;

/// Registers used.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

/// One `struct bpf_insn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    pub(crate) code: u8,
    pub(crate) dst: u8,
    pub(crate) src: u8,
    pub(crate) off: i16,
    pub(crate) imm: i32,
}

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// The 8 bytes of `struct bpf_insn` in this machine's byte order (the register
    /// bitfields `dst_reg:4, src_reg:4` follow the target's bitfield order).
    pub(crate) fn encode(self) -> [u8; 8] {
        let regs = if cfg!(target_endian = "little") {
            (self.src << 4) | (self.dst & 0xf)
        } else {
            (self.dst << 4) | (self.src & 0xf)
        };
        let off = self.off.to_ne_bytes();
        let imm = self.imm.to_ne_bytes();
        [
            self.code, regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3],
        ]
    }
}

/// `dst = *(u32 *)(src + off)`.
fn load_word(dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(BPF_LDX | BPF_W | BPF_MEM, dst, src, off, 0)
}

/// 32-bit ALU operation with an immediate (the upper half of `dst` is zeroed).
fn alu32_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(BPF_ALU | op | BPF_K, dst, 0, 0, imm)
}

/// 32-bit `dst = src`.
fn mov32_reg(dst: u8, src: u8) -> Insn {
    Insn::new(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0)
}

/// `if dst != imm goto +off` (imm sign-extended to 64 bits).
fn jne_imm(dst: u8, imm: i32, off: i16) -> Insn {
    Insn::new(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm)
}

/// `if dst == imm goto +off`.
fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
    Insn::new(BPF_JMP | BPF_JEQ | BPF_K, dst, 0, off, imm)
}

/// `if dst != src goto +off`.
fn jne_reg(dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(BPF_JMP | BPF_JNE | BPF_X, dst, src, off, 0)
}

/// `dst = imm64`: two instruction slots.
fn load_imm64(dst: u8, v: u64) -> [Insn; 2] {
    [
        Insn::new(BPF_LD | BPF_DW | BPF_IMM, dst, 0, 0, v as u32 as i32),
        Insn::new(0, 0, 0, 0, (v >> 32) as u32 as i32),
    ]
}

fn exit() -> Insn {
    Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
}

/// `r0 = verdict; exit`.
fn verdict(allow: bool) -> [Insn; 2] {
    [alu32_imm(BPF_MOV, R0, i32::from(allow)), exit()]
}

/// A jump to the end of the block being built; patched by [`Block::finish`].
const TO_NEXT: i16 = i16::MIN;

/// The instructions of one exception.
#[derive(Default)]
struct Block(Vec<Insn>);

impl Block {
    /// Skips to the next block unless register `reg` equals `v`.
    fn require_eq(&mut self, reg: u8, v: u32) {
        match i32::try_from(v) {
            Ok(imm) => self.0.push(jne_imm(reg, imm, TO_NEXT)),
            Err(_) => {
                self.0.extend(load_imm64(R1, u64::from(v)));
                self.0.push(jne_reg(reg, R1, TO_NEXT));
            }
        }
    }

    /// Resolves the jumps to the instruction right after the block.
    fn finish(mut self) -> Vec<Insn> {
        let len = self.0.len();
        for (i, insn) in self.0.iter_mut().enumerate() {
            if insn.off == TO_NEXT && insn.code & 0x07 == BPF_JMP {
                // A block is at most 12 slots, so this always fits.
                insn.off = (len - i - 1) as i16;
            }
        }
        self.0
    }
}

/// The program for `f`.
pub(crate) fn emit(f: &Filter) -> Vec<Insn> {
    if f.exceptions.is_empty() {
        return verdict(f.default_allow).to_vec();
    }
    let mut out = vec![
        load_word(R2, R1, 0),
        alu32_imm(BPF_AND, R2, 0xffff),
        load_word(R3, R1, 0),
        alu32_imm(BPF_RSH, R3, 16),
        load_word(R4, R1, 4),
        load_word(R5, R1, 8),
    ];
    for (d, &access) in &f.exceptions {
        let mut b = Block::default();
        b.0.push(jne_imm(R2, d.kind as i32, TO_NEXT));
        if access != ACC_ALL {
            b.0.push(mov32_reg(R1, R3));
            b.0.push(alu32_imm(BPF_AND, R1, access as i32));
            if f.default_allow {
                // A deny exception applies if it covers any of the requested access.
                b.0.push(jeq_imm(R1, 0, TO_NEXT));
            } else {
                // An allow exception applies only if it covers all of it.
                b.0.push(jne_reg(R1, R3, TO_NEXT));
            }
        }
        if let Some(major) = d.major {
            b.require_eq(R4, major);
        }
        if let Some(minor) = d.minor {
            b.require_eq(R5, minor);
        }
        b.0.extend(verdict(!f.default_allow));
        out.extend(b.finish());
    }
    out.extend(verdict(f.default_allow));
    out
}

/// The program as the bytes `BPF_PROG_LOAD` takes.
pub(crate) fn bytes(prog: &[Insn]) -> Vec<u8> {
    prog.iter().flat_map(|i| i.encode()).collect()
}

#[cfg(test)]
mod tests {
    use super::super::rules::tests::dev;
    use super::super::rules::{ACC_MKNOD, ACC_READ, ACC_WRITE};
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroup;

    const B: u32 = 1;
    const C: u32 = 2;
    const R: u32 = ACC_READ;
    const W: u32 = ACC_WRITE;
    const M: u32 = ACC_MKNOD;

    /// Compiles `list` and returns a function running the program in rbpf's interpreter
    /// on `(type, major, minor, access)`, true when it allows.
    fn compile(list: &[LinuxDeviceCgroup]) -> impl Fn(u32, u32, u32, u32) -> bool {
        let code = bytes(&emit(&Filter::from_spec(list).unwrap()));
        move |typ, major, minor, access| {
            let vm = rbpf::EbpfVmRaw::new(Some(&code)).expect("rbpf accepts the program");
            let mut ctx = Vec::with_capacity(12);
            ctx.extend(((access << 16) | typ).to_le_bytes());
            ctx.extend(major.to_le_bytes());
            ctx.extend(minor.to_le_bytes());
            match vm.execute_program(&mut ctx).expect("the program runs") {
                0 => false,
                1 => true,
                other => panic!("the program returned {other}"),
            }
        }
    }

    /// runc's default list (libcontainer/specconv AllowedDevices) after "deny all".
    fn runc_default() -> Vec<LinuxDeviceCgroup> {
        vec![
            dev(false, "a", -1, -1, "rwm"),
            dev(true, "c", -1, -1, "m"),
            dev(true, "b", -1, -1, "m"),
            dev(true, "c", 1, 3, "rwm"),    // /dev/null
            dev(true, "c", 1, 8, "rwm"),    // /dev/random
            dev(true, "c", 1, 7, "rwm"),    // /dev/full
            dev(true, "c", 5, 0, "rwm"),    // /dev/tty
            dev(true, "c", 1, 5, "rwm"),    // /dev/zero
            dev(true, "c", 1, 9, "rwm"),    // /dev/urandom
            dev(true, "c", 136, -1, "rwm"), // /dev/pts/*
            dev(true, "c", 5, 2, "rwm"),    // /dev/ptmx
            dev(true, "c", 10, 200, "rwm"), // /dev/net/tun
        ]
    }

    #[test]
    fn runc_default_list() {
        let allowed = compile(&runc_default());
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 2),
            (10, 200),
        ] {
            for acc in [R, W, M, R | W, R | W | M] {
                assert!(allowed(C, major, minor, acc), "c {major}:{minor} {acc}");
            }
            assert!(!allowed(B, major, minor, R), "b {major}:{minor}");
        }
        for minor in [0, 1, 5, 1000, 1 << 19] {
            assert!(allowed(C, 136, minor, R | W), "pts {minor}");
        }
        // mknod of any device, but no read/write of others.
        for (typ, major, minor) in [(C, 4, 1), (B, 8, 0), (C, 1, 1), (B, 259, 3), (C, 10, 229)] {
            assert!(allowed(typ, major, minor, M), "{typ} {major}:{minor} m");
            assert!(!allowed(typ, major, minor, R), "{typ} {major}:{minor} r");
            assert!(!allowed(typ, major, minor, W), "{typ} {major}:{minor} w");
            assert!(
                !allowed(typ, major, minor, R | M),
                "{typ} {major}:{minor} rm"
            );
        }
        assert!(!allowed(C, 1, 4, R | W)); // /dev/port
        assert!(!allowed(C, 10, 201, R));
        assert!(!allowed(C, 5, 1, R)); // /dev/console
    }

    #[test]
    fn allow_all_and_deny_all() {
        for list in [
            vec![dev(true, "a", -1, -1, "rwm")],
            vec![dev(false, "c", 1, 3, "rwm"), dev(true, "a", -1, -1, "rwm")],
        ] {
            let prog = emit(&Filter::from_spec(&list).unwrap());
            assert_eq!(prog.len(), 2, "allow-all is `r0 = 1; exit`");
            let allowed = compile(&list);
            for typ in [B, C] {
                for acc in [R, W, M, R | W | M] {
                    assert!(allowed(typ, 1, 3, acc));
                    assert!(allowed(typ, 4095, u32::MAX, acc));
                }
            }
        }
        for list in [vec![], vec![dev(false, "a", -1, -1, "rwm")]] {
            let allowed = compile(&list);
            assert!(!allowed(C, 1, 3, R));
            assert!(!allowed(B, 8, 0, M));
        }
    }

    #[test]
    fn wildcard_major_and_minor() {
        let allowed = compile(&[
            dev(false, "a", -1, -1, "rwm"),
            dev(true, "c", -1, 7, "r"),
            dev(true, "b", 8, -1, "rw"),
        ]);
        for major in [0, 1, 4, 200, 4095] {
            assert!(allowed(C, major, 7, R), "c {major}:7 r");
            assert!(!allowed(C, major, 7, W), "c {major}:7 w");
            assert!(!allowed(C, major, 8, R), "c {major}:8 r");
            assert!(!allowed(B, major, 7, R), "b {major}:7 r");
        }
        for minor in [0, 1, 16, 1 << 19] {
            assert!(allowed(B, 8, minor, R | W), "b 8:{minor} rw");
            assert!(!allowed(B, 8, minor, M), "b 8:{minor} m");
            assert!(!allowed(B, 9, minor, R), "b 9:{minor} r");
            assert!(!allowed(C, 8, minor, R), "c 8:{minor} r");
        }
    }

    #[test]
    fn partial_access() {
        let allowed = compile(&[dev(false, "a", -1, -1, "rwm"), dev(true, "c", 4, 1, "rm")]);
        assert!(allowed(C, 4, 1, R));
        assert!(allowed(C, 4, 1, M));
        assert!(allowed(C, 4, 1, R | M));
        assert!(!allowed(C, 4, 1, W));
        assert!(!allowed(C, 4, 1, R | W));
        assert!(!allowed(C, 4, 1, R | W | M));
        assert!(!allowed(C, 4, 2, R));
    }

    #[test]
    fn deny_exceptions_in_allow_all_mode() {
        let allowed = compile(&[
            dev(true, "a", -1, -1, "rwm"),
            dev(false, "b", 8, -1, "w"),
            dev(false, "c", 1, 1, "rwm"),
        ]);
        assert!(allowed(B, 8, 0, R));
        assert!(!allowed(B, 8, 0, W));
        assert!(!allowed(B, 8, 16, R | W));
        assert!(allowed(B, 9, 0, W));
        assert!(!allowed(C, 1, 1, R));
        assert!(allowed(C, 1, 3, R | W));
        assert!(allowed(B, 1, 1, R));
    }

    #[test]
    fn later_rules_override_earlier_ones() {
        let allowed = compile(&[
            dev(false, "a", -1, -1, "rwm"),
            dev(true, "c", 1, 3, "rwm"),
            dev(true, "c", 1, 5, "rwm"),
            dev(false, "c", 1, 5, "w"),
        ]);
        assert!(allowed(C, 1, 3, W));
        assert!(allowed(C, 1, 5, R));
        assert!(!allowed(C, 1, 5, W));
    }

    #[test]
    fn numbers_above_i32_max_compare_exactly() {
        let big = 0x8000_0005u32;
        let allowed = compile(&[
            dev(false, "a", -1, -1, "rwm"),
            dev(true, "c", i64::from(big), i64::from(u32::MAX), "r"),
        ]);
        assert!(allowed(C, big, u32::MAX, R));
        assert!(!allowed(C, big, u32::MAX - 1, R));
        assert!(!allowed(C, 5, u32::MAX, R));
    }

    #[test]
    fn encoding() {
        // `r0 = 1` (mov32 imm) and `exit`, little-endian.
        let prog = bytes(&verdict(true));
        if cfg!(target_endian = "little") {
            assert_eq!(prog, [0xb4, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
            assert_eq!(mov32_reg(R1, R3).encode()[1], 0x31);
        }
        // Every jump lands inside the program.
        let prog = emit(&Filter::from_spec(&runc_default()).unwrap());
        for (i, insn) in prog.iter().enumerate() {
            if insn.code & 0x07 == BPF_JMP && insn.code != (BPF_JMP | BPF_EXIT) {
                let to = i as i64 + 1 + i64::from(insn.off);
                assert!(
                    to > i as i64 && to < prog.len() as i64,
                    "insn {i}: {insn:?}"
                );
            }
        }
    }
}
