//! The command line, flag for flag as runc's.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use hull_runtime::container::rootless::RootlessMode;

/// An OCI container runtime, a drop-in replacement for runc.
#[derive(Debug, Parser)]
#[command(
    name = "hull",
    version = crate::version::text(),
    long_version = crate::version::text(),
    disable_version_flag = true,
    about
)]
pub struct Cli {
    /// Print the version (runc's shape: version, commit, spec, rust, libseccomp).
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: (),
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts, before or after the command name.
#[derive(Debug, Args)]
pub struct Global {
    /// Root directory for container state [default: /run/hull, or $XDG_RUNTIME_DIR/hull when
    /// rootless].
    #[arg(long = "root", global = true, value_name = "ROOT")]
    root_flag: Option<PathBuf>,
    /// The state root in use: `--root`, else the default [`Global::resolve_root`] chose.
    #[arg(skip)]
    pub root: PathBuf,
    /// Write logs to this file instead of stderr.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format.
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log debug messages too.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd's cgroup driver: the cgroup is a transient unit, cgroupsPath `slice:prefix:name`.
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Ignore cgroup permission errors: true, false or auto (auto: when euid is not 0, or
    /// in a user namespace other than the initial one). Before the command, as in runc
    /// (`spec --rootless` is another flag).
    #[arg(long, value_name = "auto|true|false", default_value = "auto",
          value_parser = RootlessMode::parse)]
    pub rootless: RootlessMode,
    /// Path to the criu binary for checkpoint and restore (default: criu in PATH).
    #[arg(long, global = true)]
    pub criu: Option<PathBuf>,
}

