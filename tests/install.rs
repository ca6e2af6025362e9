//! `make install` / `make uninstall`: the release binary, the man pages and the shell
//! completions (rendered from the clap definitions by crates/hull-docs) in a temp DESTDIR.

use hull_integration::{fresh_dir, workspace_dir};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `make <target> DESTDIR=<destdir> PREFIX=/usr` in the workspace; panics on failure.
fn make(target: &str, destdir: &Path) {
    let out = Command::new("make")
        .arg("-C")
        .arg(workspace_dir())
        .arg(target)
        .arg(format!("DESTDIR={}", destdir.display()))
        .arg("PREFIX=/usr")
        .output()
        .expect("run make");
    assert!(
        out.status.success(),
        "make {target} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The command names `hull --help` lists (without clap's `help`).
fn commands(hull: &Path) -> Vec<String> {
    let out = Command::new(hull)
        .arg("--help")
        .output()
        .expect("hull --help");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .filter(|c| c != "help")
        .collect()
}

/// Whether the ELF file at `path` is position-independent (`ET_DYN`, so ASLR holds) and has
/// no program interpreter (`PT_INTERP`): a static-pie, which the loader never touches.
fn is_static_pie(path: &Path) -> bool {
    let elf = std::fs::read(path).expect("read the binary");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    let interp = (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3
    });
    &elf[..4] == b"\x7fELF" && u16_at(0x10) == 3 && !interp
}

/// `man -l` renders the page (when man is installed): returns the text.
fn render_man(page: &Path) -> Option<String> {
    let out = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "100")
        .output()
        .ok()?;
    assert!(out.status.success(), "man -l {}: {out:?}", page.display());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.trim().is_empty(),
        "man -l {} warns: {err}",
        page.display()
    );
    Some(String::from_utf8_lossy(&out.stdout).to_string())
}

/// What bash completes for `words` (the last one being completed) with the installed script.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let cword = words.len() - 1;
    let line = words.join(" ");
    let prog = format!(
        "source {script} || exit 9; complete -p hull >/dev/null || exit 8; \
         COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT={point}; \
         _hull hull '{cur}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script = script.display(),
        words = words.join(" "),
        point = line.len(),
        cur = words[cword],
        prev = words[cword.saturating_sub(1)],
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &prog])
        .output()
        .expect("run bash");
    assert!(out.status.success(), "bash completion: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn make_install_and_uninstall() {
    let dest = fresh_dir("install");
    make("install", &dest);
    let usr = dest.join("usr");

    let hull = usr.join("bin/hull");
    let v = Command::new(&hull)
        .arg("--version")
        .output()
        .expect("run the installed hull");
    let v = String::from_utf8_lossy(&v.stdout).to_string();
    assert!(v.starts_with("hull version 0."), "{v}");
    assert!(
        is_static_pie(&hull),
        "the installed hull is not a static-pie"
    );

    let man8 = usr.join("share/man/man8");
    let names = commands(&hull);
    assert!(
        names.len() >= 15 && names.iter().any(|c| c == "create"),
        "{names:?}"
    );
    let mut pages = vec![man8.join("hull.8")];
    pages.extend(names.iter().map(|c| man8.join(format!("hull-{c}.8"))));
    for page in &pages {
        assert!(page.is_file(), "no {}", page.display());
    }
    if let Some(text) = render_man(&man8.join("hull.8")) {
        assert!(text.contains("NAME") && text.contains("--root"), "{text}");
        for c in &names {
            assert!(
                text.contains(&format!("hull-{c}(8)")),
                "hull(8) names hull-{c}(8):\n{text}"
            );
        }
        let create = render_man(&man8.join("hull-create.8")).unwrap();
        assert!(
            create.contains("--bundle") && create.contains("--pid-file"),
            "{create}"
        );
        for page in &pages {
            render_man(page);
        }
    }

    let bash = usr.join("share/bash-completion/completions/hull");
    assert_eq!(bash_complete(&bash, &["hull", "cr"]), ["create"]);
    assert!(
        bash_complete(&bash, &["hull", "list", "--f"]).contains(&"--format".to_string()),
        "list --f completes to --format"
    );
    let zsh = usr.join("share/zsh/site-functions/_hull");
    let fish = usr.join("share/fish/vendor_completions.d/hull.fish");
    for (script, shell) in [(&zsh, "zsh"), (&fish, "fish")] {
        let text = std::fs::read_to_string(script).unwrap_or_default();
        assert!(text.contains("create"), "{}: {text}", script.display());
        // parse it when that shell is installed
        if let Ok(out) = Command::new(shell).arg("-n").arg(script).output() {
            assert!(out.status.success(), "{shell} -n: {out:?}");
        }
    }

    make("uninstall", &dest);
    assert_eq!(
        files_under(&dest),
        Vec::<PathBuf>::new(),
        "uninstall removes every file"
    );
    let _ = std::fs::remove_dir_all(&dest);
}
