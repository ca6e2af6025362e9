//! The command line, flag for flag as runc's.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// hull: an OCI container runtime (a drop-in replacement for runc).
#[derive(Debug, Parser)]
#[command(name = "hull", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts, before or after the command name.
#[derive(Debug, Args)]
pub struct Global {
    /// Root directory for container state.
    #[arg(long, global = true, default_value = "/run/hull")]
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
    /// Use systemd to manage cgroups (not supported yet: refused when used).
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: true, false or auto (accepted; hull detects what it can do).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Path to criu (accepted for compatibility; checkpointing is not supported).
    #[arg(long, global = true)]
    pub criu: Option<PathBuf>,
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

/// Flags shared by `create` and `run`.
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
}

/// Flags of `exec`, as runc's.
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
}

#[derive(Debug, Subcommand)]
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
        /// Accepted for compatibility: hull always reaps the container itself.
        #[arg(long = "no-subreaper")]
        no_subreaper: bool,
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
        }
    }
}
