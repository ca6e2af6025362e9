//! Logs: text or logrus-shaped JSON lines (`{"level":"error","msg":"...","time":"..."}`), to
//! `--log` or stderr. containerd shows its user the `msg` of the last `error` line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use crate::cli::{Global, LogFormat};

/// Where log lines go.
struct Sink {
    file: Option<Mutex<File>>,
    format: LogFormat,
    max: Level,
}

static SINK: std::sync::OnceLock<Sink> = std::sync::OnceLock::new();

/// Install the logger for this process: lines are appended to `--log` (stderr when it is not
/// given or cannot be opened) in `--log-format`; debug lines only with `--debug`.
pub fn init(global: &Global) {
    let file = global.log.as_ref().and_then(|p| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
            .map(Mutex::new)
    });
    let max = if global.debug {
        Level::DEBUG
    } else {
        Level::INFO
    };
    let _ = SINK.set(Sink {
        file,
        format: global.log_format,
        max,
    });
    let _ = tracing_subscriber::registry().with(LogLayer).try_init();
}

/// Print a failure: one line `hull: ...` on stderr, and an error line in the `--log` file.
pub fn report_error(msg: &str) {
    if let Some(sink) = SINK.get() {
        if sink.file.is_some() {
            sink.write("error", msg);
        }
    }
    eprintln!("hull: {msg}");
}

impl Sink {
    fn write(&self, level: &str, msg: &str) {
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

struct LogLayer;

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

impl<S: Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(sink) = SINK.get() else { return };
        if *event.metadata().level() > sink.max {
            return;
        }
        let mut msg = Message::default();
        event.record(&mut msg);
        sink.write(level_name(event.metadata().level()), &msg.0);
    }
}
