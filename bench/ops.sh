#!/bin/sh
# The many-container operations bench/lifecycle.sh times with hyperfine, for one runtime:
#   sh bench/ops.sh BIN ROOT BUNDLE PREFIX OP [N [CYCLES]]
# BIN is the runtime, ROOT its --root, BUNDLE the /bin/true bundle; every container id starts
# with PREFIX. OP is one of:
#   creates N         create PREFIX-1 .. PREFIX-N (left created: their inits block on the fifo)
#   deletes N         delete PREFIX-1 .. PREFIX-N (made by `creates`)
#   clean N           delete -f PREFIX-1 .. PREFIX-N where they exist (hyperfine's prepare/cleanup)
#   parallel N CYCLES N workers at once, each CYCLES times create+start+delete of its own id
# Exits non-zero at the first operation that fails (for parallel: when any worker failed).
set -eu
bin=$1 root=$2 bundle=$3 prefix=$4 op=$5 n=${6:-1} cycles=${7:-1}

cycle() {
    "$bin" --root "$root" create --bundle "$bundle" "$1" >/dev/null
    "$bin" --root "$root" start "$1"
    "$bin" --root "$root" delete -f "$1"
}

i=1
case $op in
creates)
    while [ "$i" -le "$n" ]; do
        "$bin" --root "$root" create --bundle "$bundle" "$prefix-$i" >/dev/null
        i=$((i + 1))
    done
    ;;
deletes)
    while [ "$i" -le "$n" ]; do
        "$bin" --root "$root" delete "$prefix-$i"
        i=$((i + 1))
    done
    ;;
clean)
    while [ "$i" -le "$n" ]; do
        if [ -e "$root/$prefix-$i" ]; then
            "$bin" --root "$root" delete -f "$prefix-$i" >/dev/null 2>&1 || true
        fi
        i=$((i + 1))
    done
    ;;
parallel)
    pids=""
    while [ "$i" -le "$n" ]; do
        (
            j=1
            while [ "$j" -le "$cycles" ]; do
                cycle "$prefix-$i"
                j=$((j + 1))
            done
        ) &
        pids="$pids $!"
        i=$((i + 1))
    done
    failed=0
    for pid in $pids; do
        wait "$pid" || failed=1
    done
    exit "$failed"
    ;;
*)
    echo "ops.sh: unknown operation $op" >&2
    exit 2
    ;;
esac
