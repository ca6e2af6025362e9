#!/bin/sh
# Runs hull's cgroup v2 integration tests on a real cgroup-v2-only kernel, in a guest.
#
# This machine keeps its controllers bound to cgroup v1, so the tests of tests/vm/v2-tests.list
# run in a QEMU guest instead (tests/vm/lib.sh: Debian's kernel with cgroup_no_v1=all, the
# host's / read-only over virtio-9p, tests/vm/guest.sh as PID 1): the guest runs the test
# executables built here, from their host paths, and writes their output, a summary and the
# exit status to target/vm/results (a writable 9p share).
# Prints the guest's output (each line prefixed "[cgroup v2 guest]") and a summary of the
# tests that ran on v2; exits with the guest's test status (2 when the guest gave none).
#
# Needs root. Installs qemu-system-x86, linux-image-amd64, busybox-static and e2fsprogs if
# missing.
# Environment: HULL_VM_TIMEOUT (seconds, default 900), HULL_VM_CPUS (2), HULL_VM_MEM (2048),
# HULL_VM_LIST (the test list, default tests/vm/v2-tests.list), HULL_VM_JOBS (test binaries at
# a time, default HULL_VM_CPUS).
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VM=$ROOT/target/vm
RESULTS=$VM/results
LIST=${HULL_VM_LIST:-$ROOT/tests/vm/v2-tests.list}
TIMEOUT=${HULL_VM_TIMEOUT:-900}
P="[cgroup v2 host]"
T0=$(date +%s)

# shellcheck source=tests/vm/lib.sh
. "$ROOT/tests/vm/lib.sh"

vm_require_root
vm_packages

# --- build ----------------------------------------------------------------------------------

TESTS=$(sed -e 's/#.*//' "$LIST" | awk 'NF && $1 != "wait" { print $1 }' | sort -u)
[ -n "$TESTS" ] || die "no tests in $LIST"
say "building hull and the test binaries: $(echo "$TESTS" | tr '\n' ' ')"
cargo build -q -p hull
mkdir -p "$VM"
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
# shellcheck disable=SC2046 # one --test per name
cargo test -q -p hull-integration --no-run --message-format=json \
    $(for t in $TESTS; do printf -- '--test %s ' "$t"; done) >"$VM/build.json"
grep -o '"executable":"[^"]*"' "$VM/build.json" | sed 's/^"executable":"//; s/"$//' |
    while read -r exe; do
        name=$(basename "$exe" | sed 's/-[0-9a-f]*$//')
        echo "$name $exe"
    done >"$RESULTS/executables"
sed -e 's/#.*//' "$LIST" | awk 'NF' >"$RESULTS/plan"

# --- /tmp disk, initrd, boot -----------------------------------------------------------------

# An ext4 disk for the sources of the id-mapped mount tests (the guest's /tmp is a tmpfs, and
# tmpfs has id-mapped mounts only from Linux 6.3 on; the guest runs 6.1). Only those: ext4
# under TCG is much slower than tmpfs. Sparse, no journal, removed after the run.
command -v mkfs.ext4 >/dev/null || apt_install e2fsprogs
VM_DISK=$VM/idmap.img
rm -f "$VM_DISK"
truncate -s 1G "$VM_DISK"
mkfs.ext4 -q -F -m 0 -O ^has_journal,^metadata_csum -E nodiscard "$VM_DISK"
VM_MODULES="virtio_blk ext4"
vm_initrd
vm_boot "$RESULTS" "$VM/console.log" hullvm_mode=tests hullvm_jobs="${HULL_VM_JOBS:-${HULL_VM_CPUS:-2}}"
rm -f "$VM_DISK"
T2=$(date +%s)

echo
if [ ! -f "$RESULTS/status" ]; then
    say "the guest gave no test status (it failed to boot, crashed, or hit the ${TIMEOUT}s timeout)."
    say "console log: $VM/console.log"
    exit 2
fi
STATUS=$(cat "$RESULTS/status")
say "summary of the tests run in the cgroup-v2-only guest (kernel $KVER, cgroup_no_v1=all):"
sed "s/^/$P /" "$RESULTS/summary.txt"
say "vm: ${VM_SECS}s, total with the build: $((T2 - T0))s; guest output: $RESULTS/output.log"
if [ "$STATUS" = 0 ]; then
    say "cgroup v2 tests: PASSED"
    exit 0
fi
say "cgroup v2 tests: FAILED"
exit 1
