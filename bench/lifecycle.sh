#!/bin/sh
# Lifecycle benchmark: hull vs runc vs crun (those installed and able to run a container here),
# side by side in one run. Times with hyperfine; memory with GNU time and /proc; CPU time with
# perf stat (task-clock) when it works here, else GNU time's user+sys.
#
# Rows (every figure is the median of its samples):
#   run                 `run` of a /bin/true container (hyperfine, RUNS runs)
#   create+start+delete the same, split in three commands (hyperfine, RUNS runs)
#   exec                `exec /bin/true` into a running container (hyperfine, RUNS runs)
#   COUNT creates       wall time of COUNT `create`s in a row (hyperfine, BULK_RUNS runs)
#   COUNT deletes       wall time of `delete` of those COUNT created containers (same)
#   parallel            WORKERS workers at once, each CYCLES create+start+delete (PAR_RUNS runs)
#   peak RSS of run     ru_maxrss of `run`'s process tree (GNU time %M, SAMPLES runs)
#   blocked init VmRSS  VmRSS of a created, not started, container's init (SAMPLES_INIT)
#   CPU time of run     task-clock of `run` and its children (SAMPLES runs)
# then one table of them with the ratios hull/runc and hull/crun.
#
# After each row it checks that nothing of it is left: no container in the runtime's state
# root, no cgroup named like its ids (all start with hb-<runtime>-), no process in such a
# cgroup or with such an id on its command line. A leftover is reported and fails the run.
#
# Environment: RUNS (30), BULK_RUNS (3), PAR_RUNS (1), COUNT (100), WORKERS (8), CYCLES (125),
# SAMPLES (20), SAMPLES_INIT (5); HULL, the hull binary (absolute; default: a release build
# made here); EXPORT_DIR, where it also writes hyperfine's JSON exports (<row>-<runtime>.json,
# rows run, lifecycle, exec, creates, deletes, parallel), other.tsv (the memory and CPU
# medians) and the table (table.md).
# tests/vm/bench-v2.sh sets HULL, RUNS and EXPORT_DIR in its guest, and the others (smaller
# counts, the guest being emulated) in EXPORT_DIR/bench.env, read here when it exists.
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)
if [ -f "${EXPORT_DIR:-/nonexistent}/bench.env" ]; then
    # shellcheck disable=SC1091
    . "$EXPORT_DIR/bench.env"
fi
RUNS=${RUNS:-30} BULK_RUNS=${BULK_RUNS:-3} PAR_RUNS=${PAR_RUNS:-1}
COUNT=${COUNT:-100} WORKERS=${WORKERS:-8} CYCLES=${CYCLES:-125}
SAMPLES=${SAMPLES:-20} SAMPLES_INIT=${SAMPLES_INIT:-5}
command -v hyperfine >/dev/null || apt-get install -y hyperfine >/dev/null
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
[ -n "${HULL:-}" ] || make -s release
hull=${HULL:-$repo/target/release/hull}

work=$(mktemp -d /tmp/hull-bench.XXXXXX)
out=${EXPORT_DIR:-$work/out}
mkdir -p "$out"
runtimes=""
leftovers=0

