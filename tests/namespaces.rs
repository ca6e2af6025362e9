//! Namespaces: new ones (pid, uts, net, ipc, mnt), none, and joined by path.

use hull_integration::{ns_link, Hull};
use serde_json::json;
use std::time::Duration;

#[test]
fn container_is_pid_1() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh("echo pid=$$; ps -o pid,comm 2>/dev/null | wc -l");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.lines().any(|l| l.trim() == "pid=1"), "{out}");
}

#[test]
fn container_sees_only_its_own_processes() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh("tr '\\0' ' ' < /proc/1/cmdline; echo; ls /proc | grep -cE '^[0-9]+$'");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let mut lines = out.stdout.lines();
    let init = lines.next().unwrap_or("");
    assert!(
        init.starts_with("/bin/sh -c"),
        "pid 1 is the container's shell: {out}"
    );
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("a count");
    // the shell, ls, grep, and perhaps a subshell: never the host's hundreds
    assert!(count <= 6, "the container sees host processes: {out}");
}

#[test]
fn hostname_is_set() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.hostname("hull-test-host")
        .sh("hostname; cat /proc/sys/kernel/hostname");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["hull-test-host", "hull-test-host"], "{out}");
}

/// (runc 1.1 ignores `domainname`; runc 1.2 and crun set it, as the runtime-spec says.)
#[test]
fn domainname_is_set() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.domainname("hull.example")
        .sh("cat /proc/sys/kernel/domainname");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(out.stdout.trim(), "hull.example", "{out}");
}

#[test]
fn new_netns_has_only_lo_and_it_is_up() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh("ls /sys/class/net; echo ---; ip link show lo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let (ifaces, lo) = out.stdout.split_once("---").expect("both parts printed");
    let names: Vec<&str> = ifaces.split_whitespace().collect();
    assert_eq!(names, ["lo"], "{out}");
    let flags = lo
        .split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map(|(f, _)| f)
        .unwrap_or("");
    assert!(flags.split(',').any(|f| f == "UP"), "lo is not up: {out}");
}

#[test]
fn namespaces_differ_from_the_host() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh("for n in pid net ipc uts mnt; do echo $n $(readlink /proc/self/ns/$n); done");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    for ns in ["pid", "net", "ipc", "uts", "mnt"] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{ns} ")))
            .unwrap_or_else(|| panic!("no {ns}: {out}"));
        let inside = line.split_once(' ').unwrap().1.trim();
        assert!(inside.starts_with(&format!("{ns}:[")), "{out}");
        assert_ne!(inside, ns_link("self", ns), "{ns} namespace is the host's");
    }
}

#[test]
fn without_a_network_namespace_the_host_interfaces_are_seen() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.remove_namespace("network")
        .sh("readlink /proc/self/ns/net; ip -o link show | cut -d: -f2 | tr -d ' '");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next().unwrap_or(""), ns_link("self", "net"), "{out}");
    let mut seen: Vec<String> = lines
        .map(|l| l.split('@').next().unwrap().to_string())
        .collect();
    seen.sort();
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    assert_eq!(seen, host, "{out}");
}

#[test]
fn join_namespaces_by_path() {
    let h = Hull::new();
    let mut a = h.bundle();
    a.hostname("alpha").args(&["sleep", "1000"]);
    let ida = h.new_id();
    h.run_fg(&ida, &a, &["--detach"]).ok();
    let apid = h.pid(&ida).to_string();

    let mut b = h.bundle();
    b.no_hostname()
        .add_namespace("uts", Some(&format!("/proc/{apid}/ns/uts")))
        .add_namespace("network", Some(&format!("/proc/{apid}/ns/net")))
        .sh("hostname; readlink /proc/self/ns/net; readlink /proc/self/ns/uts; readlink /proc/self/ns/ipc");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("alpha"),
        "B sees A's hostname: {out}"
    );
    assert_eq!(
        lines.get(1).copied(),
        Some(ns_link(&apid, "net").as_str()),
        "B is in A's net ns: {out}"
    );
    assert_eq!(
        lines.get(2).copied(),
        Some(ns_link(&apid, "uts").as_str()),
        "B is in A's uts ns: {out}"
    );
    assert_ne!(
        lines.get(3).copied(),
        Some(ns_link(&apid, "ipc").as_str()),
        "B has its own ipc ns: {out}"
    );
    // A is untouched
    assert_eq!(h.status(&ida).as_deref(), Some("running"));
    let mut c = h.bundle();
    c.no_hostname()
        .add_namespace("uts", Some(&format!("/proc/{apid}/ns/uts")))
        .sh("hostname");
    let again = h.run_fg(&h.new_id(), &c, &[]).ok();
    assert_eq!(again.stdout.trim(), "alpha", "{again}");
    h.kill(&ida, Some("KILL")).ok();
    h.wait_status(&ida, "stopped", Duration::from_secs(30));
}

