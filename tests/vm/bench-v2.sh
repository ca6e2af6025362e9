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
# Prints the guest's output (each line prefixed "[cgroup v2 guest bench]"), then hyperfine's
# markdown tables and one table of the means, all kept in target/vm/bench. Exits with the
# benchmark's status (2 when the guest gave none).
#
# Needs root. Installs qemu-system-x86, linux-image-amd64, busybox-static and hyperfine if
# missing. Environment: RUNS (hyperfine runs per command, default 30), HULL_VM_TIMEOUT
# (seconds, default 1800), HULL_VM_CPUS (2), HULL_VM_MEM (2048).
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VM=$ROOT/target/vm
RESULTS=$VM/bench
RUNS=${RUNS:-30}
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
cargo build --release -q -p hull
mkdir -p "$VM"
rm -rf "$RESULTS"
mkdir -p "$RESULTS"

vm_initrd
vm_boot "$RESULTS" "$VM/bench-console.log" hullvm_mode=bench \
    "hullvm_hull=$ROOT/target/release/hull" "hullvm_runs=$RUNS"
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
    echo "Emulated: absolute times are inflated several times over; compare the runtimes side by side"
    echo "(this run), not with the host's \`make bench\`."
    grep -E '^(CPUs|hyperfine|runc|crun): ' "$RESULTS/guest.txt" || true
    for bench in lifecycle run; do
        [ -f "$RESULTS/$bench.md" ] || continue
        echo
        echo "$bench ($RESULTS/$bench.md):"
        cat "$RESULTS/$bench.md"
    done
    if [ -f "$RESULTS/lifecycle.json" ] || [ -f "$RESULTS/run.json" ]; then
        echo
        echo "mean ± σ:"
        python3 - "$RESULTS" <<'PY'
import json, os, sys

results = sys.argv[1]
rows = [("create + start + delete", "lifecycle"), ("run", "run")]
names, table = [], {}
for label, bench in rows:
    path = os.path.join(results, bench + ".json")
    if not os.path.exists(path):
        continue
    for r in json.load(open(path))["results"]:
        name = r["command"]
        if name not in names:
            names.append(name)
        table[(label, name)] = "%.1f ms ± %.1f" % (r["mean"] * 1e3, r["stddev"] * 1e3)
print("| | " + " | ".join(names) + " |")
print("|---" * (len(names) + 1) + "|")
for label, _ in rows:
    print("| %s | " % label + " | ".join(table.get((label, n), "-") for n in names) + " |")
PY
    fi
} | sed "s/^/$B /"
say "vm: ${VM_SECS}s, total with the build: $((T2 - T0))s; guest output: $RESULTS/bench.log"
if [ "$STATUS" = 0 ]; then
    exit 0
fi
say "the benchmark failed (exit $STATUS)"
exit 1
