#!/bin/sh
# Runs the lifecycle benchmark (bench/lifecycle.sh: hull vs runc vs crun with hyperfine) on a
# cgroup-v2-only kernel, in the guest of tests/vm/lib.sh (the one `make test-v2` uses).
#
# crun 1.8 refuses this machine's hybrid cgroups, so `make bench` here has no crun figure;
# in the guest all three run side by side. The guest runs the release hull built here and the
# host's hyperfine, runc and crun, from their host paths over the read-only 9p root. The
# guest is emulated (TCG), so its absolute times are inflated: compare the runtimes with each
# other within one run, not with `make bench` on the host.
#
# Prints the guest's output (each line prefixed "[cgroup v2 guest bench]"), then the script's
# table of medians and ratios, all kept in target/vm/bench. Exits with the benchmark's status
# (2 when the guest gave none).
#
# Needs root. Installs qemu-system-x86, linux-image-amd64, busybox-static and hyperfine if
# missing. Environment: RUNS (hyperfine runs per command, default 30), HULL_VM_TIMEOUT
# (seconds, default 1800), HULL_VM_CPUS (2), HULL_VM_MEM (2048); COUNT (20), WORKERS (8),
# CYCLES (5), BULK_RUNS (2), SAMPLES (5), SAMPLES_INIT (3), as bench/lifecycle.sh's.
#
# ASLR=off (a diagnostic, not the benchmark): the guest runs it with
# kernel.randomize_va_space=0, so every runtime's code (binary and shared libraries) is at the
# same addresses in each of its processes, and the emulator can reuse what it translated for
# the last one. With ASLR on, what a command costs in the guest depends on where its code sits
# and on what ran before it (README.md, `make bench-v2`); the header of the table says which
# of the two it is.
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VM=$ROOT/target/vm
RESULTS=$VM/bench
RUNS=${RUNS:-30}
ASLR=${ASLR:-on}
case "$ASLR" in
on | off) ;;
*)
    echo "bench-v2: ASLR must be on or off, not '$ASLR'" >&2
    exit 2
    ;;
esac
TIMEOUT=${HULL_VM_TIMEOUT:-1800}
P="[cgroup v2 host]"
T0=$(date +%s)

# shellcheck source=tests/vm/lib.sh
. "$ROOT/tests/vm/lib.sh"

vm_require_root
vm_packages
command -v hyperfine >/dev/null || apt_install hyperfine
for rt in runc crun; do
    command -v "$rt" >/dev/null || say "no $rt here: the guest benchmark leaves it out"
done

say "building the release hull"
make -s release
mkdir -p "$VM"
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
# Counts for bench/lifecycle.sh, smaller than on the host: every process is emulated.
cat >"$RESULTS/bench.env" <<EOF
COUNT=${COUNT:-20} WORKERS=${WORKERS:-8} CYCLES=${CYCLES:-5}
BULK_RUNS=${BULK_RUNS:-2} SAMPLES=${SAMPLES:-5} SAMPLES_INIT=${SAMPLES_INIT:-3}
EOF

vm_initrd
vm_boot "$RESULTS" "$VM/bench-console.log" hullvm_mode=bench \
    "hullvm_hull=$ROOT/target/release/hull" "hullvm_runs=$RUNS" "hullvm_aslr=$ASLR"
T2=$(date +%s)

echo
if [ ! -f "$RESULTS/status" ]; then
    say "the guest gave no benchmark status (it failed to boot, crashed, or hit the ${TIMEOUT}s timeout)."
    say "console log: $VM/bench-console.log"
    exit 2
fi
STATUS=$(cat "$RESULTS/status")
B="[cgroup v2 guest bench]"
{
    echo "Linux $KVER, cgroup_no_v1=all (cgroup v2 only), qemu TCG -smp ${HULL_VM_CPUS:-2}, $RUNS runs (+5 warm-up) a command."
    if [ "$ASLR" = off ]; then
        echo "ASLR off in the guest (kernel.randomize_va_space=0), a diagnostic: every process's code is"
        echo "where it was in the last run, so the emulator may reuse its translations (see README.md)."
    fi
    echo "Emulated: absolute times are inflated several times over; compare the runtimes side by side"
    echo "(this run), not with the host's \`make bench\`."
    grep -E '^(CPUs|hyperfine|runc|crun|kernel.randomize_va_space): ' "$RESULTS/guest.txt" || true
    grep -E '^(LEFTOVER|crun: left out)' "$RESULTS/bench.log" || true
    if [ -f "$RESULTS/table.md" ]; then
        echo
        echo "medians ($RESULTS/table.md):"
        cat "$RESULTS/table.md"
    fi
} | sed "s/^/$B /"
say "vm: ${VM_SECS}s, total with the build: $((T2 - T0))s; guest output: $RESULTS/bench.log"
if [ "$STATUS" = 0 ]; then
    exit 0
fi
say "the benchmark failed (exit $STATUS)"
exit 1
