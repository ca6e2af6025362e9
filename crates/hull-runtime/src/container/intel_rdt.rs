//! Intel RDT for `update --l3-cache-schema` / `--mem-bw-schema`. hull makes no resctrl
//! group for a container (`features` reports `intelRdt` disabled), so a schema is refused
//! before anything changes, with what is missing: the resctrl filesystem, the feature in
//! it, or hull's support for resctrl groups.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where resctrl is mounted, from `/proc/self/mountinfo` (None when it is not).
fn resctrl_mount() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        (fs.split_whitespace().next() == Some("resctrl"))
            .then(|| mount.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// Ok when neither schema is asked for; else the error saying why it cannot be applied.
pub fn check_schemas(l3_cache: Option<&str>, mem_bw: Option<&str>) -> Result<()> {
    let asked = [
        (l3_cache, "--l3-cache-schema", "CAT", "L3"),
        (mem_bw, "--mem-bw-schema", "MBA", "MB"),
    ];
    let Some((_, flag, feature, info)) = asked.into_iter().find(|(v, ..)| v.is_some()) else {
        return Ok(());
    };
    let why = match resctrl_mount() {
        None => "the resctrl filesystem is not mounted (no Intel RDT in this CPU or kernel, \
                 or mount -t resctrl resctrl /sys/fs/resctrl)"
            .to_string(),
        Some(mount) if !mount.join("info").join(info).is_dir() => format!(
            "resctrl at {} has no {feature} ({} is missing)",
            mount.display(),
            mount.join("info").join(info).display()
        ),
        Some(_) => "hull does not manage resctrl groups for containers (linux.intelRdt)".into(),
    };
    Err(Error::Msg(format!("Intel RDT/{feature}: {flag}: {why}")))
}
