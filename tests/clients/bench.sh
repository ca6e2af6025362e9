#!/bin/sh
# Times `podman run --rm IMAGE true` and `docker run --rm --runtime R IMAGE true` with hull,
# runc and crun side by side (hyperfine), each client with a private root, config and
# network setup in a temp dir, all removed at the end. Runtimes that cannot run a container
# here (crun refuses hybrid cgroup hierarchies) are left out with a note.
#
#   sh tests/clients/bench.sh [HULL_BINARY]      (as root; needs podman, docker.io, hyperfine)
set -eu
HULL=$(readlink -f "${1:-$(dirname "$0")/../../target/debug/hull}")
RUNS=${RUNS:-20}
T=$(mktemp -d /tmp/hull-bench-clients.XXXXXX)
BR=hullbb$$
DPID=
cleanup() {
    set +e
    if [ -n "$DPID" ]; then
        docker -H "unix://$T/docker.sock" rm -f $(docker -H "unix://$T/docker.sock" ps -aq) >/dev/null 2>&1
        kill "$DPID"; while kill -0 "$DPID" 2>/dev/null; do sleep 0.2; done
    fi
    pc rm -af -t 0 >/dev/null 2>&1
    pc rmi -af >/dev/null 2>&1
    ip link del "$BR" 2>/dev/null
    grep " $T" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l
    rm -rf "$T"
}
trap cleanup EXIT INT TERM

# the image: busybox rootfs, as a tarball
mkdir -p "$T/rootfs/bin" "$T/rootfs/proc" "$T/rootfs/sys" "$T/rootfs/dev" "$T/rootfs/etc" "$T/rootfs/tmp"
cp /bin/busybox "$T/rootfs/bin/"
for a in sh true; do ln -s busybox "$T/rootfs/bin/$a"; done
tar -C "$T/rootfs" -cf "$T/rootfs.tar" .

# runtimes that can run a container here
RUNTIMES="hull=$HULL"
for r in runc crun; do
    p=$(command -v $r || true)
    [ -n "$p" ] && RUNTIMES="$RUNTIMES $r=$p"
done

# podman, with its own storage and config
cat >"$T/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$T/events.log"
tmp_dir = "$T/libpod-tmp"
EOF
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/storage"\nrunroot = "%s/run"\n' "$T" "$T" >"$T/storage.conf"
pc() { CONTAINERS_CONF=$T/containers.conf CONTAINERS_STORAGE_CONF=$T/storage.conf podman --root "$T/storage" --runroot "$T/run" "$@"; }
pc import "$T/rootfs.tar" localhost/bench:latest >/dev/null

# dockerd, with its own roots, socket and bridge
ip link add "$BR" type bridge && ip addr add 10.235.7.1/24 dev "$BR" && ip link set "$BR" up
echo '{}' >"$T/daemon.json"
ADD=""
for rt in $RUNTIMES; do
    [ "${rt%%=*}" = runc ] || ADD="$ADD --add-runtime $rt"
done
dockerd --config-file "$T/daemon.json" --data-root "$T/docker" --exec-root "$T/dexec" \
    --pidfile "$T/docker.pid" -H "unix://$T/docker.sock" --bridge "$BR" --iptables=false \
    --ip-masq=false --exec-opt native.cgroupdriver=cgroupfs --default-ulimit nofile=1024:1024 \
    --default-ulimit nproc=4096:4096 $ADD >"$T/dockerd.log" 2>&1 &
DPID=$!
dk() { DOCKER_CONFIG=$T/client docker -H "unix://$T/docker.sock" "$@"; }
i=0; until dk version >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 150 ] || { cat "$T/dockerd.log"; exit 1; }; sleep 0.2; done
dk import "$T/rootfs.tar" bench:latest >/dev/null

set --
for rt in $RUNTIMES; do
    name=${rt%%=*}; path=${rt#*=}
    if ! pc --runtime "$path" run --rm --network none localhost/bench:latest true >/dev/null 2>"$T/err"; then
        echo "note: podman cannot run a container with $name here: $(tail -1 "$T/err")"; continue
    fi
    set -- "$@" -n "podman $name" "env CONTAINERS_CONF=$T/containers.conf CONTAINERS_STORAGE_CONF=$T/storage.conf podman --root $T/storage --runroot $T/run --runtime $path run --rm --network none localhost/bench:latest true"
done
for rt in $RUNTIMES; do
    name=${rt%%=*}
    if ! dk run --rm --runtime "$name" --network none bench:latest true >/dev/null 2>"$T/err"; then
        echo "note: docker cannot run a container with $name here: $(head -1 "$T/err")"; continue
    fi
    set -- "$@" -n "docker $name" "env DOCKER_CONFIG=$T/client docker -H unix://$T/docker.sock run --rm --runtime $name --network none bench:latest true"
done
hyperfine -N --warmup 2 --runs "$RUNS" "$@"
