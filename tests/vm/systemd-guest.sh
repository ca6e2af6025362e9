#!/bin/sh
# The test run of the systemd guest: ExecStart of hull-tests.service (tests/vm/init-systemd),
# with systemd as PID 1; never run it on a host. $1 is the results share, where
# tests/vm/run-systemd.sh left `plan` (lines "<test target> [libtest args...]") and
# `executables` ("<test target> <path>"). Writes there
#   output.log   every line the tests printed, prefixed "[systemd guest]" (also on the console)
#   summary.txt  one line per binary, the tests that passed, and the totals
#   status       0 when every test passed, else 1 (missing: the guest never finished)
#   journal.log  the guest's journal, for a failure's systemd side
# The service then powers the guest off.
results=$1
P="[systemd guest]"
log=$results/output.log
summary=$results/summary.txt
: >"$log"
: >"$summary"
cd /tmp || exit 1

{
    echo "PID 1: $(systemctl --version | head -n 1) ($(cat /proc/1/comm)), up since $(cut -d' ' -f1 /proc/uptime) s of guest uptime"
    echo "kernel $(uname -r), /sys/fs/cgroup: $(stat -f -c %T /sys/fs/cgroup), controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
    echo "the tests run in cgroup $(cut -d: -f3 /proc/self/cgroup) ($(systemctl is-system-running 2>&1))"
} | sed "s/^/$P /" | tee -a "$log"

status=0
passed=0
failed=0
while read -r name filter; do
    case "$name" in "" | "#"*) continue ;; esac
    exe=$(sed -n "s/^$name //p" "$results/executables" | head -n 1)
    if [ -z "$exe" ]; then
        echo "$P $name: no test executable was built" | tee -a "$log"
        echo "FAIL $name: not built" >>"$summary"
        status=1
        continue
    fi
    echo "$P ==== $name $filter" | tee -a "$log"
    start=$(cut -d' ' -f1 /proc/uptime)
    {
        # shellcheck disable=SC2086 # the filter is a list of arguments
        "$exe" --test-threads 1 $filter 2>&1
        echo $? >/run/hull-tests.rc
    } | tee "$results/$name.out" | sed -u "s/^/$P /" | tee -a "$log"
    rc=$(cat /run/hull-tests.rc)
    end=$(cut -d' ' -f1 /proc/uptime)
    result=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$results/$name.out" | tail -n 1)
    p=${result% *}
    f=${result#* }
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    secs=$(awk "BEGIN { printf \"%.0f\", $end - $start }")
    if [ "$rc" -eq 0 ]; then
        echo "PASS $name: ${p:-0} passed (${secs}s)" >>"$summary"
    else
        echo "FAIL $name: ${p:-0} passed, ${f:-?} failed, exit $rc (${secs}s)" >>"$summary"
        status=1
    fi
    sed -n 's/^test \(.*\) \.\.\. ok$/    ran with systemd as PID 1, passed: \1/p; s/^test \(.*\) \.\.\. FAILED$/    ran with systemd as PID 1, FAILED: \1/p' \
        "$results/$name.out" >>"$summary"
done <"$results/plan"
units=$(systemctl list-units --all --no-legend --plain | grep -c 'hit-')
echo "units left that name a test container: $units" | sed "s/^/$P /" | tee -a "$log"
[ "$units" -eq 0 ] || status=1
echo "TOTAL: $passed passed, $failed failed with systemd as PID 1 (kernel $(uname -r)) in $(cut -d' ' -f1 /proc/uptime) s of guest uptime" >>"$summary"
journalctl -b --no-pager -o short-monotonic >"$results/journal.log" 2>&1
echo "$status" >"$results/status"
sync
