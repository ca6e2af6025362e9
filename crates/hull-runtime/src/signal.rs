//! Signal names as `kill` accepts them: `KILL`, `SIGKILL`, `kill` or a number.

use std::str::FromStr;

use nix::sys::signal::Signal;

use crate::error::{Error, Result};

/// Parse a signal the way runc's `kill` does.
pub fn parse(text: &str) -> Result<Signal> {
    let bad = || Error::Msg(format!("invalid signal {text:?}"));
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| bad())
}

/// A signal for `kill`: as [`parse`], and `0` (None) which only checks that the process is
/// there, as kill(2) does.
pub fn parse_for_kill(text: &str) -> Result<Option<Signal>> {
    match text.trim() {
        "0" => Ok(None),
        _ => parse(text).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse("SIGKILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse("term").unwrap(), Signal::SIGTERM);
        assert_eq!(parse("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse("USR1").unwrap(), Signal::SIGUSR1);
        assert!(parse("NOPE").is_err());
        assert!(parse("999").is_err());
    }
}
