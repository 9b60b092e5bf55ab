#!/usr/bin/env bash
# Runs a hello container on a busybox bundle with the freshly built berth-runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=.cache/hello-bundle
if [ ! -x "$bundle/rootfs/bin/busybox" ]; then
	rm -rf "$bundle"
	mkdir -p "$bundle"
	contrib/mkrootfs-busybox.sh "$bundle/rootfs"
fi
rm -f "$bundle/config.json"
bin/berth-runtime spec --bundle "$bundle"
# Not a terminal, so it works from scripts and CI; the process says hello.
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"echo", "hello from berth"/' "$bundle/config.json"
exec bin/berth-runtime --root "$PWD/.cache/runtime-state" run --bundle "$bundle" "hello-$$"
