#!/bin/sh
# Runs hull's cgroup v2 integration tests on a real cgroup-v2-only kernel, in a guest.
#
# This machine keeps its controllers bound to cgroup v1, so the tests of tests/vm/v2-tests.list
# run in a QEMU guest instead (TCG: the /dev/kvm here does not boot a stock kernel):
#   - Debian's kernel (linux-image-amd64) with cgroup_no_v1=all, so every controller is v2;
#   - an initrd made here (busybox-static + the virtio/9p modules + tests/vm/init) that
#     mounts the host's / read-only over virtio-9p and hands over to tests/vm/guest.sh;
#   - the guest runs the test executables built here, from their host paths, and writes
#     their output, a summary and the exit status to target/vm/results (a writable 9p share).
# Prints the guest's output (each line prefixed "[cgroup v2 guest]") and a summary of the
# tests that ran on v2; exits with the guest's test status (2 when the guest gave none).
#
# Needs root. Installs qemu-system-x86, linux-image-amd64 and busybox-static if missing.
# Environment: HULL_VM_TIMEOUT (seconds, default 900), HULL_VM_CPUS (2), HULL_VM_MEM (2048),
# HULL_VM_LIST (the test list, default tests/vm/v2-tests.list).
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VM=$ROOT/target/vm
RESULTS=$VM/results
LIST=${HULL_VM_LIST:-$ROOT/tests/vm/v2-tests.list}
TIMEOUT=${HULL_VM_TIMEOUT:-900}
P="[cgroup v2 host]"
T0=$(date +%s)

say() { echo "$P $*"; }
die() {
    echo "$P error: $*" >&2
    exit 2
}

[ "$(id -u)" -eq 0 ] || die "run as root (the tests and the 9p export of / need it)"

# --- packages -------------------------------------------------------------------------------

apt_install() {
    say "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } ||
        die "apt-get install $* failed"
}

# The newest installed kernel whose modules include 9p over virtio (the "cloud" flavour
# has no 9p), printed as its version.
find_kernel() {
    for dir in /lib/modules/*; do
        ver=${dir##*/}
        [ -f "/boot/vmlinuz-$ver" ] && grep -q '/9pnet_virtio\.ko' "$dir/modules.dep" 2>/dev/null &&
            echo "$ver"
    done | sort -V | tail -n 1
}

command -v qemu-system-x86_64 >/dev/null || apt_install qemu-system-x86
KVER=$(find_kernel)
[ -n "$KVER" ] || {
    apt_install linux-image-amd64
    KVER=$(find_kernel)
}
[ -n "$KVER" ] || die "no kernel with 9p modules in /boot and /lib/modules"
if ! /bin/busybox --list 2>/dev/null | grep -qx switch_root ||
    ldd /bin/busybox >/dev/null 2>&1; then
    apt_install busybox-static
fi

# --- build ----------------------------------------------------------------------------------

TESTS=$(sed -e 's/#.*//' "$LIST" | awk 'NF { print $1 }' | sort -u)
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

# --- initrd ---------------------------------------------------------------------------------

# Module paths (relative to /lib/modules/$KVER) needed for $1, dependencies first.
MODDIR=/lib/modules/$KVER
deps_of() {
    line=$(grep "^$1:" "$MODDIR/modules.dep") || die "$1 is not in $MODDIR/modules.dep"
    for d in ${line#*:}; do deps_of "$d"; done
    echo "$1"
}
module_path() {
    grep -oE "^[^:]*/$1\.ko(\.xz|\.zst|\.gz)?:" "$MODDIR/modules.dep" | head -n 1 | tr -d :
}

INITRD=$VM/initrd-$KVER.cpio.gz
TREE=$VM/initrd
rm -rf "$TREE"
mkdir -p "$TREE/bin" "$TREE/modules"
cp /bin/busybox "$TREE/bin/busybox"
cp "$ROOT/tests/vm/init" "$TREE/init"
chmod 755 "$TREE/init" "$TREE/bin/busybox"
for m in virtio_pci 9pnet_virtio 9p; do
    path=$(module_path "$m")
    if [ -z "$path" ]; then
        grep -q "/$m\.ko" "$MODDIR/modules.builtin" || die "no module $m for $KVER"
        continue
    fi
    deps_of "$path"
done | awk '!seen[$0]++' | while read -r path; do
    base=$(basename "$path" | sed -E 's/\.(xz|zst|gz)$//')
    case "$path" in
    *.xz) xz -dc "$MODDIR/$path" >"$TREE/modules/$base" ;;
    *.zst) zstd -qdc "$MODDIR/$path" >"$TREE/modules/$base" ;;
    *.gz) gzip -dc "$MODDIR/$path" >"$TREE/modules/$base" ;;
    *) cp "$MODDIR/$path" "$TREE/modules/$base" ;;
    esac
    echo "$base" >>"$TREE/modules.order"
done
(cd "$TREE" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$INITRD"
say "initrd $INITRD: busybox + $(tr '\n' ' ' <"$TREE/modules.order")"

# --- boot -----------------------------------------------------------------------------------

APPEND="console=ttyS0 cgroup_no_v1=all quiet loglevel=3 panic=-1 mitigations=off"
APPEND="$APPEND hullvm_script=$ROOT/tests/vm/guest.sh hullvm_results=$RESULTS"
say "booting Linux $KVER (TCG, ${HULL_VM_CPUS:-2} CPUs, timeout ${TIMEOUT}s) with: $APPEND"
T1=$(date +%s)
set +e
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
    -accel tcg -cpu max -smp "${HULL_VM_CPUS:-2}" -m "${HULL_VM_MEM:-2048}" \
    -nodefaults -no-user-config -display none -monitor none -serial stdio -no-reboot \
    -kernel "/boot/vmlinuz-$KVER" -initrd "$INITRD" -append "$APPEND" \
    -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
    -fsdev local,id=results,path="$RESULTS",security_model=none \
    -device virtio-9p-pci,fsdev=results,mount_tag=results \
    </dev/null 2>&1 | tee "$VM/console.log"
set -e
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
say "vm: $((T2 - T1))s, total with the build: $((T2 - T0))s; guest output: $RESULTS/output.log"
if [ "$STATUS" = 0 ]; then
    say "cgroup v2 tests: PASSED"
    exit 0
fi
say "cgroup v2 tests: FAILED"
exit 1
