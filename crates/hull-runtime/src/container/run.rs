//! `run`: create and start in one process. In the foreground, hull stays init's parent:
//! it forwards signals to the container, proxies its terminal, reaps it, and returns its exit
//! status.

use nix::unistd::Pid;

use super::console::{self, Console};
use super::create::{create_in, due_hooks, CreateOptions};
use super::state::{Container, Status};
use super::{delete, foreground, start};
use crate::error::Result;
use crate::fault;
use crate::hooks::HookPoint;

/// How `run` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Start and return at once.
    Detach,
    /// Wait for the container; delete it afterwards unless `keep`.
    Foreground { keep: bool },
}

/// Run a container; returns the exit code hull should exit with.
pub fn run(opts: &CreateOptions, mode: RunMode) -> Result<i32> {
    let foreground = matches!(mode, RunMode::Foreground { .. });
    // hull's peak memory is that of its largest phase, not of all of them: the code of the
    // command line's parsing, then of the config's, is unmapped when it is done with (see
    // init/idle.rs), and so before the wait, which lasts as long as the container.
    crate::init::idle::release_memory();
    let mut bundle = crate::spec::load(&opts.bundle)?;
    crate::init::idle::release_memory();
    let terminal = super::create::wants_terminal(&bundle);
    let console = Console::choose(terminal, opts.console_socket.as_deref(), foreground)?;
    if let (Console::Proxy { .. }, Some(process)) = (&console, bundle.spec.process_mut()) {
        foreground::size_like_ours(process);
    }
    let c = create_in(opts, bundle, &console, true)?;
    fault::point("run::created");
    let RunMode::Foreground { keep } = mode else {
        return start_or_remove(&opts.root, &c).map(|_| 0);
    };
    let pty = match &console {
        Console::Proxy { ours, .. } => Some(console::recv_master(ours)?),
        _ => None,
    };
    drop(console);
    let set = foreground::block_signals()?;
    start_or_remove(&opts.root, &c)?;
    fault::point("run::started");
    crate::init::idle::release_memory();
    let code = foreground::wait(Pid::from_raw(c.record.pid), &set, pty)?;
    fault::point("run::exited");
    if !keep {
        delete::delete_loaded(&c, true)?;
    }
    Ok(code)
}

fn start_or_remove(root: &std::path::Path, c: &Container) -> Result<()> {
    let released = due_hooks(&c.record, HookPoint::Poststart, Status::Running)
        .and_then(|hooks| start::release(c).map(|_| hooks));
    match released {
        Ok(hooks) => start::poststart(c, hooks.as_ref()),
        Err(e) => {
            let _ = delete::delete(root, &c.record.id, true);
            Err(e)
        }
    }
}
