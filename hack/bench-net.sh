#!/usr/bin/env bash
# `make bench-net`: berth's networking against a real dockerd (Debian's docker.io 20.10) in one run
# (issue 6), written into docs/benchmarks.md between the bench-net markers:
#   1. iperf3 TCP throughput: container to container on the engine's bridge; host to container
#      through a port published on 127.0.0.1 (berth: DNAT in the kernel; dockerd 20.10 here:
#      docker-proxy, as it does for 127.0.0.1); host to the container's address; and host loopback
#      (iperf3 on the host both ends) as the limit
#   2. connection latency through the published port: N fresh TCP connections, each an HTTP/1.0
#      GET to busybox httpd, timed from connect to close (a Python loop on the host)
#   3. network set-up cost: `run --rm busybox true` on the default bridge against --network none
#      (interleaved rounds)
# iperf3 is Debian's (dynamically linked): the binary, the libraries ldd lists and the dynamic
# loader are copied into one directory bind-mounted read-only at /iperf, and run as
# `/iperf/ld.so --library-path /iperf /iperf/iperf3`, so the busybox image stays as it is.
# Both daemons are private to this run (hack/lib-engines.sh) and everything is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${IPERF_SECONDS:-5} # each iperf3 test
n_conn=${N_CONN:-300}    # (2)
runs=${RUNS:-30}         # (3)
write_doc=${WRITE_DOC:-1}

# shellcheck source=hack/lib-engines.sh
. hack/lib-engines.sh
for c in iperf3 python3; do
	command -v "$c" >/dev/null || { echo "bench-net: $c missing (make deps)" >&2; exit 1; }
done
engines_install_docker docker.io

engines_begin bench-net
loop_pid=
bench_cleanup() {
	[ -z "$loop_pid" ] || kill "$loop_pid" 2>/dev/null || true
}

# dockerd publishes 127.0.0.1 ports through docker-proxy (no iptables for it here).
engines_start_both --userland-proxy=true

contrib/mkrootfs-busybox.sh "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
dk import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
bt import -c 'CMD ["sh"]' - busybox:latest <"$work/busybox.tar" >/dev/null

# iperf3 and what it links, in one directory.
ipd=$work/iperf
mkdir -p "$ipd"
cp "$(command -v iperf3)" "$ipd/iperf3"
ldd "$(command -v iperf3)" | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }' | while read -r lib; do cp -L "$lib" "$ipd/"; done
ld=$(basename "$(ldd "$(command -v iperf3)" | awk '/ld-linux/ { print $1 }')")
mv "$ipd/$ld" "$ipd/ld.so"
iperf_in=(-v "$ipd:/iperf:ro" busybox /iperf/ld.so --library-path /iperf /iperf/iperf3)

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# measure ENGINE: throughput and latency rows for one engine, into $work/ENGINE-*.json|txt
measure() {
	local e=$1 port hport srv web ip
	port=$(free_port) hport=$(free_port)
	srv=$($e run -d -p "127.0.0.1:$port:5201" "${iperf_in[@]}" -s)
	web=$($e run -d -p "127.0.0.1:$hport:80" busybox sh -c 'mkdir /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www')
	ip=$(dk_at "$e" inspect -f '{{.NetworkSettings.IPAddress}}' "$srv")
	sleep 1
	echo "bench-net: $e: container to container ($ip)" >&2
	$e run --rm "${iperf_in[@]}" -c "$ip" -t "$secs" -J >"$work/$e-c2c.json"
	echo "bench-net: $e: host to 127.0.0.1:$port (published)" >&2
	iperf3 -c 127.0.0.1 -p "$port" -t "$secs" -J >"$work/$e-pub.json"
	echo "bench-net: $e: host to $ip" >&2
	iperf3 -c "$ip" -t "$secs" -J >"$work/$e-direct.json"
	echo "bench-net: $e: $n_conn connections to 127.0.0.1:$hport" >&2
	python3 - "$hport" "$n_conn" >"$work/$e-conn.txt" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
def once():
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    while s.recv(4096):
        pass
    s.close()
    return time.perf_counter() - t0
for _ in range(20):
    once()
print(" ".join(f"{once() * 1e6:.0f}" for _ in range(n)))
PY
	$e rm -f "$srv" "$web" >/dev/null
}
dk_at() { # dk_at dk|bt ARGS: the official CLI against that engine
	local cli=$1
	shift
	if [ "$cli" = bt ]; then DOCKER_HOST=$bsock "$ENGINE_DOCKER_CLI" "$@"; else dk "$@"; fi
}
measure bt
measure dk

echo "bench-net: host loopback" >&2
lport=$(free_port)
iperf3 -s -1 -p "$lport" >/dev/null 2>&1 &
loop_pid=$!
sleep 0.5
iperf3 -c 127.0.0.1 -p "$lport" -t "$secs" -J >"$work/loopback.json"
wait "$loop_pid" 2>/dev/null || true
loop_pid=

