//! Named fault points on each step of create, start, run, exec and delete, for the crash
//! tests (`tests/crash.rs`). They exist only with the `failpoints` feature, which a release
//! build never has; without it [`point`] does nothing. With it, the `fail` crate's
//! `FAILPOINTS` variable configures them, e.g. `FAILPOINTS=create::spawned=return`: `return`
//! at a point kills hull right there with SIGKILL, as `kill -9` would (`sleep(ms)` and the
//! crate's other actions work too). Points are only ever placed in hull's own process, never
//! in the children it forks.

/// Read `FAILPOINTS` (with the `failpoints` feature); call once, first thing.
pub fn setup() {
    #[cfg(feature = "failpoints")]
    std::mem::forget(fail::FailScenario::setup());
}

/// The fault point `name` (`<command>::<step just done>`).
#[inline]
pub fn point(name: &str) {
    #[cfg(feature = "failpoints")]
    fail::fail_point!(name, |_| -> () { die() });
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}

/// Die as `kill -9` kills: no unwinding, no clean-up, no exit code.
#[cfg(feature = "failpoints")]
fn die() -> ! {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    // SAFETY: _exit is always safe; it is reached only if SIGKILL could not be raised.
    unsafe { libc::_exit(137) }
}
