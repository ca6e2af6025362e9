#!/bin/sh
# Build hull and run one container on a busybox rootfs that this script makes itself.
# It prints what the container sees: its hostname, that it is PID 1, its own network.
set -eu
cd "$(dirname "$0")/.."
cargo build --release -q
bundle=target/demo
sh demo/rootfs.sh "$bundle/rootfs"
rm -f "$bundle/config.json"
target/release/hull spec --bundle "$bundle"
python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["process"]["terminal"] = False
config["hostname"] = "hull-demo"
config["process"]["args"] = ["sh", "-c",
    'echo "hostname: $(hostname)"; echo "my pid:   $$"; echo "network:"; ip -o link; '
    'echo "capabilities:"; grep Cap /proc/self/status; echo "processes:"; ps']
json.dump(config, open(path, "w"), indent=2)
PY
exec target/release/hull --root /run/hull-demo run --bundle "$bundle" "demo-$$"
