//! `hull spec`: write runc's default config.json (refusing to overwrite one).

use std::path::Path;

use anyhow::Context;

/// Writes `<bundle>/config.json` (the rootless variant with `rootless`); never overwrites one.
pub fn run(bundle: &Path, rootless: bool) -> anyhow::Result<i32> {
    let path = bundle.join("config.json");
    if path.exists() {
        anyhow::bail!("File {} exists. Remove it first", path.display());
    }
    let config = if rootless {
        hull_runtime::template::rootless_config(caller_uid(), caller_gid())
    } else {
        hull_runtime::template::default_config()
    };
    let text = serde_json::to_string_pretty(&config)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("write {}", path.display()))?;
    Ok(0)
}

fn caller_uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

fn caller_gid() -> u32 {
    // SAFETY: getgid cannot fail.
    unsafe { libc::getgid() }
}
