#!/usr/bin/env bash
# `make bench-files`: berthd against a real dockerd (Debian's docker.io) for moving files in and out
# of containers (issue 4), in one run, written into docs/benchmarks.md between the files markers:
#   1. `cp` of a TREE_MB (default 200, as issue 4 asks) MB tree (files of 512 KiB of random data in 10 directories) from the
#      host into a created container
#   2. `cp` of that tree out of the (stopped) container to the host
#   3. `commit` of a container whose layer holds LAYER_MB (default 200) MB (files of 1 MiB of random data)
#   4. `export` of that container to a file
# Every command goes through the official docker CLI, against either daemon; (1) and (2) also
# through the berth CLI, which does the host side of cp itself. hyperfine, RUNS (default 5) runs
# each after one warm-up; what a run leaves (the copy, the image) is removed before the next.
# Both daemons are private to this run (own sockets, roots, pid files, bridges) and everything is
# removed at the end, by pid and by path, never by name.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
runs=${RUNS:-5}
tree_mb=${TREE_MB:-200}
layer_mb=${LAYER_MB:-200}
write_doc=${WRITE_DOC:-1}

# shellcheck source=hack/lib-engines.sh
. hack/lib-engines.sh
engines_install_docker docker.io

engines_begin bench-files

engines_start_both
dk() { DOCKER_HOST=$dsock "$ENGINE_DOCKER_CLI" "$@"; }
bt() { DOCKER_HOST=$bsock "$ENGINE_DOCKER_CLI" "$@"; }

contrib/mkrootfs-busybox.sh "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
rm -rf "$work/rootfs"
dk import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
bt import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null

tree=$work/tree
for d in $(seq 10); do
	mkdir -p "$tree/d$d"
	for f in $(seq $((tree_mb / 5))); do head -c 524288 /dev/urandom >"$tree/d$d/f$f"; done
done
mkdir -p "$work/out"

# The containers: "into" receives the tree (made again before every run), "full" holds it,
# "layer" has LAYER_MB MB in its layer.
for e in dk bt; do
	$e create --name full busybox >/dev/null
	$e cp "$tree" full:/tree
	$e run --name layer busybox sh -c "for i in \$(seq $layer_mb); do head -c 1048576 /dev/urandom > /f\$i; done"
done

# hyperfine's named commands: NAME COMMAND PREPARE, for the engines and clients of one operation.
bench() { # NAME ARGS...
	local result=$1
	shift
	hyperfine -N -w 1 -r "$runs" ${HYPERFINE_FLAGS:-} --export-json "$work/$result.json" "$@" >"$work/$result.txt"
}
dcli="env DOCKER_HOST=$dsock $ENGINE_DOCKER_CLI" bcli="env DOCKER_HOST=$bsock $ENGINE_DOCKER_CLI"
berth="env BERTH_HOST=$bsock $root/bin/berth"
recreate() { echo "sh -c '$1 rm -f into >/dev/null 2>&1; $1 create --name into busybox >/dev/null'"; }

echo "bench-files: 1. cp of a $tree_mb MB tree into a container ($runs runs each)" >&2
bench cp-in \
	--prepare "$(recreate "$berth")" -n berth "$berth cp $tree into:/tree" \
	--prepare "$(recreate "$bcli")" -n 'docker CLI -> berthd' "$bcli cp $tree into:/tree" \
	--prepare "$(recreate "$dcli")" -n docker "$dcli cp $tree into:/tree"

echo "bench-files: 2. cp of the tree out of a container" >&2
bench cp-out --prepare "rm -rf $work/out/tree" \
	-n berth "$berth cp full:/tree $work/out/tree" \
	-n 'docker CLI -> berthd' "$bcli cp full:/tree $work/out/tree" \
	-n docker "$dcli cp full:/tree $work/out/tree"

echo "bench-files: 3. commit of a container with a $layer_mb MB layer" >&2
bench commit \
	--prepare "sh -c '$bcli rmi -f bench/layer >/dev/null 2>&1 || true'" -n 'docker CLI -> berthd' "$bcli commit layer bench/layer" \
	--prepare "sh -c '$dcli rmi -f bench/layer >/dev/null 2>&1 || true'" -n docker "$dcli commit layer bench/layer"

echo "bench-files: 4. export of that container" >&2
bench export --prepare "rm -f $work/out/export.tar" \
	-n 'docker CLI -> berthd' "$bcli export -o $work/out/export.tar layer" \
	-n docker "$dcli export -o $work/out/export.tar layer"
rm -rf "$work/out" "$tree"

dv=$(dk version --format '{{.Server.Version}}') cv=$("$ENGINE_DOCKER_CLI" version --format '{{.Client.Version}}' 2>/dev/null || true)
python3 - "$work" "$runs" "$dv" "$cv" "$tree_mb" "$layer_mb" >"$work/table.md" <<'PY'
import json, sys, statistics, platform, os, datetime
work, runs, dv, cv, tree_mb, layer_mb = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
def load(name):
    return {r["command"]: r for r in json.load(open(f"{work}/{name}.json"))["results"]}
def med(r): return statistics.median(r["times"]) * 1000
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu}), kernel {platform.release()}, figures vary "
      f"between runs: compare the ratios of one run. berth "
      f"{os.popen('git rev-parse --short HEAD').read().strip()}; dockerd {dv} (Debian docker.io, overlay2); docker CLI {cv}. "
      f"hyperfine, {runs} runs each after one warm-up. All in one run of `make bench-files`.\n")
print("| operation | command | median (ms) | mean (ms) | min (ms) | max (ms) |\n|---|---|---|---|---|---|")
ops = [("cp-in", f"`cp` of a {tree_mb} MB tree into a created container"), ("cp-out", "`cp` of that tree out of it"),
       ("commit", f"`commit` of a container with a {layer_mb} MB layer"), ("export", "`export` of that container")]
ratios = []
for name, title in ops:
    r = load(name)
    for n, x in r.items():
        print(f"| {title} | {n} | {med(x):.0f} | {x['mean']*1000:.0f} | {x['min']*1000:.0f} | {x['max']*1000:.0f} |")
    ratio = med(r["docker CLI -> berthd"]) / med(r["docker"])
    ratios.append(f"{name} {ratio:.2f}x ({'met' if ratio <= 1 else 'not met'})")
print("\ndocker CLI against berthd / against dockerd, target <= 1x (issue 4): " + "; ".join(ratios) + ".")
PY
cat "$work/table.md"

[ "$write_doc" = 1 ] || exit 0
engines_write_doc bench-files "Files: cp, commit and export against dockerd (make bench-files)" "$work/table.md"
