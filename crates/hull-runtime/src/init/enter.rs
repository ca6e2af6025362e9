//! What a process started by `hull exec` does once it is in the container's namespaces:
//! lead a session (and process group) of its own, wait for the parent to put it in the cgroup, take the terminal if asked, become the
//! process under the container's seccomp profile, and `execve`. The channel is
//! close-on-exec, so the parent sees it close when the exec succeeded.

use std::os::fd::{OwnedFd, RawFd};

use oci_spec::runtime::{Process, Spec};

use super::{
    at, become_process_with, console, console_size, exec, mempolicy, personality, session,
    set_final_affinity, set_initial_affinity, wait_proceed,
};
use crate::bootstrap::channel::{Channel, Msg};
use crate::bootstrap::parent_death;
use crate::error::Context as _;
use crate::security;

/// Run the exec'd process (`seccomp_agent`: the agent's socket, connected by the parent on
/// the host); returns (an exit code) only after reporting a failure.
pub fn run(
    chan: &Channel,
    process: &Process,
    container: &Spec,
    console: Option<RawFd>,
    preserve_fds: u32,
    seccomp_agent: Option<&OwnedFd>,
) -> i32 {
    let result = (|| {
        tracing::debug!("child process in init(): joining the container");
        session::lead_new_session().map_err(at("session"))?;
        security::dumpable::forbid().map_err(at("dumpable"))?;
        set_initial_affinity(process).map_err(at("execCPUAffinity"))?;
        let state = wait_proceed(chan).map_err(at("wait for the parent"))?;
        let agent = seccomp_agent
            .map(|s| s.try_clone())
            .transpose()
            .ctx(|| "dup the seccomp agent's socket")
            .map_err(at("seccomp listener"))?;
        let mut listener =
            security::seccomp_listener(container, agent, &state).map_err(at("seccomp listener"))?;
        let seccomp = security::seccomp_profile(container);
        if let Some(socket) = console {
            console::attach(socket, console_size(process)).map_err(at("console"))?;
        }
        let personality = container
            .linux()
            .as_ref()
            .and_then(|l| l.personality().as_ref());
        if let Some(p) = personality {
            personality::apply(p).map_err(at("personality"))?;
        }
        mempolicy::apply(container).map_err(at("memoryPolicy"))?;
        let prepared = become_process_with(process, seccomp).map_err(at("process"))?;
        set_final_affinity(process).map_err(at("execCPUAffinity"))?;
        exec::close_inherited_fds(preserve_fds).map_err(at("close fds"))?;
        // Set-up is done: from here on only the seccomp load and execve remain, and the
        // process outlives a `hull exec` that dies now (as it does a detached one).
        parent_death::outlive_parent().map_err(at("report ready"))?;
        tracing::debug!("setns_init: about to exec");
        chan.send(&Msg::Ready).map_err(at("report ready"))?;
        security::load_seccomp(seccomp, &mut listener, prepared.caps_after_seccomp.as_ref())
            .map_err(at("seccomp"))?;
        Err(("exec", prepared.exec()))
    })();
    let Err((step, e)): Result<std::convert::Infallible, _> = result;
    chan.fail(step, &e);
    1
}
