#!/usr/bin/env bash
# `make bench-dist`: pull, push, save and load of a ~100 MB, 3-layer image (busybox and two
# LAYER_MIB (default 49) MiB layers of random bytes) from and to a local registry (Debian's
# docker-registry on 127.0.0.1), berth against a private dockerd (Debian's docker.io) and, for the
# pull, `skopeo copy` of the same image to a directory, in one run, written into docs/benchmarks.md
# between the dist markers:
#   1. cold pull: before each run the image and every unused layer are removed from the engine
#   2. push: before each run the registry's storage is emptied, so every layer is uploaded
#   3. save of the image to a tar, and load of that tar into an engine that does not have it
# Both daemons and the registry are private to this run (own sockets, roots, ports) and everything
# is removed at the end (by pid and by path, never by name).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
runs=${RUNS:-5}
layer_mib=${LAYER_MIB:-49}
write_doc=${WRITE_DOC:-1}

# shellcheck source=hack/lib-engines.sh
. hack/lib-engines.sh
command -v docker-registry >/dev/null || { echo "bench-dist: docker-registry missing (make deps)" >&2; exit 1; }
command -v skopeo >/dev/null || { apt-get install -y -qq skopeo >/dev/null || { echo "bench-dist: cannot install skopeo" >&2; exit 1; }; }
engines_install_docker docker.io

engines_begin bench-dist
reg_pid=
bench_cleanup() {
	[ -z "$reg_pid" ] || engines_kill_wait 5 "$reg_pid"
}

# The registry: a free port on 127.0.0.1, storage under $work.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
mkdir -p "$work/registry"
cat >"$work/registry/config.yml" <<CFG
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry/storage
  delete:
    enabled: true
http:
  addr: $reg
CFG
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
reg_pid=$!
for _ in $(seq 1 100); do curl -sf "http://$reg/v2/" >/dev/null && break; sleep 0.1; done

engines_start_both

# The image, made in berth: busybox, then a layer of random bytes per commit.
contrib/mkrootfs-busybox.sh "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
bt import -c 'CMD ["sh"]' - busybox:latest <"$work/busybox.tar" >/dev/null
ref=$reg/bench/dist:1
img=busybox:latest
for i in 1 2; do
	bt run --name "layer$i" "$img" sh -c "head -c $((layer_mib << 20)) /dev/urandom >/random$i" >/dev/null
	bt commit "layer$i" "$ref" >/dev/null
	bt rm "layer$i" >/dev/null
	img=$ref
done
size_mb=$(bt image inspect -f '{{.Size}}' "$ref" | awk '{printf "%.0f", $1 / 1000000}')
layers=$(bt image inspect -f '{{len .RootFS.Layers}}' "$ref")
bt push "$ref" >/dev/null
bt rmi "$ref" busybox:latest >/dev/null
bt image prune -af >/dev/null
dk pull -q "$ref" >/dev/null # docker's copy, for its push
echo "bench-dist: $ref: $layers layers, $size_mb MB" >&2

echo "bench-dist: 1. cold pull ($runs runs each)" >&2
hyperfine -N -r "$runs" ${HYPERFINE_FLAGS:-} --export-json "$work/pull.json" \
	--prepare "sh -c 'BERTH_HOST=$bsock $root/bin/berth rmi -f $ref; BERTH_HOST=$bsock $root/bin/berth image prune -af' " \
	-n berth "env BERTH_HOST=$bsock $root/bin/berth pull -q $ref" \
	--prepare "sh -c 'BERTH_HOST=$bsock $root/bin/berth rmi -f $ref; BERTH_HOST=$bsock $root/bin/berth image prune -af' " \
	-n 'docker CLI -> berthd' "env DOCKER_HOST=$bsock DOCKER_CONFIG=$DOCKER_CONFIG $ENGINE_DOCKER_CLI pull -q $ref" \
	--prepare "sh -c 'DOCKER_HOST=$dsock DOCKER_CONFIG=$DOCKER_CONFIG $ENGINE_DOCKER_CLI rmi -f $ref; DOCKER_HOST=$dsock DOCKER_CONFIG=$DOCKER_CONFIG $ENGINE_DOCKER_CLI image prune -af' " \
	-n docker "env DOCKER_HOST=$dsock DOCKER_CONFIG=$DOCKER_CONFIG $ENGINE_DOCKER_CLI pull -q $ref" \
	--prepare "rm -rf $work/skopeo" \
	-n 'skopeo copy' "skopeo copy -q --src-tls-verify=false docker://$ref dir:$work/skopeo" >"$work/pull.txt"
bt pull -q "$ref" >/dev/null

echo "bench-dist: 2. push to an emptied registry ($runs runs each)" >&2
empty_registry="rm -rf $work/registry/storage/docker"
hyperfine -N -r "$runs" ${HYPERFINE_FLAGS:-} --export-json "$work/push.json" \
	--prepare "$empty_registry" -n berth "env BERTH_HOST=$bsock $root/bin/berth push $ref" \
	--prepare "$empty_registry" -n docker "env DOCKER_HOST=$dsock DOCKER_CONFIG=$DOCKER_CONFIG $ENGINE_DOCKER_CLI push $ref" >"$work/push.txt"

