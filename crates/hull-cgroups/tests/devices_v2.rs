//! The cgroup v2 device filter (eBPF) on the real kernel. Needs root and a cgroup2 mount
//! (on a hybrid host, the `unified` tree: it has no controllers, but device programs can be
//! attached to any cgroup2 directory); otherwise the test prints why and passes.
//!
//! A shell is moved into a fresh cgroup2 directory whose filter allows only /dev/null and
//! reports what it can open. A v1 devices cgroup (hybrid hosts) also applies, but the
//! test's own v1 cgroup allows these devices, so only the eBPF filter can refuse.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use hull_cgroups::{
    manager_for, parse_mountinfo, parse_proc_cgroup, CgroupConfig, Layout, Manager,
};
use oci_spec::runtime::{
    LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxResourcesBuilder,
};

/// A layout with only this host's cgroup2 hierarchy, so the manager is the v2 one even on
/// a hybrid host; `None` (with the reason) when the test cannot run.
fn cgroup2_only() -> Result<Layout, &'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Err("not root");
    }
    let text = std::fs::read_to_string("/proc/self/mountinfo").map_err(|_| "no mountinfo")?;
    let full = parse_mountinfo(&text).map_err(|_| "unparsable mountinfo")?;
    match full.unified {
        Some(h) => Ok(Layout {
            unified: Some(h),
            v1: Vec::new(),
        }),
        None => Err("no cgroup2 mount"),
    }
}

fn rule(allow: bool, typ: LinuxDeviceType, major: i64, minor: i64) -> LinuxDeviceCgroup {
    LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .typ(typ)
        .major(major)
        .minor(minor)
        .access("rwm")
        .build()
        .unwrap()
}

/// A shell that, for each line it reads, tries to open each of `/dev/zero` and `/dev/null`
/// and prints one line: the errors, then `zero=open`/`null=open` for those that opened.
struct Probe {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Probe {
    fn spawn() -> Probe {
        let script = "while read _; do \
                      ( : </dev/zero ) 2>&1 && printf 'zero=open '; \
                      ( : </dev/null ) 2>&1 && printf 'null=open '; \
                      echo; done";
        let mut child = Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sh");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Probe {
            child,
            stdin,
            stdout,
        }
    }

    /// What the shell could open now (its output is line-buffered through `echo`).
    fn check(&mut self) -> String {
        writeln!(self.stdin, "go").unwrap();
        self.stdin.flush().unwrap();
        let mut out = String::new();
        // The error line of a failed open comes first, then the summary line.
        loop {
            let mut line = String::new();
            assert!(self.stdout.read_line(&mut line).unwrap() > 0, "sh died");
            let done = line.contains("=open") || line.trim().is_empty();
            out.push_str(&line);
            if done {
                return out;
            }
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes the cgroup even when an assertion fails (after the probe is gone).
struct Cleanup(Box<dyn Manager>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.0.destroy();
    }
}

#[test]
fn filter_allows_only_the_listed_devices_and_is_replaced_on_update() {
    let layout = match cgroup2_only() {
        Ok(l) => l,
        Err(why) => {
            eprintln!("skipping: {why}");
            return;
        }
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let cfg = CgroupConfig {
        path: Some(format!(
            "/hull-cgtest-devices-{}-{nanos}",
            std::process::id()
        )),
        name: String::new(),
    };
    let own = parse_proc_cgroup("0::/\n").unwrap();
    let cleanup = Cleanup(manager_for(&layout, &own, &cfg).expect("manager"));
    let m = cleanup.0.as_ref();
    let dir = m.paths()[""].clone();

    let only_null = LinuxResourcesBuilder::default()
        .devices(vec![
            rule(false, LinuxDeviceType::A, -1, -1),
            rule(true, LinuxDeviceType::C, 1, 3),
        ])
        .build()
        .unwrap();
    m.set(&only_null).expect("set the device filter");
    assert!(dir.is_dir());

    let mut probe = Probe::spawn();
    let before = probe.check();
    assert!(
        before.contains("zero=open") && before.contains("null=open"),
        "{before}"
    );

    m.apply(probe.child.id() as i32).expect("move the shell in");
    let inside = probe.check();
    assert!(
        inside.contains("/dev/zero: Operation not permitted"),
        "opening /dev/zero must fail with EPERM: {inside}"
    );
    assert!(!inside.contains("zero=open"), "{inside}");
    assert!(inside.contains("null=open"), "{inside}");

    // An update replaces the filter: had the old one stayed attached, it would still deny.
    let zero_too = LinuxResourcesBuilder::default()
        .devices(vec![
            rule(false, LinuxDeviceType::A, -1, -1),
            rule(true, LinuxDeviceType::C, 1, 3),
            rule(true, LinuxDeviceType::C, 1, 5),
        ])
        .build()
        .unwrap();
    m.set(&zero_too).expect("update the device filter");
    let updated = probe.check();
    assert!(
        updated.contains("zero=open") && updated.contains("null=open"),
        "{updated}"
    );

    // And back again: only /dev/null.
    m.set(&only_null).expect("restore the device filter");
    let again = probe.check();
    assert!(!again.contains("zero=open"), "{again}");
    assert!(again.contains("null=open"), "{again}");

    drop(probe);
    drop(cleanup);
    assert!(!dir.exists(), "{} still exists", dir.display());
}
