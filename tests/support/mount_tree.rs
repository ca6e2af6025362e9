//! A tree of bind mounts built in order, some of whose sources are reached through symlinks and
//! some of which are parts of the tree already built inside the container (their source and
//! destination written as host paths under the rootfs, as runc accepts): each mount must see
//! what the mounts before it made.

use std::path::Path;

use serde_json::json;

use crate::Bundle;

/// Adds the tree's mounts to `b`; `extra` are added to the options of the mounts whose source
/// is inside the container (e.g. `idmap`). The sources on the host are under `src` (an empty
/// directory), which the container's mapped root may not enter. Returns what
/// `cat /final/x/y/z/z/x/y/z/x/file` must print.
pub fn add(b: &mut Bundle, src: &Path, extra: &[&str]) -> &'static str {
    for sub in ["a/x", "b/y", "c/z"] {
        std::fs::create_dir_all(src.join(sub)).unwrap();
        std::fs::write(src.join(sub).join("file"), format!("{sub}\n")).unwrap();
        let top = &sub[..1];
        std::os::unix::fs::symlink(top, src.join(format!("sym-{top}"))).unwrap();
    }
    std::fs::set_permissions(src, std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
    let rootfs = b.rootfs();
    std::fs::create_dir_all(rootfs.join("final")).unwrap();
    let host = |p: &str| rootfs.join(p).to_str().unwrap().to_string();
    let mut inside = vec!["rbind", "rprivate"];
    inside.extend_from_slice(extra);
    let mounts = [
        (
            src.join("a").to_str().unwrap().to_string(),
            "/mnt".to_string(),
            vec!["bind", "rprivate"],
        ),
        (
            src.join("sym-b").to_str().unwrap().into(),
            "/mnt/x".into(),
            vec!["bind", "rprivate"],
        ),
        (
            src.join("c").to_str().unwrap().into(),
            "/mnt/x/y".into(),
            vec!["bind", "rprivate"],
        ),
        (
            src.join("sym-a").to_str().unwrap().into(),
            "/mnt/x/y/z".into(),
            vec!["bind", "rprivate"],
        ),
        (host("mnt/x"), host("mnt/x/y/z/x"), inside.clone()),
        (host("mnt/x/y"), host("mnt/x/y/z"), inside.clone()),
        (host("mnt"), host("final"), inside),
    ];
    for (source, destination, options) in mounts {
        b.add_mount(
            json!({"source": source, "destination": destination, "type": "bind",
                           "options": options}),
        );
    }
    "a/x"
}
