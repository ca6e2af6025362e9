//! `linux.maskedPaths`, `linux.readonlyPaths` and `linux.sysctl`, seen from inside.

use hull_integration::{leaks::assert_nothing_left, Hull};
use serde_json::json;

/// (/proc/kcore does not exist on every kernel; /proc/timer_list and /proc/acpi do.)
#[test]
fn default_masked_paths_are_empty() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.sh(
        "wc -c < /proc/timer_list; ls -A /proc/acpi | wc -l; ls -A /sys/firmware | wc -l; echo end",
    );
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    let lines: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(lines, ["0", "0", "0", "end"], "{out}");
}

#[test]
fn proc_sys_is_read_only() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_namespace("ipc", None)
        .sh("echo 1 > /proc/sys/kernel/shmmni 2>&1; echo rc=$?; grep ' /proc/sys ' /proc/self/mountinfo");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert!(out.stdout.contains("rc=1"), "{out}");
    let line = out.stdout.lines().last().unwrap_or_default();
    assert!(
        line.split_whitespace()
            .nth(5)
            .unwrap_or("")
            .split(',')
            .any(|o| o == "ro"),
        "{out}"
    );
}

#[test]
fn missing_paths_are_skipped() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.config["linux"]["maskedPaths"] = json!(["/no/such/path", "/proc/timer_list"]);
    b.config["linux"]["readonlyPaths"] = json!(["/no/such/dir", "/proc/sys"]);
    b.sh("wc -c < /proc/timer_list");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(out.stdout.trim(), "0", "{out}");
}

#[test]
fn masked_file_and_dir_of_the_rootfs() {
    let h = Hull::new();
    let mut b = h.bundle();
    std::fs::write(b.host_path("/etc/secret"), "hidden").unwrap();
    std::fs::create_dir_all(b.host_path("/etc/secret.d")).unwrap();
    std::fs::write(b.host_path("/etc/secret.d/key"), "hidden").unwrap();
    b.config["linux"]["maskedPaths"] = json!(["/etc/secret", "/etc/secret.d"]);
    b.sh("cat /etc/secret; ls -A /etc/secret.d; echo end");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(out.stdout.trim(), "end", "{out}");
}

#[test]
fn namespaced_sysctls_are_written() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.add_namespace("ipc", None).add_namespace("network", None);
    b.config["linux"]["sysctl"] = json!({
        "kernel.shmmni": "1234",
        "net.ipv4.ip_unprivileged_port_start": "77"
    });
    b.sh("cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_unprivileged_port_start");
    let out = h.run_fg(&h.new_id(), &b, &[]).ok();
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["1234", "77"],
        "{out}"
    );
}

fn assert_sysctl_refused(b_edit: impl FnOnce(&mut hull_integration::Bundle), key: &str) {
    let h = Hull::new();
    let mut b = h.bundle();
    b_edit(&mut b);
    let id = h.new_id();
    h.create(&id, &b).assert_error(&[key]);
    assert_nothing_left(&h, &id, &b.dir);
}

#[test]
fn sysctls_not_isolated_are_refused() {
    // the UTS names conflicting with the config's own fields (runc, crun)
    assert_sysctl_refused(
        |b| {
            b.hostname("from-field");
            b.config["linux"]["sysctl"] = json!({"kernel.hostname": "from-sysctl"});
        },
        "kernel.hostname",
    );
    assert_sysctl_refused(
        |b| {
            b.domainname("from-field");
            b.config["linux"]["sysctl"] = json!({"kernel.domainname": "from-sysctl"});
        },
        "kernel.domainname",
    );
    assert_sysctl_refused(
        |b| b.config["linux"]["sysctl"] = json!({"vm.swappiness": "10"}),
        "vm.swappiness",
    );
    assert_sysctl_refused(
        |b| {
            b.remove_namespace("network");
            b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        },
        "net.ipv4.ip_forward",
    );
    assert_sysctl_refused(
        |b| {
            b.remove_namespace("ipc");
            b.config["linux"]["sysctl"] = json!({"kernel.shmmax": "1"});
        },
        "kernel.shmmax",
    );
}
