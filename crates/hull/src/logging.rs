//! Logs: text or logrus-shaped JSON lines (`{"level":"error","msg":"...","time":"..."}`), to
//! `--log` or stderr. containerd shows its user the `msg` of the last `error` line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::cli::{Cli, Global, LogFormat};

/// Where log lines go.
struct Sink {
    file: Option<Mutex<File>>,
    format: LogFormat,
}

static SINK: std::sync::OnceLock<Sink> = std::sync::OnceLock::new();

/// Install the logger for this process: lines are appended to `--log` (stderr when it is not
/// given) in `--log-format`; debug lines only with `--debug`. A `--log` that cannot be
/// opened is reported (on stderr) and hull exits 1 at once, before doing anything (runc).
pub fn init(global: &Global) {
    if let Some(path) = global.log.as_deref() {
        if let Err(e) = OpenOptions::new().create(true).append(true).open(path) {
            install(None, global.log_format, global.debug);
            report_error(&format!("--log: open {}: {e}", path.display()));
            std::process::exit(1);
        }
    }
    install(global.log.as_deref(), global.log_format, global.debug);
}

fn install(log: Option<&Path>, format: LogFormat, debug: bool) {
    let file = log.and_then(|p| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
            .map(Mutex::new)
    });
    let max = if debug { Level::DEBUG } else { Level::INFO };
    let _ = SINK.set(Sink { file, format });
    let _ = tracing::subscriber::set_global_default(LogSubscriber { max });
}

/// Print a failure: one line `hull: ...` on stderr (control characters escaped: a newline in
/// a config string does not break it), and an error line in the `--log` file; without
/// `--log` but with `--log-format json`, the error line itself goes to stderr (runc).
pub fn report_error(msg: &str) {
    let msg = hull_runtime::error::one_line(msg);
    match SINK.get() {
        Some(sink) if sink.file.is_some() => {
            sink.write("error", &msg);
            eprintln!("hull: {msg}");
        }
        Some(sink) if sink.format == LogFormat::Json => sink.write("error", &msg),
        _ => eprintln!("hull: {msg}"),
    }
}

/// A command line clap refused: `--help` and `--version` are printed as clap prints them;
/// an error is reported as `report_error` does, with `--log`/`--log-format` read leniently
/// from the same command line, then hull exits 1 (runc's status for a usage error).
pub fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let lenient = <Cli as clap::CommandFactory>::command()
        .ignore_errors(true)
        .try_get_matches()
        .ok();
    let log = lenient
        .as_ref()
        .and_then(|m| m.get_one::<PathBuf>("log").cloned());
    let log_format = lenient
        .as_ref()
        .and_then(|m| m.get_one::<LogFormat>("log_format").copied())
        .unwrap_or(LogFormat::Text);
    match (log, log_format) {
        (None, LogFormat::Text) => {
            // clap's own text, but runc's status (clap's would be 2)
            let _ = e.print();
            std::process::exit(1)
        }
        (log, log_format) => {
            install(log.as_deref(), log_format, false);
            let text = e.render().to_string();
            let what: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let what = what.join(" ");
            report_error(what.strip_prefix("error: ").unwrap_or(&what));
            std::process::exit(1)
        }
    }
}

impl Sink {
    fn write(&self, level: &str, msg: &str) {
        // containerd shows `msg` to its user: one line there too
        let msg = hull_runtime::error::one_line(msg);
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let line = match self.format {
            LogFormat::Json => {
                serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
            }
            LogFormat::Text => format!("time={time:?} level={level} msg={msg:?}"),
        };
        match &self.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = writeln!(f, "{line}");
                }
            }
            None => eprintln!("{line}"),
        }
    }
}

/// The process's one subscriber: events at `max` or above go to the [`Sink`]. hull has no
/// spans, so this is all a subscriber needs to be (tracing-subscriber's registry would build
/// span storage at each start for nothing); below `max`, events are not even built.
struct LogSubscriber {
    max: Level,
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl Subscriber for LogSubscriber {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(self.max.into())
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let Some(sink) = SINK.get() else { return };
        let mut msg = Message::default();
        event.record(&mut msg);
        sink.write(level_name(event.metadata().level()), &msg.0);
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}
