#!/bin/bash
# Packs the guest initrd: spore-agent as /init, a static busybox with a
# /bin link per applet, and the skeleton a workload expects. The archive is
# an uncompressed newc cpio with sorted entries, root ownership and zero
# mtimes, so equal inputs give a byte-identical archive.
set -euo pipefail

die() { echo "pack-initrd: $*" >&2; exit 1; }

[ $# -eq 6 ] || die "usage: pack-initrd.sh AGENT BUSYBOX APPLET_LIST STAGING_DIR OUTPUT STRIP"
agent=$(realpath "$1")
busybox=$(realpath "$2")
applet_list=$(realpath "$3")
staging=$(realpath -m "$4")
output=$(realpath -m "$5")
strip=$6

mapfile -t applets < <(grep -v -e '^#' -e '^$' "$applet_list")
for applet in "${applets[@]}"; do
    [[ $applet =~ ^[][A-Za-z0-9_.-]+$ && $applet != . && $applet != .. ]] ||
        die "$applet_list: bad applet name '$applet'"
done

# busybox cannot run on the build host to list its applets, but its name
# table stores each applet as a separate string, which strings(1) prints.
missing=$(LC_ALL=C comm -23 <(printf '%s\n' "${applets[@]}" | LC_ALL=C sort -u) \
    <(strings -n 1 "$busybox" | LC_ALL=C sort -u))
[ -z "$missing" ] || die "applets not in $busybox: $(echo $missing)"

umask 022
rm -rf "$staging"
mkdir -p "$staging"
cd "$staging"

mkdir -p bin dev etc proc root run sys tmp usr var/tmp
chmod 1777 tmp var/tmp
chmod 0700 root
ln -s bin sbin
ln -s ../bin usr/bin
ln -s ../bin usr/sbin

# The build keeps the agent's symbols for debugging; the guest needs none.
"$strip" --strip-all -o init "$agent"
chmod 0755 init
install -m 0755 "$busybox" bin/busybox
for applet in "${applets[@]}"; do
    ln -s busybox "bin/$applet"
done

printf 'root:x:0:0:root:/root:/bin/sh\n' >etc/passwd
printf 'root:x:0:\n' >etc/group
printf 'spore\n' >etc/hostname
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\tspore\n' >etc/hosts

find . -exec touch -h -d @0 {} +
find . -mindepth 1 -printf '%P\0' | LC_ALL=C sort -z |
    cpio --create --null --format=newc --reproducible --owner=0:0 --quiet >"$output.tmp"
mv "$output.tmp" "$output"
