//! Signal names as `kill` accepts them: `KILL`, `SIGKILL`, `kill` or a number (real-time
//! signals by number, as runc: docker sends `SIGRTMIN+3` as `37`).

use std::str::FromStr;

use nix::sys::signal::Signal;

use crate::error::{Error, Result};

/// A signal number as kill(2) takes it: 0 (only a check that the process is there), a
/// standard signal or a real-time one; never out of the kernel's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigNum(i32);

impl SigNum {
    /// Signal 0: nothing is sent, only the process's existence is checked.
    pub const CHECK: SigNum = SigNum(0);

    /// The number to pass to the kernel.
    pub fn raw(self) -> i32 {
        self.0
    }
}

impl From<Signal> for SigNum {
    fn from(s: Signal) -> SigNum {
        SigNum(s as i32)
    }
}

impl From<Option<Signal>> for SigNum {
    fn from(s: Option<Signal>) -> SigNum {
        s.map_or(SigNum::CHECK, SigNum::from)
    }
}

/// Parse a signal the way runc's `kill` does: a number up to SIGRTMAX, or a standard
/// signal's name with or without `SIG`, in any case.
pub fn parse(text: &str) -> Result<SigNum> {
    let bad = || Error::Msg(format!("unknown signal {text:?}"));
    let text = text.trim();
    if let Ok(n) = text.parse::<i32>() {
        return if (1..=libc::SIGRTMAX()).contains(&n) {
            Ok(SigNum(n))
        } else {
            Err(bad())
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map(SigNum::from).map_err(|_| bad())
}

/// A signal for `kill`: as [`parse`], and `0` ([`SigNum::CHECK`]) which only checks that the
/// process is there, as kill(2) does.
pub fn parse_for_kill(text: &str) -> Result<SigNum> {
    match text.trim() {
        "0" => Ok(SigNum::CHECK),
        _ => parse(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        let kill = SigNum::from(Signal::SIGKILL);
        assert_eq!(parse("KILL").unwrap(), kill);
        assert_eq!(parse("SIGKILL").unwrap(), kill);
        assert_eq!(parse("term").unwrap(), SigNum::from(Signal::SIGTERM));
        assert_eq!(parse("9").unwrap(), kill);
        assert_eq!(parse("USR1").unwrap(), SigNum::from(Signal::SIGUSR1));
        assert!(parse("NOPE").is_err());
        assert!(parse("999").is_err());
        assert!(parse("0").is_err());
        assert_eq!(parse_for_kill("0").unwrap(), SigNum::CHECK);
    }

    #[test]
    fn real_time_signals_by_number() {
        assert_eq!(parse("37").unwrap().raw(), 37);
        assert_eq!(
            parse(&libc::SIGRTMAX().to_string()).unwrap().raw(),
            libc::SIGRTMAX()
        );
        assert!(parse(&(libc::SIGRTMAX() + 1).to_string()).is_err());
        assert!(parse("-1").is_err());
    }
}
