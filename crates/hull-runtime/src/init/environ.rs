//! The environment the program gets, as runc builds it from `process.env`: a name given
//! more than once is set once, to its last value, at its first place; an empty or missing
//! `HOME` is the user's home from the container's `/etc/passwd` (or `/`).

/// `env` (entries already checked to be `NAME=value`) made as described above for `uid`.
pub fn for_program(env: &[String], uid: u32) -> Vec<String> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(env.len() + 1);
    for kv in env {
        let (name, value) = kv.split_once('=').unwrap_or((kv, ""));
        match out.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = value.to_string(),
            None => out.push((name.to_string(), value.to_string())),
        }
    }
    match out.iter_mut().find(|(n, _)| n == "HOME") {
        Some(home) if home.1.is_empty() => home.1 = super::user::home_of(uid),
        Some(_) => {}
        None => out.push(("HOME".into(), super::user::home_of(uid))),
    }
    out.into_iter().map(|(n, v)| format!("{n}={v}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_last_value_wins_at_the_first_place() {
        let got = for_program(&env(&["ONE=two", "ONE=", "PATH=/bin", "HOME=/h"]), 0);
        assert_eq!(got, env(&["ONE=", "PATH=/bin", "HOME=/h"]));
        let got = for_program(&env(&["A=1", "B=2", "A=3", "HOME=/h"]), 0);
        assert_eq!(got, env(&["A=3", "B=2", "HOME=/h"]));
    }

    #[test]
    fn an_empty_home_is_filled_in() {
        // uid 4242 has no passwd entry anywhere a test runs: `/`
        let got = for_program(&env(&["HOME=/override", "HOME="]), 4242);
        assert_eq!(got, env(&["HOME=/"]));
        let got = for_program(&env(&["PATH=/bin"]), 4242);
        assert_eq!(got, env(&["PATH=/bin", "HOME=/"]));
    }
}
