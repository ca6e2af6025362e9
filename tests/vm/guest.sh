#!/bin/busybox sh
# PID 1 of the cgroup-v2 guest, after the initrd switched to the host's / (read-only,
# over 9p). Run by tests/vm/init; never run it on a host.
#
# Sets up what the tests need (proc, sys, dev, writable /tmp and /run, cgroup2 alone at
# /sys/fs/cgroup), mounts the writable 9p share "results" at `hullvm_results=`, then, as
# `hullvm_mode=` says, in a child cgroup (as on a systemd host, where the caller is never in
# the root cgroup):
# - tests (tests/vm/run-v2.sh): runs each test binary of `<results>/plan` and writes there
#     output.log   every line the tests printed, prefixed "[cgroup v2 guest] <binary>:"
#     <n>.out      the output of the plan's n-th test binary, as is
#     summary.txt  one line per binary, the tests that passed, and the totals
#     status       0 when every test passed, else 1 (missing: the guest never finished)
# - bench (tests/vm/bench-v2.sh): runs bench/lifecycle.sh with the hull of `hullvm_hull=` and
#   RUNS=`hullvm_runs=` (with ASLR off when `hullvm_aslr=off`), and writes there
#     bench.log    its output (hyperfine's), as is
#     table.md, <row>-<runtime>.json, other.tsv  its table of medians and what it is made of
#     guest.txt    the guest's kernel, command line, CPUs and runtime versions
#     status       the script's exit status
# then powers off.

# The host's / is read-only here and its mount/poweroff are util-linux's and systemd's:
# this script uses busybox's applets, installed as links in a tmpfs first in PATH.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t tmpfs -o mode=0755 tmpfs /run
/bin/busybox mkdir -p /run/busybox
/bin/busybox --install -s /run/busybox
export PATH=/run/busybox:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root RUST_BACKTRACE=1 TERM=dumb
P="[cgroup v2 guest]"

say() { echo "$P $*" >/dev/console; }

halt() {
    sync
    poweroff -f
    reboot -f
}

arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | tail -n 1; }

