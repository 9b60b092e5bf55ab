#!/usr/bin/env bash
# `make up`: starts berthd (unless one already answers on the default socket), creates
# busybox:latest from Debian's busybox-static, and runs a hello container through the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
sock=/var/run/berth.sock
export BERTH_HOST=unix://$sock
# The socket is 0660 root:berth when the group exists (berthd's -G default): members may use it.
groupadd -f -r berth
if ! bin/berth version >/dev/null 2>&1; then
	mkdir -p /var/log
	# Its own session, so it keeps running after make returns.
	setsid bin/berthd >>/var/log/berthd.log 2>&1 < /dev/null &
	for _ in $(seq 1 100); do
		bin/berth version >/dev/null 2>&1 && break
		sleep 0.1
	done
	bin/berth version >/dev/null || { echo "up: berthd did not start; see /var/log/berthd.log" >&2; exit 1; }
	echo "up: berthd started (socket $sock, log /var/log/berthd.log)"
elif [ "$(stat -c %G "$sock" 2>/dev/null)" != berth ]; then
	echo "up: berthd was started before the berth group existed: its socket stays root-only until it restarts" >&2
fi
if ! bin/berth image inspect busybox >/dev/null 2>&1; then
	BERTH=bin/berth contrib/mkimage-busybox.sh busybox:latest >/dev/null
fi
exec bin/berth run --rm busybox echo hello from berth
