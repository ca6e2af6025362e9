#!/bin/sh
# Lifecycle benchmark: hull vs runc vs crun (those installed), side by side, with hyperfine.
#   create+start+delete of a /bin/true container, and `run` of it.
# Environment: RUNS (50); HULL, the hull binary to time (absolute; default: a release build
# made here); EXPORT_DIR, where hyperfine also writes its markdown and JSON exports
# (lifecycle.md/.json, run.md/.json). tests/vm/bench-v2.sh sets them in its guest.
set -eu
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || apt-get install -y hyperfine >/dev/null
[ -n "${HULL:-}" ] || cargo build --release -q
work=$(mktemp -d /tmp/hull-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
sh demo/rootfs.sh "$work/rootfs"
target/release/hull spec --bundle "$work"
python3 - "$work/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["process"]["terminal"] = False
config["process"]["args"] = ["/bin/true"]
config["ociVersion"] = "1.0.2-dev"  # the version runc and crun 1.8 accept
json.dump(config, open(path, "w"))
PY
hull=${HULL:-$(pwd)/target/release/hull}
set -- "hull:$hull"
for rt in runc crun; do
    bin=$(command -v "$rt") || continue
    # A runtime that cannot run a container on this host (crun refuses hybrid cgroups) is
    # reported and left out of the comparison.
    if why=$("$bin" --root "$work/probe-$rt" run --bundle "$work" "probe-$rt" 2>&1); then
        set -- "$@" "$rt:$bin"
    else
        echo "$rt: left out, it cannot run a container here: $why"
    fi
done
lifecycle=""; run=""
for entry in "$@"; do
    name=${entry%%:*}; bin=${entry#*:}
    root="$work/state-$name"
    lifecycle="$lifecycle -n $name '$bin --root $root create --bundle $work b-$name >/dev/null && $bin --root $root start b-$name && $bin --root $root delete -f b-$name'"
    run="$run -n $name '$bin --root $root run --bundle $work r-$name'"
done
exports() { [ -z "${EXPORT_DIR:-}" ] || echo "--export-markdown $EXPORT_DIR/$1.md --export-json $EXPORT_DIR/$1.json"; }
echo "== create + start + delete of /bin/true"
eval hyperfine --warmup 5 --runs "${RUNS:-50}" $(exports lifecycle) $lifecycle
echo "== run /bin/true"
eval hyperfine --warmup 5 --runs "${RUNS:-50}" $(exports run) $run
