# The cgroup-v2-only QEMU guest, shared by tests/vm/run-v2.sh (the cgroup v2 tests) and
# tests/vm/bench-v2.sh (the lifecycle benchmark). Sourced, not run; the caller sets
#   ROOT (the workspace), VM (target/vm), P (the prefix of the host's messages), TIMEOUT (s).
#
# The guest (TCG: the /dev/kvm here does not boot a stock kernel):
#   - Debian's kernel (linux-image-amd64) with cgroup_no_v1=all, so every controller is v2;
#   - an initrd made here (busybox-static + the virtio/9p modules + tests/vm/init) that
#     mounts the host's / read-only over virtio-9p and hands over to tests/vm/guest.sh as
#     PID 1, which does what `hullvm_mode=` on the kernel command line says (tests or bench);
#   - a writable 9p share, the results directory, mounted in the guest at its host path.
# Environment: HULL_VM_CPUS (2), HULL_VM_MEM (2048).

say() { echo "$P $*"; }
die() {
    echo "$P error: $*" >&2
    exit 2
}

vm_require_root() {
    [ "$(id -u)" -eq 0 ] || die "run as root (the containers and the 9p export of / need it)"
}

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

# Installs qemu, a kernel with 9p and busybox-static if missing; sets KVER.
vm_packages() {
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
}

# --- initrd ---------------------------------------------------------------------------------

# Module paths (relative to /lib/modules/$KVER) needed for $1, dependencies first.
deps_of() {
    line=$(grep "^$1:" "$MODDIR/modules.dep") || die "$1 is not in $MODDIR/modules.dep"
    for d in ${line#*:}; do deps_of "$d"; done
    echo "$1"
}
module_path() {
    grep -oE "^[^:]*/$1\.ko(\.xz|\.zst|\.gz)?:" "$MODDIR/modules.dep" | head -n 1 | tr -d :
}

# Builds $VM/$VM_INITRD-$KVER.cpio.gz with $VM_INIT as /init (defaults: initrd,
# tests/vm/init) and the modules for virtio 9p plus $VM_MODULES; sets INITRD.
vm_initrd() {
    MODDIR=/lib/modules/$KVER
    INITRD=$VM/${VM_INITRD:-initrd}-$KVER.cpio.gz
    TREE=$VM/${VM_INITRD:-initrd}
    rm -rf "$TREE"
    mkdir -p "$TREE/bin" "$TREE/modules"
    cp /bin/busybox "$TREE/bin/busybox"
    cp "${VM_INIT:-$ROOT/tests/vm/init}" "$TREE/init"
    chmod 755 "$TREE/init" "$TREE/bin/busybox"
    for m in virtio_pci 9pnet_virtio 9p ${VM_MODULES:-}; do
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
}

# --- boot -----------------------------------------------------------------------------------

# vm_boot RESULTS CONSOLE_LOG [KERNEL_ARGS...]: boots the guest with $VM_SCRIPT (default
# tests/vm/guest.sh) as `hullvm_script=` (the initrd's /init runs it), RESULTS as its writable share and KERNEL_ARGS (e.g. hullvm_mode=bench) appended to the
# kernel command line; shows the console and keeps it in CONSOLE_LOG. With $VM_DISK (a raw
# image file) the guest has it as its virtio disk /dev/vda. Sets VM_SECS (the time the VM
# ran). Success or not is for the caller to read in RESULTS.
vm_boot() {
    results=$1 console=$2
    shift 2
    APPEND="console=ttyS0 cgroup_no_v1=all quiet loglevel=3 panic=-1 mitigations=off"
    APPEND="$APPEND hullvm_script=${VM_SCRIPT:-$ROOT/tests/vm/guest.sh} hullvm_results=$results${*:+ $*}"
    say "booting Linux $KVER (TCG, ${HULL_VM_CPUS:-2} CPUs, timeout ${TIMEOUT}s) with: $APPEND"
    t1=$(date +%s)
    set +e
    timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
        -accel tcg -cpu max -smp "${HULL_VM_CPUS:-2}" -m "${HULL_VM_MEM:-2048}" \
        -nodefaults -no-user-config -display none -monitor none -serial stdio -no-reboot \
        -kernel "/boot/vmlinuz-$KVER" -initrd "$INITRD" -append "$APPEND" \
        -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
        -fsdev local,id=results,path="$results",security_model=none \
        -device virtio-9p-pci,fsdev=results,mount_tag=results \
        ${VM_DISK:+-drive "file=$VM_DISK,format=raw,if=virtio,cache=unsafe"} \
        </dev/null 2>&1 | tee "$console"
    set -e
    VM_SECS=$(($(date +%s) - t1))
}
