#!/usr/bin/env bash
# `make bench-build`: `build` with berth against a real dockerd (Debian's docker.io) in one run
# (issue 7), written into docs/benchmarks.md between the build markers. The Dockerfile is small:
# FROM busybox, RUN, ENV, COPY of 10 files, CMD. Three cases, hyperfine, medians:
#   1. first build: every step runs (--no-cache, so each repetition starts cold)
#   2. fully cached rebuild of the same context
#   3. rebuild after one copied file changed: the COPY and the steps after it run again
# Builders: berth (bin/berth build), the docker CLI's legacy builder against berthd, and against
# dockerd its legacy builder and BuildKit when the CLI here can drive it (it needs the buildx
# plugin; without it the row says so).
# Both daemons are private to this run (own sockets, roots, pid files, bridges) and everything is
# removed at the end (by pid and by path, never by name).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
runs=${RUNS:-10}
write_doc=${WRITE_DOC:-1}

# shellcheck source=hack/lib-engines.sh
. hack/lib-engines.sh
engines_install_docker docker.io

engines_begin bench-build

engines_start_both
export DOCKER_CLI_HINTS=false

contrib/mkrootfs-busybox.sh "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
rm -rf "$work/rootfs"
DOCKER_HOST=$dsock "$ENGINE_DOCKER_CLI" import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
DOCKER_HOST=$bsock "$ENGINE_DOCKER_CLI" import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null

ctx=$work/ctx
mkdir -p "$ctx/files"
for i in $(seq 1 10); do head -c 4096 /dev/urandom | base64 >"$ctx/files/f$i.txt"; done
cat >"$ctx/Dockerfile" <<'DF'
FROM busybox
RUN echo built >/built
ENV GREETING=hello
COPY files/ /files/
CMD ["cat", "/built"]
DF

# The builders: name and command (the context and tag are appended).
names=(berth "docker CLI -> berthd" "docker legacy")
cmds=("env BERTH_HOST=$bsock $root/bin/berth build -q"
	"env DOCKER_HOST=$bsock DOCKER_BUILDKIT=0 $ENGINE_DOCKER_CLI build -q"
	"env DOCKER_HOST=$dsock DOCKER_BUILDKIT=0 $ENGINE_DOCKER_CLI build -q")
buildkit_note=""
if DOCKER_HOST=$dsock DOCKER_BUILDKIT=1 timeout 120 "$ENGINE_DOCKER_CLI" build -q -t bench:probe "$ctx" >"$work/bk.out" 2>&1; then
	names+=("docker BuildKit")
	cmds+=("env DOCKER_HOST=$dsock DOCKER_BUILDKIT=1 $ENGINE_DOCKER_CLI build -q")
else
	buildkit_note="BuildKit: not measured, the docker CLI here cannot drive it ($(head -1 "$work/bk.out" | cut -c1-160))."
fi

bench() { # CASE EXTRA-FLAGS PREPARE
	local case=$1 flags=$2 prepare=$3 args=() i
	for i in "${!names[@]}"; do
		args+=(-n "${names[$i]}" "${cmds[$i]} $flags -t bench:$i $ctx")
	done
	# One warm-up each: the first build of each builder fills its cache.
	hyperfine -N -w 1 -r "$runs" ${HYPERFINE_FLAGS:-} --prepare "$prepare" --export-json "$work/$case.json" "${args[@]}" >"$work/$case.txt"
}
echo "bench-build: 1. first build (--no-cache), $runs runs each" >&2
bench first --no-cache true
echo "bench-build: 2. fully cached rebuild, $runs runs each" >&2
bench cached "" true
echo "bench-build: 3. rebuild after changing one copied file, $runs runs each" >&2
# A new content for f5 before every run: the COPY step and those after it miss the cache.
echo 'head -c 4096 /dev/urandom | base64 >"$1/files/f5.txt"' >"$work/touch.sh"
bench touched "" "bash $work/touch.sh $ctx"

dv=$(DOCKER_HOST=$dsock "$ENGINE_DOCKER_CLI" version --format '{{.Server.Version}}') cv=$("$ENGINE_DOCKER_CLI" version --format '{{.Client.Version}}' 2>/dev/null || true)
python3 - "$work" "$runs" "$dv" "$cv" "$buildkit_note" >"$work/table.md" <<'PY'
import json, sys, statistics, platform, os, datetime
work, runs, dv, cv, note = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
def load(name):
    return {r["command"]: r for r in json.load(open(f"{work}/{name}.json"))["results"]}
def med(r): return statistics.median(r["times"]) * 1000
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu}), kernel {platform.release()}, a machine shared with "
      f"other engineers' builds and tests (figures are noisy). berth {os.popen('git rev-parse --short HEAD').read().strip()}; "
      f"dockerd {dv} (Debian docker.io, overlay2); docker CLI {cv}. All in one run of `make bench-build`.\n")
print("The Dockerfile: `FROM busybox`, `RUN echo built >/built`, `ENV GREETING=hello`, `COPY files/ /files/` (10 files of 5.4 kB), "
      f"`CMD [\"cat\", \"/built\"]`; `build -q`, hyperfine, {runs} runs each after one warm-up, the client included.\n")
cases = (("first", "1. First build (`--no-cache`: every step runs)"), ("cached", "2. Fully cached rebuild"),
         ("touched", "3. Rebuild after one copied file changed (COPY and the steps after it run)"))
best_cached = None
for name, title in cases:
    r = load(name)
    print(f"### {title}\n\n| builder | median (ms) | mean (ms) | min (ms) | max (ms) |\n|---|---|---|---|---|")
    for n, x in r.items():
        print(f"| {n} | {med(x):.1f} | {x['mean']*1000:.1f} | {x['min']*1000:.1f} | {x['max']*1000:.1f} |")
    docker_best = min(med(x) for n, x in r.items() if n.startswith("docker ") and "berthd" not in n)
    ratio = med(r["berth"]) / docker_best
    if name == "cached":
        print(f"\nberth / docker's best: {ratio:.2f}x (target <= 0.5x: {'met' if ratio <= 0.5 else 'not met'}).\n")
    else:
        print(f"\nberth / docker's best: {ratio:.2f}x.\n")
if note:
    print(note + "\n")
PY
cat "$work/table.md"

[ "$write_doc" = 1 ] || exit 0
engines_write_doc bench-build "Build: berth against dockerd's builders (make bench-build)" "$work/table.md"