impl Global {
    /// Sets [`Global::root`]: `--root` when given, else the default state root (`/run/hull`,
    /// or `$XDG_RUNTIME_DIR/hull` for a rootless caller), or the error saying neither will do.
    pub fn resolve_root(&mut self) -> hull_runtime::Result<()> {
        self.root = match &self.root_flag {
            Some(root) => root.clone(),
            None => hull_runtime::container::state_root::default_root()?,
        };
        Ok(())
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// logrus-style `time=... level=... msg=...`.
    Text,
    /// One JSON object a line: `{"level":...,"msg":...,"time":...}`.
    Json,
}

/// Output format of `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

// Flags shared by `create` and `run`. (Plain comments on these `Args`: a doc comment would
// become the help text of the deferred subcommand, over the variant's.)
#[derive(Debug, Args)]
pub struct CreateFlags {
    /// The container id.
    pub id: String,
    /// Path to the bundle directory (default: the current directory).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// File to write the container's init pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use chroot (after moving the rootfs to /) instead of pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Unix socket to send the pty master to (when process.terminal is true).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Pass this many fds (from 3 up) on to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Accepted for compatibility (runc's `run` flag): hull never makes itself a child
    /// subreaper, so this is always so; a container's orphans are reaped by its own init
    /// (or, without a PID namespace, by the host's).
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

// Flags of `exec`, as runc's.
#[derive(Debug, Args)]
pub struct ExecFlags {
    /// The container id.
    pub id: String,
    /// The command to run and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// A process.json describing the whole process (instead of the command line).
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Unix socket to send the pty master to (with --tty).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE); repeatable.
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// uid[:gid] to run as.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional group ids; repeatable.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Detach from the process.
    #[arg(short, long)]
    pub detach: bool,
    /// File to write the process's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label for the process.
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile for the process.
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privileges.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability; repeatable.
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Pass this many fds (from 3 up) on to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Allow exec into a paused container.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Run in an existing sub-cgroup of the container's: [CONTROLLERS:]PATH; repeatable.
    #[arg(long = "cgroup")]
    pub cgroup: Vec<String>,
}

// Flags of `update`, as runc's: each changes one resource of the live container.
#[derive(Debug, Args)]
pub struct UpdateFlags {
    /// The container id.
    pub id: String,
    /// Read the new resources (OCI `linux.resources` JSON) from this file, `-` for stdin;
    /// the other flags are then ignored.
    #[arg(short, long)]
    pub resources: Option<String>,
    /// Block IO weight (10..=1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds (-1: unlimited).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS burst in microseconds (runc 1.2's flag).
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    /// SCHED_IDLE for the cgroup: 1 on, 0 off (runc 1.2's flag; the kernel takes only these).
    #[arg(long = "cpu-idle", allow_hyphen_values = true)]
    pub cpu_idle: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-share", visible_alias = "cpu-shares")]
    pub cpu_share: Option<u64>,
    /// CPU real-time period in microseconds.
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU real-time runtime in microseconds.
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs to run on (e.g. 0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use (e.g. 0-3, 0,1).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Kernel memory limit (deprecated; ignored where the kernel lacks it).
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP buffer memory limit (deprecated).
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit (e.g. 64m; -1: unlimited).
    #[arg(short, long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory reservation (soft limit).
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids (-1: unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT/CAT L3 cache schema (refused, naming what is missing: hull makes no
    /// resctrl groups).
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT/MBA memory bandwidth schema (refused like --l3-cache-schema).
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
}

// Flags `checkpoint` and `restore` share, as runc's.
#[derive(Debug, Args)]
pub struct CriuFlags {
    /// The container id.
    pub id: String,
    /// Directory of the checkpoint images (default: ./checkpoint).
    #[arg(long = "image-path")]
    pub image_path: Option<PathBuf>,
    /// Directory for CRIU's log and work files (default: the image path).
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections.
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// The container is a shell job (its session and terminal come from outside).
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks.
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// Pages are served lazily (userfaultfd).
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
    /// How CRIU handles cgroups: soft, full, strict or ignore.
    #[arg(long = "manage-cgroups-mode")]
    pub manage_cgroups_mode: Option<String>,
    /// A namespace to create empty instead of restoring it (only "network"); repeatable.
    #[arg(long = "empty-ns")]
    pub empty_ns: Vec<String>,
    /// Deduplicate the memory images against their parent.
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
}

// Flags of `checkpoint` only.
#[derive(Debug, Args)]
pub struct CheckpointFlags {
    #[command(flatten)]
    pub criu: CriuFlags,
    /// The images of a previous --pre-dump, relative to the image path.
    #[arg(long = "parent-path")]
    pub parent_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint.
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// Dump the memory only (the container keeps running), as the parent of a later dump.
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
    /// An fd CRIU writes to once the lazy-pages server is ready.
    #[arg(long = "status-fd")]
    pub status_fd: Option<i32>,
    /// Send the memory pages to a CRIU page server at ADDRESS:PORT.
    #[arg(long = "page-server")]
    pub page_server: Option<String>,
}

// Flags of `restore` only.
#[derive(Debug, Args)]
pub struct RestoreFlags {
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Path to the bundle directory (default: the current directory).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Return once restored instead of waiting for the container.
    #[arg(short, long)]
    pub detach: bool,
    /// File to write the restored init's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket to send the new pty master to (when process.terminal is true).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Accepted for compatibility: CRIU restores the container's own mount namespace.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for compatibility: hull always reaps the container itself.
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

/// The subcommands, named and flagged as runc's. Only the given subcommand's arguments are
/// built (`defer`): building all of them cost a `hull start` more than its own work in the
/// emulated cgroup v2 guest of tests/vm/bench-v2.sh.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Create a container; its process waits for `start`.
    Create(CreateFlags),
    /// Start a created container.
    Start { id: String },
    /// Create and start a container, and wait for it unless --detach.
    Run {
        #[command(flatten)]
        create: CreateFlags,
        /// Detach from the container's process.
        #[arg(short, long)]
        detach: bool,
        /// Do not delete the container after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// Run a new process in a running container.
    Exec(ExecFlags),
    /// Print the state of a container.
    State { id: String },
    /// Send a signal to a container's init (default SIGTERM).
    Kill {
        id: String,
        /// Signal name (KILL, SIGKILL) or number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
        /// Signal every process in the container.
        #[arg(short, long)]
        all: bool,
    },
    /// Delete a container and everything it holds.
    Delete {
        id: String,
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
    },
    /// List containers.
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Suspend every process of a container (cgroup freezer).
    Pause { id: String },
    /// Resume a paused container.
    Resume { id: String },
    /// List the processes of a container: runs `ps` (default `-ef`) and keeps its rows.
    Ps {
        id: String,
        /// Output format: table (ps output) or json (an array of pids).
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// Options passed to ps (after `--`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Print container events (stats every interval, oom) as JSON lines.
    Events {
        id: String,
        /// Print the statistics once and exit.
        #[arg(long)]
        stats: bool,
        /// Interval between stats events (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s")]
        interval: String,
    },
    /// Change the resource limits of a running container.
    Update(UpdateFlags),
    /// Checkpoint a running container with CRIU.
    Checkpoint(CheckpointFlags),
    /// Restore a container from a checkpoint.
    Restore(RestoreFlags),
    /// Print the OCI features document: what this hull supports (runtime-spec features.md).
    Features,
    /// Write a default config.json.
    Spec {
        /// Directory to write config.json to.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A config for a rootless container.
        #[arg(long)]
        rootless: bool,
    },
}

impl Command {
    /// The command's name and the container id it acts on, for error messages.
    pub fn describe(&self) -> (&'static str, Option<String>) {
        match self {
            Command::Create(c) => ("create", Some(c.id.clone())),
            Command::Start { id } => ("start", Some(id.clone())),
            Command::Run { create, .. } => ("run", Some(create.id.clone())),
            Command::Exec(e) => ("exec", Some(e.id.clone())),
            Command::State { id } => ("state", Some(id.clone())),
            Command::Kill { id, .. } => ("kill", Some(id.clone())),
            Command::Delete { id, .. } => ("delete", Some(id.clone())),
            Command::List { .. } => ("list", None),
            Command::Spec { .. } => ("spec", None),
            Command::Features => ("features", None),
            Command::Pause { id } => ("pause", Some(id.clone())),
            Command::Resume { id } => ("resume", Some(id.clone())),
            Command::Ps { id, .. } => ("ps", Some(id.clone())),
            Command::Events { id, .. } => ("events", Some(id.clone())),
            Command::Update(u) => ("update", Some(u.id.clone())),
            Command::Checkpoint(c) => ("checkpoint", Some(c.criu.id.clone())),
            Command::Restore(r) => ("restore", Some(r.criu.id.clone())),
        }
    }
}