echo "bench-net: run --rm on the default bridge and with --network none ($runs rounds)" >&2
# Interleaved (one of each command per round, after 3 warm-up rounds) rather than one command's
# runs after the other's, so that the load of a shared machine drifting weighs on all alike.
python3 - "$runs" "$work/setup.json" \
	"berth bridge=env BERTH_HOST=$bsock $root/bin/berth run --rm busybox true" \
	"berth none=env BERTH_HOST=$bsock $root/bin/berth run --rm --network none busybox true" \
	"docker bridge=env DOCKER_HOST=$dsock $ENGINE_DOCKER_CLI run --rm busybox true" \
	"docker none=env DOCKER_HOST=$dsock $ENGINE_DOCKER_CLI run --rm --network none busybox true" <<'PY'
import json, subprocess, sys, time
runs, out, cmds = int(sys.argv[1]), sys.argv[2], [a.split("=", 1) for a in sys.argv[3:]]
times = {name: [] for name, _ in cmds}
for i in range(runs + 3):
    for name, cmd in cmds:
        t0 = time.perf_counter()
        subprocess.run(cmd.split(), check=True, stdout=subprocess.DEVNULL)
        if i >= 3:
            times[name].append(time.perf_counter() - t0)
json.dump({"results": [{"command": n, "times": t} for n, t in times.items()]}, open(out, "w"))
PY

dv=$(dk version --format '{{.Server.Version}}') iv=$(iperf3 --version | awk 'NR == 1 {print $2}')
python3 - "$work" "$secs" "$n_conn" "$runs" "$dv" "$iv" >"$work/table.md" <<'PY'
import json, sys, statistics, platform, os, datetime
work, secs, n_conn, runs, dv, iv = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
def gbits(name):
    return json.load(open(f"{work}/{name}.json"))["end"]["sum_received"]["bits_per_second"] / 1e9
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu}), kernel {platform.release()}, a machine shared with "
      f"five other engineers' builds and tests (figures are noisy). berth {os.popen('git rev-parse --short HEAD').read().strip()}; "
      f"dockerd {dv} (Debian docker.io, its own bridge, --iptables=false, so 127.0.0.1 ports go through docker-proxy); "
      f"iperf3 {iv} (Debian's, bind-mounted with its libraries). All in one run of `make bench-net`.\n")
print(f"### 1. TCP throughput (iperf3, one stream, {secs} s each, Gbit/s received)\n\n"
      "Each figure is one run taken at its own moment: on this shared machine the load moves them by tens of percent "
      "from one run to the next (even the host loopback limit), so a ratio near its target is not conclusive.\n")
print("| path | berth | docker |\n|---|---|---|")
rows = [("container to container on the bridge", "c2c"), ("host to container, published port on 127.0.0.1", "pub"),
        ("host to the container's address", "direct")]
for label, k in rows:
    print(f"| {label} | {gbits('bt-' + k):.1f} | {gbits('dk-' + k):.1f} |")
lo = gbits("loopback")
print(f"| host loopback (the limit) | {lo:.1f} | |")
bp, bc, dp = gbits("bt-pub"), gbits("bt-c2c"), gbits("dk-pub")
def met(ok): return "met" if ok else "not met"
print(f"\nberth published port / berth container to container: {bp/bc:.2f}x (target >= 0.9x: {met(bp/bc >= 0.9)}); "
      f"berth / docker through the published port: {bp/dp:.2f}x (target >= 1x: {met(bp >= dp)}); "
      f"berth published port / host loopback: {bp/lo:.2f}x.\n")
print(f"### 2. Connection latency through a published port\n\n{n_conn} fresh connections to busybox httpd published on 127.0.0.1, each connect, `GET /` (HTTP/1.0) and read to close, one after the other, after 20 warm-ups (µs).\n")
print("| engine | median | p90 | p99 |\n|---|---|---|---|")
meds = {}
for name, e in (("berth", "bt"), ("docker", "dk")):
    v = sorted(int(x) for x in open(f"{work}/{e}-conn.txt").read().split())
    q = lambda p: v[min(len(v) - 1, int(p * len(v)))]
    meds[name] = statistics.median(v)
    print(f"| {name} | {meds[name]:.0f} | {q(0.9)} | {q(0.99)} |")
print(f"\nberth / docker, median: {meds['berth']/meds['docker']:.2f}x.\n")
res = {r["command"]: statistics.median(r["times"]) * 1000 for r in json.load(open(f"{work}/setup.json"))["results"]}
print(f"### 3. Network set-up cost\n\n`run --rm busybox true` on the default bridge and with `--network none`, {runs} interleaved rounds after 3 warm-up rounds (median, ms). The difference is within this machine's noise unless it is well above a few ms.\n")
print("| engine | default bridge | --network none | added by the bridge |\n|---|---|---|---|")
for e in ("berth", "docker"):
    b, n = res[f"{e} bridge"], res[f"{e} none"]
    print(f"| {e} | {b:.1f} | {n:.1f} | {b - n:+.1f} |")
added = res["berth bridge"] - res["berth none"]
print(f"\nberth's bridge adds {added:.1f} ms (target <= 5 ms: {met(added <= 5)}).")
PY
cat "$work/table.md"

[ "$write_doc" = 1 ] || exit 0
engines_write_doc bench-net "Networking: berth against dockerd (make bench-net)" "$work/table.md"
