#!/bin/sh
# Build a busybox-static root filesystem at $1 (default: target/demo/rootfs).
# Installs Debian's busybox-static first if it is missing.
set -eu
. "$(dirname "$0")/packages.sh"
dest=${1:-target/demo/rootfs}
if ! [ -x /bin/busybox ] || ! /bin/busybox --list >/dev/null 2>&1; then
    need_packages busybox-static
fi
rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/proc" "$dest/sys" "$dest/dev" "$dest/etc" "$dest/tmp" "$dest/root"
cp /bin/busybox "$dest/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$dest/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$dest/etc/passwd"
echo 'root:x:0:' > "$dest/etc/group"
