//! `hull events`: JSON event lines on stdout, as runc prints them.

use std::io::Write;
use std::time::Duration;

use hull_runtime::container::events::{self, Event};

use crate::cli::Global;

/// Prints one stats event (`--stats`) or streams events until the container stops.
pub fn run(global: &Global, id: &str, stats: bool, interval: &str) -> anyhow::Result<i32> {
    if stats {
        print_event(&events::stats(&global.root, id)?)?;
        return Ok(0);
    }
    let interval = parse_duration(interval)?;
    events::watch(&global.root, id, interval, &mut |e| {
        print_event(e).map_err(|e| hull_runtime::Error::Msg(format!("write event: {e}")))
    })?;
    Ok(0)
}

fn print_event(e: &Event) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, e)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// A Go-style duration as runc's `--interval` takes it: one or more `<number><unit>` with
/// units `ns`, `us`, `ms`, `s`, `m`, `h` (e.g. `5s`, `1m30s`, `0.5s`); must be positive.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let bad = || anyhow::anyhow!("invalid --interval {text:?}: use e.g. 5s, 500ms, 1m");
    let mut rest = text.trim();
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        let after = &rest[n..];
        let u = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let secs = match &after[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * secs;
        rest = &after[u..];
    }
    Duration::try_from_secs_f64(total)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("0.5s").unwrap(), Duration::from_millis(500));
        for bad in ["", "5", "s", "0s", "5x", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
