//! `sysc NR [ARG...]`: a static C program (`tests/fixtures/sysc.c`) that makes one raw system
//! call and prints `ret=R errno=E`, for tests that need to see exactly what a seccomp filter
//! answers or what ids a process really has (busybox cannot make an arbitrary call). Built
//! once with `gcc -static` under `target/test-tools/`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::Bundle;

/// x86_64 numbers of the calls the tests make.
pub mod nr {
    pub const GETPID: u32 = 39;
    pub const GETEUID: u32 = 107;
}

/// What `sysc` needs from the kernel to start, print and exit (static glibc, x86_64), and
/// nothing more: a profile that allows only these plus the call under test.
pub const NEEDS: &[&str] = &[
    "execve",
    "arch_prctl",
    "set_tid_address",
    "set_robust_list",
    "rseq",
    "prlimit64",
    "readlink",
    "getrandom",
    "brk",
    "mprotect",
    "newfstatat",
    "fstat",
    "write",
    "exit_group",
    "exit",
];

/// The compiled program (built on first use in this test process), under `$HULL_TEST_TOOLS`
/// when set (the cgroup v2 guest, whose `target/` is read-only), else `target/test-tools/`.
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = match std::env::var_os("HULL_TEST_TOOLS") {
            Some(dir) => PathBuf::from(dir),
            None => crate::workspace_dir().join("target/test-tools"),
        };
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let src = crate::workspace_dir().join("tests/fixtures/sysc.c");
        let bin = dir.join("sysc");
        // Built under a name of its own, then renamed: tests in other processes race here.
        let tmp = dir.join(format!("sysc.{}", crate::unique()));
        let out = Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&tmp)
            .arg(&src)
            .output()
            .expect("run gcc (gcc and libc6-dev are needed for tests/fixtures/sysc.c)");
        assert!(
            out.status.success(),
            "gcc -static {}: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::rename(&tmp, &bin).expect("rename sysc into place");
        bin
    })
}

impl Bundle {
    /// Copies `sysc` into the rootfs at `inside` with `mode` (e.g. 0o4755 for set-uid root).
    pub fn add_sysc(&mut self, inside: &str, mode: u32) -> &mut Self {
        let dest = self.host_path(inside);
        std::fs::copy(binary(), &dest).expect("copy sysc into the rootfs");
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).expect("chmod sysc");
        self
    }
}