# A writable tmpfs on /tmp for the tests; when the checkout itself lives under the host's
# /tmp (a CI clone may), it is bound back into place from the host's read-only /tmp.
keep_host_tmp() {
    repo=$(dirname "$(dirname "$(dirname "$(arg hullvm_script)")")")
    mkdir -p /run/host-tmp && mount --bind /tmp /run/host-tmp &&
        mount -t tmpfs -o mode=1777 tmpfs /tmp || return 1
    case "$repo" in
        /tmp/*) mkdir -p "$repo" && mount --bind "/run/host-tmp/${repo#/tmp/}" "$repo" ;;
    esac
}

setup() {
    mount -t sysfs sysfs /sys &&
        mount -t devtmpfs devtmpfs /dev &&
        mkdir -p /dev/pts /dev/shm &&
        mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts &&
        ln -sf pts/ptmx /dev/ptmx &&
        mount -t tmpfs -o mode=1777 tmpfs /dev/shm &&
        keep_host_tmp &&
        mount -t cgroup2 cgroup2 /sys/fs/cgroup || return 1
    results=$(arg hullvm_results)
    [ -n "$results" ] || { say "no hullvm_results= on the kernel command line"; return 1; }
    mkdir -p "$results" 2>/dev/null
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none results "$results" ||
        { say "cannot mount the results share at $results"; return 1; }
    ip link set lo up 2>/dev/null
    hostname hull-v2-guest
    return 0
}

# Runs one line of the plan: test binary $2 with filter $3..., as job $1; writes
# <results>/$1.out (its output), $1.rc (its exit status) and $1.secs (its wall time), and
# appends its output to the log and the console in one block once it finished (blocks of
# binaries run at the same time never mix; every line prefixed "[cgroup v2 guest] <binary>:").
run_one() {
    job=$1 name=$2
    shift 2
    out="$results/$job.out"
    exe=$(sed -n "s/^$name //p" "$results/executables" | head -n 1)
    if [ -z "$exe" ]; then
        echo "no test executable was built" >"$out"
        echo 127 >"$results/$job.rc"
        echo 0 >"$results/$job.secs"
    else
        echo "$P ==== $name $* (started)" | locked_append
        start=$(cut -d' ' -f1 /proc/uptime)
        # CRIU runs tar (tmpfs contents), ip and iptables by name: the checkpoint tests get
        # the host's tools first in PATH, not busybox's applets.
        tpath=$PATH
        [ "$name" = checkpoint ] && tpath=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        # shellcheck disable=SC2068 # the filter is a list of arguments
        PATH=$tpath "$exe" --test-threads 1 $@ >"$out" 2>&1
        echo $? >"$results/$job.rc"
        end=$(cut -d' ' -f1 /proc/uptime)
        awk "BEGIN { printf \"%.0f\\n\", $end - $start }" >"$results/$job.secs"
    fi
    {
        echo "$P ==== $name $* (exit $(cat "$results/$job.rc"), $(cat "$results/$job.secs")s):"
        sed "s|^|$P $name: |" "$out"
    } | locked_append
}

# Appends stdin to the log and the console under a lock (a directory: busybox has no flock).
locked_append() {
    buf=$(cat)
    until mkdir "$results/.lock" 2>/dev/null; do sleep 0.1; done
    printf '%s\n' "$buf" | tee -a "$log" >/dev/console
    rmdir "$results/.lock"
}

# Runs the jobs listed in file $1 ("<job> <binary> [filter...]" lines) on $jobs lanes run at
# once: each lane takes the next line not yet taken whenever its binary finished (a work
# queue: the slowest first in the plan, the lanes end together whatever the binaries take).
run_segment() {
    n=$(wc -l <"$1")
    [ "$n" -gt 0 ] || return 0
    echo 0 >"$1.next"
    lane=1
    while [ "$lane" -le "$jobs" ]; do
        (while line=$(next_line "$1") && [ -n "$line" ]; do
            # shellcheck disable=SC2086 # the filter is a list of arguments
            run_one $line
        done) &
        lane=$((lane + 1))
    done
    wait
    : >"$1"
    rm -f "$1.next"
}

# Prints the next line of file $1 not yet taken (nothing once all are), under the queue's
# lock (a directory: busybox has no flock).
next_line() {
    until mkdir "$1.take" 2>/dev/null; do sleep 0.1; done
    k=$(($(cat "$1.next") + 1))
    echo "$k" >"$1.next"
    rmdir "$1.take"
    sed -n "${k}p" "$1"
}

# Runs the plan (in the background of PID 1, which stays free to reap orphans): the binaries
# between two `wait` lines run $jobs at a time (`hullvm_jobs=`, default the guest's CPUs, as
# nextest runs binaries on a host), each with one test thread; a `wait` line lets everything
# above finish first (the leak check comes after one).
run_tests() {
    log="$results/output.log"
    summary="$results/summary.txt"
    : >"$log"
    : >"$summary"
    rm -rf "$results/.lock"
    jobs=$(arg hullvm_jobs)
    [ -n "$jobs" ] && [ "$jobs" -gt 0 ] 2>/dev/null || jobs=$(nproc)
    # The tests' own cgroup: a child of the root, like a systemd service or session scope.
    mkdir -p /sys/fs/cgroup/hull-v2-tests
    echo 0 >/sys/fs/cgroup/hull-v2-tests/cgroup.procs
    # CRIU works on this kernel (not on the host's): the checkpoint tests must not skip here.
    export HULL_REQUIRE_CRIU=1
    # sysc (tests/support/sysc.rs) is built here: the host's target/ is read-only.
    export HULL_TEST_TOOLS=/tmp/hull-test-tools
    # The sources of the id-mapped mount tests go on the ext4 disk the host gave (/dev/vda):
    # tmpfs has id-mapped mounts only from Linux 6.3 on (tests/support: Hull::idmap_dir).
    if [ -b /dev/vda ] && mkdir -p /run/hull-idmap && mount -t ext4 -o noatime /dev/vda /run/hull-idmap; then
        export HULL_TEST_IDMAP_DIR=/run/hull-idmap
    fi

    {
        echo "kernel $(uname -r): $(cat /proc/cmdline)"
        echo "/sys/fs/cgroup: $(grep " /sys/fs/cgroup " /proc/mounts | cut -d" " -f3) with controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
        echo "v1 hierarchies mounted: $(grep -c ' - cgroup ' /proc/self/mountinfo)"
        echo "the tests run in cgroup $(cat /proc/self/cgroup), $jobs test binaries at a time; booted in $(cut -d' ' -f1 /proc/uptime) s"
    } | sed "s/^/$P /" | tee -a "$log" >/dev/console

    segment="$results/segment"
    : >"$segment"
    job=0
    while read -r name filter; do
        case "$name" in
        "" | "#"*) continue ;;
        wait) run_segment "$segment" ;;
        *)
            job=$((job + 1))
            echo "$job $name $filter" >>"$segment"
            echo "$job $name $filter" >>"$results/jobs"
            ;;
        esac
    done <"$results/plan"
    run_segment "$segment"

    status=0
    passed=0
    failed=0
    while read -r job name filter; do
        out="$results/$job.out"
        rc=$(cat "$results/$job.rc" 2>/dev/null || echo 2)
        secs=$(cat "$results/$job.secs" 2>/dev/null || echo "?")
        p=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' "$out" | tail -n 1)
        f=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' "$out" | tail -n 1)
        passed=$((passed + ${p:-0}))
        failed=$((failed + ${f:-0}))
        if [ "$rc" -eq 0 ]; then
            echo "PASS $name: ${p:-0} passed (${secs}s)" >>"$summary"
        else
            echo "FAIL $name${filter:+ $filter}: ${p:-0} passed, ${f:-?} failed, exit $rc (${secs}s)" >>"$summary"
            status=1
        fi
        sed -n 's/^test \(.*\) \.\.\. ok$/    ran on cgroup v2, passed: \1/p; s/^test \(.*\) \.\.\. FAILED$/    ran on cgroup v2, FAILED: \1/p' \
            "$out" >>"$summary"
    done <"$results/jobs"
    echo "TOTAL: $passed passed, $failed failed on cgroup v2 (kernel $(uname -r)) in $(cut -d' ' -f1 /proc/uptime) s of guest uptime" >>"$summary"
    echo "$status" >"$results/status"
    sync
}

# Runs bench/lifecycle.sh (in the background of PID 1, like the tests). It runs with the
# host's tools first in PATH (dash as sh, as on the host), in a tmpfs cwd and HOME.
run_bench() {
    repo=$(cd "$(dirname "$0")/../.." && pwd)
    mkdir -p /sys/fs/cgroup/hull-v2-bench /tmp/bench-home
    echo 0 >/sys/fs/cgroup/hull-v2-bench/cgroup.procs
    cd /tmp/bench-home || return
    # ASLR=off of tests/vm/bench-v2.sh: every process's code at the same addresses, each run.
    if [ "$(arg hullvm_aslr)" = off ]; then
        echo 0 >/proc/sys/kernel/randomize_va_space
    fi
    hostpath=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    {
        echo "kernel $(uname -r): $(cat /proc/cmdline)"
        echo "/sys/fs/cgroup: $(grep " /sys/fs/cgroup " /proc/mounts | cut -d" " -f3) with controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
        echo "v1 hierarchies mounted: $(grep -c ' - cgroup ' /proc/self/mountinfo)"
        echo "CPUs: $(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
        echo "the benchmark runs in cgroup $(cat /proc/self/cgroup); booted in $(cut -d' ' -f1 /proc/uptime) s"
        for tool in hyperfine runc crun; do
            echo "$tool: $(PATH=$hostpath $tool --version 2>&1 | head -n 1)"
        done
        echo "hull: $(arg hullvm_hull), RUNS=$(arg hullvm_runs)"
        echo "kernel.randomize_va_space: $(cat /proc/sys/kernel/randomize_va_space)"
    } | tee "$results/guest.txt" | sed "s/^/$P /" >/dev/console
    {
        HOME=/tmp/bench-home PATH=$hostpath HULL=$(arg hullvm_hull) RUNS=$(arg hullvm_runs) \
            EXPORT_DIR=$results /bin/sh "$repo/bench/lifecycle.sh" 2>&1
        echo $? >/run/rc
    } | tee "$results/bench.log" | sed "s/^/$P /" >/dev/console
    cat /run/rc >"$results/status"
    sync
}

mode=$(arg hullvm_mode)
[ "$mode" = bench ] && P="[cgroup v2 guest bench]"
if ! setup; then
    say "guest set-up failed"
    halt
fi
case "$mode" in
tests | "") run_tests & ;;
bench) run_bench & ;;
*)
    say "unknown hullvm_mode=$mode"
    halt
    ;;
esac
wait $!
# reap whatever is left, then stop
halt
