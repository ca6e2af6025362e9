#!/bin/sh
# Runs hull's --systemd-cgroup tests against a real systemd: Debian's systemd 252 as PID 1 in a
# QEMU guest (this machine has no systemd running).
#
# The guest (tests/vm/lib.sh, TCG) boots Debian's kernel with cgroup v2 only and an initrd whose
# /init (tests/vm/init-systemd) lays a tmpfs overlay over the host's / (read-only over 9p) and
# hands over to /lib/systemd/systemd with systemd.unit=hull-tests.target; its service runs
# tests/vm/systemd-guest.sh, which runs the test executables built here (tests/vm/systemd-tests.list)
# from their host paths, writes their output, a summary and the exit status to
# target/vm/systemd-results (a writable 9p share), and powers off.
# Every line printed starts with "[systemd guest]"; exits with the guest's test status (2 when
# the guest gave none).
#
# Needs root. Installs qemu-system-x86, linux-image-amd64, busybox-static, systemd and dbus if
# missing. Environment: HULL_VM_TIMEOUT (seconds, default 600), HULL_VM_CPUS (2), HULL_VM_MEM (2048),
# HULL_VM_LIST (the test list, default tests/vm/systemd-tests.list).
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VM=$ROOT/target/vm
RESULTS=$VM/systemd-results
LIST=${HULL_VM_LIST:-$ROOT/tests/vm/systemd-tests.list}
TIMEOUT=${HULL_VM_TIMEOUT:-600}
P="[systemd guest]"
T0=$(date +%s)

# shellcheck source=tests/vm/lib.sh
. "$ROOT/tests/vm/lib.sh"

vm_require_root
vm_packages
[ -x /lib/systemd/systemd ] || apt_install systemd
command -v dbus-daemon >/dev/null || apt_install dbus

TESTS=$(sed -e 's/#.*//' "$LIST" | awk 'NF { print $1 }' | sort -u)
say "building hull and the test binaries: $(echo "$TESTS" | tr '\n' ' ')"
cargo build -q -p hull
mkdir -p "$VM"
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
# shellcheck disable=SC2046 # one --test per name
cargo test -q -p hull-integration --no-run --message-format=json \
    $(for t in $TESTS; do printf -- '--test %s ' "$t"; done) >"$VM/systemd-build.json"
grep -o '"executable":"[^"]*"' "$VM/systemd-build.json" | sed 's/^"executable":"//; s/"$//' |
    while read -r exe; do
        echo "$(basename "$exe" | sed 's/-[0-9a-f]*$//') $exe"
    done >"$RESULTS/executables"
sed -e 's/#.*//' "$LIST" | awk 'NF' >"$RESULTS/plan"

VM_INIT=$ROOT/tests/vm/init-systemd VM_INITRD=initrd-systemd VM_MODULES=overlay vm_initrd
T1=$(date +%s)
# The console as it comes, each line marked as the guest's.
VM_SCRIPT=$ROOT/tests/vm/systemd-guest.sh vm_boot "$RESULTS" "$VM/systemd-console.log" \
    systemd.unit=hull-tests.target systemd.show_status=0 fstab=no |
    sed -u "/^\[systemd guest\]/!s/^/$P /"
T2=$(date +%s)

if [ ! -f "$RESULTS/status" ]; then
    say "the guest gave no test status (it failed to boot, crashed, or hit the ${TIMEOUT}s timeout)."
    say "console log: $VM/systemd-console.log"
    exit 2
fi
STATUS=$(cat "$RESULTS/status")
say "summary of the tests run with systemd as PID 1:"
sed "s/^/$P /" "$RESULTS/summary.txt"
say "vm: $((T2 - T1))s, total with the build: $((T2 - T0))s; guest output: $RESULTS/output.log"
if [ "$STATUS" = 0 ]; then
    say "systemd tests: PASSED"
    exit 0
fi
say "systemd tests: FAILED"
exit 1