# Deletes (forcibly) every container left in the state roots, then the work directory.
cleanup() {
    for entry in $runtimes; do
        name=${entry%%:*} bin=${entry#*:}
        for dir in "$work/state-$name"/hb-*; do
            [ -e "$dir" ] && "$bin" --root "$work/state-$name" delete -f "${dir##*/}" >/dev/null 2>&1
        done
        check_left "$name" "the end (after deleting all)"
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sh demo/rootfs.sh "$work/rootfs"
"$hull" spec --bundle "$work"
mkdir "$work/sleeper"
python3 - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
path = os.path.join(work, "config.json")
config = json.load(open(path))
config["process"]["terminal"] = False
config["process"]["args"] = ["/bin/true"]
config["ociVersion"] = "1.0.2-dev"  # the version runc and crun 1.8 accept
json.dump(config, open(path, "w"))
# The container `exec` enters: it sleeps until deleted.
config["process"]["args"] = ["/bin/sleep", "3600"]
config["root"]["path"] = os.path.join(work, "rootfs")
json.dump(config, open(os.path.join(work, "sleeper", "config.json"), "w"))
PY

# Lists what is left of runtime $1's containers (see the header). Zombies are left out: they
# are dead, only not reaped yet by the host's init, which the container's init was handed to.
left_of() {
    for dir in "$work/state-$1"/hb-*; do
        [ -e "$dir" ] && printf ' state:%s' "${dir##*/}"
    done
    for dir in $(find /sys/fs/cgroup -maxdepth 4 -type d -name "hb-$1-*" 2>/dev/null); do
        printf ' cgroup:%s' "$dir"
    done
    # h[b] so that grep does not find itself.
    for file in $(grep -ls "/h[b]-$1-" /proc/[0-9]*/cgroup) $(grep -lsaz "^h[b]-$1-" /proc/[0-9]*/cmdline); do
        proc=${file%/*}
        grep -qs '^State:[[:space:]]*Z' "$proc/status" || printf ' process:%s' "${proc#/proc/}"
    done
}

# Reports what is left of runtime $1's containers after row $2 (looking again a second later,
# for what was still on its way out).
check_left() {
    left=$(left_of "$1")
    [ -z "$left" ] || { sleep 1 && left=$(left_of "$1"); }
    if [ -n "$left" ]; then
        echo "LEFTOVER of $1 after $2:$left"
        leftovers=1
    fi
}

# Prints the median of the numbers in file $1, one a line.
median() {
    sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# A runtime that cannot run a container on this host (crun refuses hybrid cgroups) is
# reported and left out of the comparison.
runtimes="hull:$hull"
versions="hull=$("$hull" --version | head -n 1)"
for rt in runc crun; do
    bin=$(command -v "$rt") || { echo "$rt: not installed, left out"; continue; }
    if why=$("$bin" --root "$work/state-$rt" run --bundle "$work" "hb-$rt-probe" 2>&1); then
        runtimes="$runtimes $rt:$bin"
        versions="$versions|$rt=$("$bin" --version | head -n 1)"
    else
        echo "$rt: left out, it cannot run a container here: $(echo "$why" | tail -n 1)"
        versions="$versions|$rt=left out: $(echo "$why" | tail -n 1)"
    fi
    "$bin" --root "$work/state-$rt" delete -f "hb-$rt-probe" >/dev/null 2>&1 || true
    check_left "$rt" probe
done

if perf stat -x, -e task-clock -o /dev/null true 2>/dev/null; then
    cpu_how="task-clock (perf stat)"
else
    cpu_how="user+sys (GNU time; perf stat does not work here)"
fi
ops="sh $repo/bench/ops.sh"

# hyperfine of row $1 for each runtime in turn; $2 is the command with @B@ (binary), @R@
# (root) and @N@ (name) in it, as are the further arguments (hyperfine's options).
timed() {
    row=$1
    shift
    echo "== $row"
    for entry in $runtimes; do
        name=${entry%%:*} bin=${entry#*:}
        for arg in "$@"; do
            set -- "$@" "$(echo "$arg" | sed "s|@B@|$bin|g; s|@R@|$work/state-$name|g; s|@N@|$name|g")"
            shift
        done
        hyperfine --style basic --export-json "$out/$row-$name.json" -n "$name" "$@"
        check_left "$name" "$row"
    done
}

b="--bundle $work"
timed run "@B@ --root @R@ run $b hb-@N@-run" -N --warmup 3 --runs "$RUNS"
timed lifecycle "@B@ --root @R@ create $b hb-@N@-lc >/dev/null && @B@ --root @R@ start hb-@N@-lc && @B@ --root @R@ delete -f hb-@N@-lc" \
    --warmup 3 --runs "$RUNS"
timed exec "@B@ --root @R@ exec hb-@N@-exec /bin/true" -N --warmup 3 --runs "$RUNS" \
    --setup "sh -c '@B@ --root @R@ create $b/sleeper hb-@N@-exec >/dev/null && @B@ --root @R@ start hb-@N@-exec'" \
    --cleanup "@B@ --root @R@ delete -f hb-@N@-exec"
timed creates "$ops @B@ @R@ $work hb-@N@-bulk creates $COUNT" --runs "$BULK_RUNS" \
    --prepare "$ops @B@ @R@ $work hb-@N@-bulk clean $COUNT" --cleanup "$ops @B@ @R@ $work hb-@N@-bulk clean $COUNT"
timed deletes "$ops @B@ @R@ $work hb-@N@-bulk deletes $COUNT" --runs "$BULK_RUNS" \
    --prepare "$ops @B@ @R@ $work hb-@N@-bulk creates $COUNT" --cleanup "$ops @B@ @R@ $work hb-@N@-bulk clean $COUNT"
timed parallel "$ops @B@ @R@ $work hb-@N@-par parallel $WORKERS $CYCLES" --runs "$PAR_RUNS"

# Memory and CPU time, one line a figure in $out/other.tsv: row, runtime, median.
: >"$out/other.tsv"
echo "== peak RSS of run, VmRSS of a blocked init, CPU time of run"
for entry in $runtimes; do
    name=${entry%%:*} bin=${entry#*:} root=$work/state-$name
    : >"$work/rss" && : >"$work/cpu" && : >"$work/init"
    i=0
    while [ "$i" -lt "$SAMPLES" ]; do
        /usr/bin/time -f %M -o "$work/t" "$bin" --root "$root" run --bundle "$work" "hb-$name-rss"
        tail -n 1 "$work/t" >>"$work/rss"
        if [ "${cpu_how#task-clock}" != "$cpu_how" ]; then
            perf stat -x, -e task-clock -o "$work/t" -- "$bin" --root "$root" run --bundle "$work" "hb-$name-cpu"
            awk -F, '$3 ~ /^task-clock/ { print $1 }' "$work/t" >>"$work/cpu"
        else
            /usr/bin/time -f '%U %S' -o "$work/t" "$bin" --root "$root" run --bundle "$work" "hb-$name-cpu"
            tail -n 1 "$work/t" | awk '{ print ($1 + $2) * 1000 }' >>"$work/cpu"
        fi
        i=$((i + 1))
    done
    i=0
    while [ "$i" -lt "$SAMPLES_INIT" ]; do
        "$bin" --root "$root" create --bundle "$work" --pid-file "$work/pid" "hb-$name-init" >/dev/null
        awk '/^VmRSS:/ { print $2 }' "/proc/$(cat "$work/pid")/status" >>"$work/init"
        "$bin" --root "$root" delete -f "hb-$name-init"
        i=$((i + 1))
    done
    printf 'rss\t%s\t%s\n' "$name" "$(median "$work/rss")" >>"$out/other.tsv"
    printf 'init\t%s\t%s\n' "$name" "$(median "$work/init")" >>"$out/other.tsv"
    printf 'cpu\t%s\t%s\n' "$name" "$(median "$work/cpu")" >>"$out/other.tsv"
    check_left "$name" "memory and CPU"
done

echo
echo "== medians ($(nproc) CPUs, $(uname -r); ${versions})" | tr '|' ';'
python3 - "$out" "$runtimes" "$COUNT" "$WORKERS" "$CYCLES" "$cpu_how" <<'PY' | tee "$out/table.md"
import json, os, sys

out, runtimes, count, workers, cycles, cpu_how = sys.argv[1:]
names = [entry.split(":", 1)[0] for entry in runtimes.split()]
value = {}
for row in ["run", "lifecycle", "exec", "creates", "deletes", "parallel"]:
    for n in names:
        for r in json.load(open(os.path.join(out, "%s-%s.json" % (row, n))))["results"]:
            value[(row, n)] = r["median"] * 1e3
for line in open(os.path.join(out, "other.tsv")):
    row, name, median = line.split()
    value[(row, name)] = float(median) / (1024 if row in ("rss", "init") else 1)
rows = [
    ("run", "`run /bin/true`", "ms"),
    ("lifecycle", "create + start + delete", "ms"),
    ("exec", "`exec /bin/true` into a running container", "ms"),
    ("creates", "%s creates (wall)" % count, "ms"),
    ("deletes", "%s deletes (wall)" % count, "ms"),
    ("parallel", "%s workers x %s create+start+delete (wall)" % (workers, cycles), "ms"),
    ("rss", "peak RSS of `run`", "MiB"),
    ("init", "VmRSS of a blocked init", "MiB"),
    ("cpu", "CPU time of `run`, " + cpu_how, "ms"),
]
others = [n for n in names if n != "hull"]
head = ["", *names] + ["hull/" + n for n in others]
print("| " + " | ".join(head) + " |")
print("|---" * len(head) + "|")
for row, label, unit in rows:
    cells = [label]
    for n in names:
        v = value.get((row, n))
        cells.append("-" if v is None else ("%.0f %s" % (v, unit) if v >= 1000 else "%.1f %s" % (v, unit)))
    for n in others:
        h, o = value.get((row, "hull")), value.get((row, n))
        cells.append("%.2f" % (h / o) if h and o else "-")
    print("| " + " | ".join(cells) + " |")
PY
if [ "$leftovers" != 0 ]; then
    echo "the benchmark left containers, cgroups or processes behind (LEFTOVER above)"
    exit 1
fi
