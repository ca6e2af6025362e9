//! `ps`: the processes of a container's cgroup, as a pid list or as the rows of the host's
//! `ps` whose PID column is one of them (runc's behaviour).

use std::path::Path;
use std::process::Command;

use super::state::Container;
use crate::error::{Context, Error, Result};

/// Every pid in container `id`'s cgroup (host pid namespace), or, without a cgroup, in its
/// namespace.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let c = Container::load(root, id)?;
    super::cgroup::pids(&c)
}

/// Runs `ps <args>` (`-ef` when empty) and returns its header line and the lines whose PID
/// column is in `pids`, each ending in a newline.
pub fn table(pids: &[i32], args: &[String]) -> Result<String> {
    let default = ["-ef".to_string()];
    let args = if args.is_empty() { &default[..] } else { args };
    let out = Command::new("ps")
        .args(args)
        .output()
        .ctx(|| format!("run ps {}", args.join(" ")))?;
    if !out.status.success() {
        return Err(Error::Msg(format!(
            "ps {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    filter(&String::from_utf8_lossy(&out.stdout), pids)
}

/// The header and the rows of `ps` output `text` whose PID column is in `pids`.
pub fn filter(text: &str, pids: &[i32]) -> Result<String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or_else(|| Error::Msg("couldn't find PID field in ps output".into()))?;
    let mut out = format!("{header}\n");
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|p: i32| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_header_and_matching_rows() {
        let text = "UID PID PPID C STIME TTY TIME CMD\n\
                    root 1 0 0 10:00 ? 00:00:01 init\n\
                    root 42 1 0 10:00 ? 00:00:00 sleep 1000\n";
        let got = filter(text, &[42]).unwrap();
        assert_eq!(
            got,
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:00 ? 00:00:00 sleep 1000\n"
        );
        assert!(filter("USER COMMAND\n", &[1]).is_err());
    }
}
