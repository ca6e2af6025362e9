#!/bin/sh
# Build hull and run one container on a busybox rootfs that this script makes itself.
# It prints what the container sees: its hostname, that it is PID 1, its own network.
# On a fresh Debian machine (as root) it first installs what building needs (a C linker,
# libseccomp-dev, libdbus-1-dev, pkg-config) and busybox-static; Rust itself comes from https://rustup.rs.
set -eu
cd "$(dirname "$0")/.."
. demo/packages.sh
if [ "$(id -u)" != 0 ]; then
    echo "demo: run as root (it runs a container)" >&2
    exit 1
fi
if ! command -v cargo >/dev/null; then
    echo "demo: cargo not found: install Rust first (https://rustup.rs), then run make demo again" >&2
    exit 1
fi
command -v cc >/dev/null || need_packages gcc libc6-dev
need_packages libseccomp-dev libdbus-1-dev pkg-config
make -s release
hull=${CARGO_TARGET_DIR:-target}/release/hull
bundle=target/demo
sh demo/rootfs.sh "$bundle/rootfs"
cat > "$bundle/rootfs/demo.sh" <<'SH'
echo "hostname: $(hostname)"
echo "my pid:   $$"
echo "network:"; ip -o link
echo "capabilities:"; grep Cap /proc/self/status
echo "processes:"; ps
SH
rm -f "$bundle/config.json"
"$hull" spec --bundle "$bundle"
sed -i 's/"terminal": true/"terminal": false/; s/"hostname": "runc"/"hostname": "hull-demo"/;
        s/^\( *\)"sh"$/\1"sh", "\/demo.sh"/' "$bundle/config.json"
exec "$hull" --root /run/hull-demo run --bundle "$bundle" "demo-$$"