echo "bench-dist: 3. save and load ($runs runs each)" >&2
dk pull -q "$ref" >/dev/null
hyperfine -N -r "$runs" ${HYPERFINE_FLAGS:-} --export-json "$work/save.json" \
	--prepare "rm -f $work/berth.tar" -n berth "env BERTH_HOST=$bsock $root/bin/berth save -o $work/berth.tar $ref" \
	--prepare "rm -f $work/docker.tar" -n docker "env DOCKER_HOST=$dsock DOCKER_CONFIG=$DOCKER_CONFIG $ENGINE_DOCKER_CLI save -o $work/docker.tar $ref" >"$work/save.txt"
hyperfine -N -r "$runs" ${HYPERFINE_FLAGS:-} --export-json "$work/load.json" \
	--prepare "sh -c 'BERTH_HOST=$bsock $root/bin/berth rmi -f $ref; BERTH_HOST=$bsock $root/bin/berth image prune -af' " \
	-n berth "env BERTH_HOST=$bsock $root/bin/berth load -q -i $work/berth.tar" \
	--prepare "sh -c 'DOCKER_HOST=$dsock DOCKER_CONFIG=$DOCKER_CONFIG $ENGINE_DOCKER_CLI rmi -f $ref; DOCKER_HOST=$dsock DOCKER_CONFIG=$DOCKER_CONFIG $ENGINE_DOCKER_CLI image prune -af' " \
	-n docker "env DOCKER_HOST=$dsock DOCKER_CONFIG=$DOCKER_CONFIG $ENGINE_DOCKER_CLI load -q -i $work/docker.tar" >"$work/load.txt"

dv=$(dk version --format '{{.Server.Version}}') cv=$("$ENGINE_DOCKER_CLI" version --format '{{.Client.Version}}' 2>/dev/null || true)
rv=$(docker-registry --version 2>/dev/null | awk '{print $NF}' || true)
python3 - "$work" "$runs" "$size_mb" "$layers" "$dv" "$cv" "$rv" >"$work/table.md" <<'PY'
import json, sys, statistics, platform, os, datetime
work, runs, size_mb, layers, dv, cv, rv = sys.argv[1], int(sys.argv[2]), *sys.argv[3:8]
def load(name):
    return {r["command"]: r for r in json.load(open(f"{work}/{name}.json"))["results"]}
def med(r): return statistics.median(r["times"])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu}), kernel {platform.release()} "
      f"(single figures vary between runs; compare the ratios of one run). "
      f"berth {os.popen('git rev-parse --short HEAD').read().strip()}; dockerd {dv} (Debian docker.io, overlay2); docker CLI {cv}; "
      f"registry: Debian docker-registry {rv} on 127.0.0.1. The image: busybox and two layers of random bytes, "
      f"{layers} layers, {size_mb} MB unpacked. All in one run of `make bench-dist`.\n")
def table(title, r, note):
    print(f"### {title}\n\n{note}\n")
    print("| command | median (s) | mean (s) | min (s) | max (s) |\n|---|---|---|---|---|")
    for n, x in r.items():
        print(f"| {n} | {med(x):.2f} | {x['mean']:.2f} | {x['min']:.2f} | {x['max']:.2f} |")
    print()
p = load("pull")
table("1. Cold pull", p, f"hyperfine, {runs} runs each; before each, the image is removed and `image prune -af` empties the engine, so every layer is downloaded and unpacked.")
ratio = med(p["berth"]) / med(p["docker"])
print(f"berth / docker: {ratio:.2f}x (target <= 0.5x: {'met' if ratio <= 0.5 else 'not met'}); docker CLI against berthd / docker: {med(p['docker CLI -> berthd']) / med(p['docker']):.2f}x; berth / skopeo copy (download only, no unpacking): {med(p['berth']) / med(p['skopeo copy']):.2f}x.\n")
q = load("push")
table("2. Push", q, f"hyperfine, {runs} runs each; before each, the registry's storage is emptied, so every layer is uploaded.")
print(f"berth / docker: {med(q['berth']) / med(q['docker']):.2f}x.\n")
sv, ld = load("save"), load("load")
table("3. Save", sv, f"hyperfine, {runs} runs each: the image to a tar file.")
r3 = med(sv["berth"]) / med(sv["docker"])
print(f"berth / docker: {r3:.2f}x (target <= 1x: {'met' if r3 <= 1 else 'not met'}).\n")
table("4. Load", ld, f"hyperfine, {runs} runs each: that tar into an engine from which the image and its layers were removed.")
r4 = med(ld["berth"]) / med(ld["docker"])
print(f"berth / docker: {r4:.2f}x (target <= 1x: {'met' if r4 <= 1 else 'not met'}).")
PY
cat "$work/table.md"

[ "$write_doc" = 1 ] || exit 0
engines_write_doc bench-dist "Registries: pull and push, berth against dockerd (make bench-dist)" "$work/table.md"
