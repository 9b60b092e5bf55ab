#!/bin/sh
# Makes the busybox:latest image from Debian's busybox-static, as Docker's old
# contrib/mkimage-busybox did: a rootfs (mkrootfs-busybox.sh) imported with `berth import`.
# Usage: mkimage-busybox.sh [REPOSITORY[:TAG]]   (BERTH=path/to/berth, BERTH_HOST as usual)
set -eu
ref=${1:-busybox:latest}
berth=${BERTH:-$(dirname "$0")/../bin/berth}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$(dirname "$0")/mkrootfs-busybox.sh" "$tmp/rootfs"
tar -C "$tmp/rootfs" -c . | "$berth" import -c 'CMD ["sh"]' - "$ref"
