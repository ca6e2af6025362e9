//! `hull checkpoint`.

use hull_runtime::container::checkpoint::{self, CgroupsMode, CheckpointOptions};

use crate::cli::{CheckpointFlags, CriuFlags, Global};

/// Dumps the container with CRIU.
pub fn run(global: &Global, flags: &CheckpointFlags) -> anyhow::Result<i32> {
    let opts = CheckpointOptions {
        criu: criu_flags(global, &flags.criu)?,
        parent_path: flags.parent_path.clone(),
        leave_running: flags.leave_running,
        pre_dump: flags.pre_dump,
        status_fd: flags.status_fd,
        page_server: flags.page_server.clone(),
    };
    checkpoint::checkpoint(&global.root, &flags.criu.id, &opts)?;
    Ok(0)
}

/// The flags `checkpoint` and `restore` share, checked.
pub fn criu_flags(global: &Global, f: &CriuFlags) -> anyhow::Result<checkpoint::CriuFlags> {
    Ok(checkpoint::CriuFlags {
        criu: global.criu.clone(),
        image_path: f.image_path.clone().unwrap_or_else(|| "checkpoint".into()),
        work_path: f.work_path.clone(),
        tcp_established: f.tcp_established,
        ext_unix_sk: f.ext_unix_sk,
        shell_job: f.shell_job,
        file_locks: f.file_locks,
        lazy_pages: f.lazy_pages,
        cgroups_mode: f
            .manage_cgroups_mode
            .as_deref()
            .map(CgroupsMode::parse)
            .transpose()?,
        empty_ns: f.empty_ns.clone(),
        auto_dedup: f.auto_dedup,
    })
}
