//! The cause of a CRIU failure, from its log file: CRIU answers a failed request with little
//! more than "failed", while its log says why in `Error (file:line): …` lines.

use std::path::Path;

/// The first telling `Error` line of the CRIU log at `path`, without its timestamp and source
/// location (e.g. `vdso: Unexpected rt vDSO area bounds`); None if there is none. Lines
/// that only say a helper exited, or that the whole dump or restore failed, are passed over
/// for the one that says why.
pub fn first_error(path: &Path) -> Option<String> {
    let text = std::fs::read(path).ok()?;
    first_error_in(&String::from_utf8_lossy(&text))
}

fn first_error_in(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let at = line.find("Error (")?;
        let rest = &line[at + "Error (".len()..];
        let msg = rest.split_once("): ").map(|(_, m)| m).unwrap_or(rest);
        let msg = msg.trim();
        let generic = msg.is_empty()
            || msg.starts_with("exited, status=")
            || msg.starts_with("killed by signal")
            || msg.ends_with("FAILED.");
        (!generic).then(|| msg.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_error_line_is_kept_without_its_prefix() {
        let log = "(00.000012) Version: 3.17.1\n\
                   (00.001000) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n\
                   (00.001001) Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable\n";
        assert_eq!(
            first_error_in(log).as_deref(),
            Some("vdso: Unexpected rt vDSO area bounds")
        );
        assert_eq!(first_error_in("(00.1) all fine\n"), None);
        let tar = "(00.40) Error (criu/util.c:642): exited, status=1\n\
                   (00.41) Error (criu/filesystems.c:426): Can't dump tmpfs content\n\
                   (00.53) Error (criu/cr-dump.c:2053): Dumping FAILED.\n";
        assert_eq!(
            first_error_in(tar).as_deref(),
            Some("Can't dump tmpfs content")
        );
    }
}
