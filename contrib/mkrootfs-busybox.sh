#!/bin/sh
# Builds a minimal busybox root filesystem from Debian's busybox-static, the way Docker's old
# contrib/mkimage-busybox did: one static binary, an applet symlink farm, and the few files a
# container expects (/etc/passwd, /etc/group, /tmp). Usage: mkrootfs-busybox.sh DIR
set -eu
dir=${1:?usage: mkrootfs-busybox.sh DIR}
bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || { echo "mkrootfs-busybox: $bb not found (apt-get install busybox-static)" >&2; exit 1; }
if command -v file >/dev/null; then file -L "$bb" | grep -q 'dynamically linked' && { echo "mkrootfs-busybox: $bb is not static" >&2; exit 1; }; fi
mkdir -p "$dir"
cd "$dir"
mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev tmp root home var/tmp
chmod 1777 tmp var/tmp
chmod 0700 root
cp "$bb" bin/busybox
for applet in $(bin/busybox --list-full); do
	[ "$applet" = bin/busybox ] && continue
	mkdir -p "$(dirname "$applet")"
	ln -sf /bin/busybox "$applet"
done
cat > etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > etc/group <<'G'
root:x:0:
daemon:x:1:
tty:x:5:
wheel:x:10:root
nogroup:x:65534:
G
: > etc/hostname
: > etc/hosts
: > etc/resolv.conf