#[test]
fn sysctl_is_set_in_the_containers_namespaces() {
    let h = Hull::new();
    let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let mut b = h.bundle();
    b.config["linux"]["sysctl"] =
        serde_json::json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "4096"});
    b.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["1", "4096"], "{out}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_before,
        "the host's value changed"
    );
}

/// A new time namespace carries `linux.timeOffsets`: the container's monotonic and boot clocks
/// run ahead of the host's by the offsets.
#[test]
fn time_namespace_with_clock_offsets() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_namespace("time", None);
    b.config["linux"]["timeOffsets"] = serde_json::json!({
        "monotonic": {"secs": 86400, "nanosecs": 0},
        "boottime": {"secs": 172800, "nanosecs": 0}
    });
    b.sh("cat /proc/self/timens_offsets; cut -d' ' -f1 /proc/uptime");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let offsets: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .take(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(offsets.contains(&vec!["monotonic", "86400", "0"]), "{out}");
    assert!(offsets.contains(&vec!["boottime", "172800", "0"]), "{out}");
    let host_uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let uptime: f64 = out
        .stdout
        .lines()
        .nth(2)
        .and_then(|l| l.trim().parse().ok())
        .expect("uptime");
    assert!(
        uptime >= host_uptime + 172800.0 - 60.0,
        "boot clock not shifted: {out}"
    );
}

/// A PID namespace joined by path (Kubernetes' shareProcessNamespace): the container's init
/// sees the other container's processes and is not PID 1; hull's own next children (the
/// createRuntime and poststart hooks) stay in the host's PID namespace.
#[test]
fn join_a_pid_namespace_by_path_and_hooks_stay_in_the_hosts() {
    let h = Hull::new();
    let mut a = h.bundle();
    a.args(&["sleep", "1000"]);
    let ida = h.new_id();
    h.run_fg(&ida, &a, &["--detach"]).ok();
    let apid = h.pid(&ida).to_string();

    let mut b = h.bundle();
    b.root_readonly(false)
        .add_namespace("pid", Some(&format!("/proc/{apid}/ns/pid")))
        .sh("echo $$; readlink /proc/self/ns/pid; ps -o pid,args");
    let log = b.host_path("/hooks.log");
    for kind in ["createRuntime", "poststart"] {
        let line = format!(
            "echo {kind} $(readlink /proc/self/ns/pid) >> {}",
            log.display()
        );
        b.add_hook(kind, json!({"path": "/bin/sh", "args": ["sh", "-c", line]}));
    }
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_ne!(
        lines.first().copied(),
        Some("1"),
        "B's init is not PID 1: {out}"
    );
    assert_eq!(
        lines.get(1).copied(),
        Some(ns_link(&apid, "pid").as_str()),
        "{out}"
    );
    assert!(out.stdout.contains("sleep 1000"), "B sees A's sleep: {out}");
    let host = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let hooks = std::fs::read_to_string(&log).unwrap();
    for kind in ["createRuntime", "poststart"] {
        assert!(
            hooks.contains(&format!("{kind} {}", host.display())),
            "{kind} ran in the host's PID namespace: {hooks}"
        );
    }
    h.kill(&ida, Some("KILL")).ok();
    h.wait_status(&ida, "stopped", Duration::from_secs(30));
}
