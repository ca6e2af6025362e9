//! `events`: runc's event stream for a container — a `stats` event every interval and an
//! `oom` event whenever the kernel reports one — or a single `stats` event.

use std::path::Path;
use std::time::{Duration, Instant};

use hull_cgroups::{Manager, OomWatcher, Stats};
use serde::Serialize;

use super::netstats::{self, NetworkInterface};
use super::state::{Container, Status};
use crate::error::Result;

/// One event, shaped like runc's `types.Event`: `{"type":"stats","id":…,"data":{…}}`.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// `stats` or `oom`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The container id.
    pub id: String,
    /// The statistics (`stats` events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<StatsData>,
}

/// The `data` of a `stats` event: runc's `types.Stats`, the cgroup's statistics followed by
/// `intel_rdt` and `network_interfaces`.
#[derive(Debug, Clone, Serialize)]
pub struct StatsData {
    /// cpu, cpuset, memory, pids, blkio, hugetlb.
    #[serde(flatten)]
    pub cgroup: Stats,
    /// Always `{}`: hull makes no resctrl group for a container, so there is nothing to
    /// report (runc prints `{}` too for a container without `linux.intelRdt`).
    pub intel_rdt: IntelRdt,
    /// The interfaces of the container's own network namespace; `null` without one.
    pub network_interfaces: Option<Vec<NetworkInterface>>,
}

/// runc's `types.IntelRdt`, of which hull fills nothing (see [`StatsData::intel_rdt`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct IntelRdt {}

/// How often a waiting stream checks that the container still runs.
const ALIVE_CHECK: Duration = Duration::from_secs(1);

/// Loads container `id`, refusing a stopped one as runc does.
fn running(root: &Path, id: &str) -> Result<Container> {
    let c = Container::load(root, id)?;
    let status = c.status();
    if status == Status::Stopped {
        return Err(c.bad_status(status, "container is not running"));
    }
    Ok(c)
}

fn stats_event(c: &Container, cgroup: &dyn Manager) -> Result<Event> {
    Ok(Event {
        kind: "stats".into(),
        id: c.record.id.clone(),
        data: Some(StatsData {
            cgroup: cgroup.stats()?,
            intel_rdt: IntelRdt::default(),
            network_interfaces: netstats::of_process(c.record.pid),
        }),
    })
}

/// The current statistics of container `id` as one `stats` event.
pub fn stats(root: &Path, id: &str) -> Result<Event> {
    let c = running(root, id)?;
    stats_event(&c, super::cgroup::of(&c.record)?.as_ref())
}

/// Streams events of container `id` to `emit` until the container stops: `stats` every
/// `interval`, `oom` as soon as one happens. A stats read that fails is logged and skipped.
pub fn watch(
    root: &Path,
    id: &str,
    interval: Duration,
    emit: &mut dyn FnMut(&Event) -> Result<()>,
) -> Result<()> {
    let c = running(root, id)?;
    let cgroup = super::cgroup::of(&c.record)?;
    let mut oom = match cgroup.oom_watcher() {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!("no oom events: {e}");
            None
        }
    };
    let interval = interval.max(Duration::from_millis(1));
    let mut next = Instant::now() + interval;
    while c.init_alive() {
        let left = next
            .saturating_duration_since(Instant::now())
            .min(ALIVE_CHECK);
        for _ in 0..wait_oom(&mut oom, left)? {
            emit(&Event {
                kind: "oom".into(),
                id: id.into(),
                data: None,
            })?;
        }
        if Instant::now() >= next {
            match stats_event(&c, cgroup.as_ref()) {
                Ok(ev) => emit(&ev)?,
                Err(e) => tracing::warn!("stats: {e}"),
            }
            next += interval;
        }
    }
    Ok(())
}

/// Waits `timeout` for OOM events (just sleeps without a watcher); returns how many came.
fn wait_oom(watcher: &mut Option<Box<dyn OomWatcher>>, timeout: Duration) -> Result<u64> {
    match watcher {
        Some(w) => Ok(w.wait(timeout)?),
        None => {
            std::thread::sleep(timeout);
            Ok(0)
        }
    }
}
