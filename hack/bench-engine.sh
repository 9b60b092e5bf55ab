#!/usr/bin/env bash
# `make bench-engine`: berth against a real dockerd (Debian's docker.io), podman and crun on the
# same machine in one run (issue 3), written into docs/benchmarks.md between the engine markers:
#   1. `run --rm busybox true`: berth, docker (dockerd), podman, `crun run` of a bundle
#      (hyperfine, RUNS >= 20 each, medians)
#   2. starting 50 detached containers (`run -d busybox sleep 600` x50, one after the other)
#   3. memory added per idle running container: PSS and RSS of the engine's processes with 20
#      idle containers minus with none, over 20
#   4. `ps -a` with 1000 created containers
# Both daemons are private to this run (own sockets, roots, pid files, bridges of their own), podman and crun
# get their own roots, and everything is removed at the end (by pid and by path, never by name).
# crun 1.8 (podman's runtime too) refuses this hybrid-cgroup host unless /sys/fs/cgroup/unified is
# hidden, so every client command is timed in one private mount namespace without it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
runs=${RUNS:-20}          # hyperfine runs of (1) and (4)
n_start=${N_START:-50}    # (2)
n_idle=${N_IDLE:-20}      # (3)
n_ps=${N_PS:-1000}        # (4)
start_reps=${START_REPS:-3}
write_doc=${WRITE_DOC:-1}

# shellcheck source=hack/lib-engines.sh
. hack/lib-engines.sh
command -v crun >/dev/null || { echo "bench-engine: crun missing (make deps)" >&2; exit 1; }
engines_install_docker docker.io podman

# podman writes a blob cache and a networks directory under these system paths whatever its
# --root says: remove them at the end if this run made them.
podman_sys_dirs=()
for d in /var/lib/containers /run/containers; do [ -e "$d" ] || podman_sys_dirs+=("$d"); done

engines_begin bench-engine
bench_cleanup() {
	for d in "${podman_sys_dirs[@]}"; do rm -rf --one-file-system "$d"; done
}

engines_start_both

contrib/mkrootfs-busybox.sh "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
dk import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
bt import -c 'CMD ["sh"]' - busybox:latest <"$work/busybox.tar" >/dev/null

# crun's bundle, as bench-runtime makes it: ociVersion 1.0.2 (crun 1.8), no terminal, `true`.
bundle=$work/bundle
mkdir -p "$bundle"
mv "$work/rootfs" "$bundle/rootfs"
bin/berth-runtime spec --bundle "$bundle"
sed -i 's/"ociVersion": "[^"]*"/"ociVersion": "1.0.2"/; s/"terminal": true/"terminal": false/; s/"sh"$/"true"/' "$bundle/config.json"

# crun also runs the container berth runs: the config berth-runtime gets for `run busybox`
# (Docker's default seccomp profile, capabilities, masked and read-only paths, /dev/shm and the
# /etc files), in a namespace of its own with no interfaces, running `true`.
same_bundle=$work/bundle-berth
mkdir -p "$same_bundle"
cid=$(bt run -d busybox sleep 600)
python3 - "$work/berth/exec/$cid/bundle/config.json" "$same_bundle" "$bundle/rootfs" <<'PY'
import json, os, shutil, sys
src, dst, rootfs = sys.argv[1:4]
s = json.load(open(src))
s["ociVersion"] = "1.0.2"  # crun 1.8
s["root"] = {"path": rootfs}
s["process"]["args"], s["process"]["terminal"] = ["true"], False
s["linux"]["namespaces"] = [n for n in s["linux"]["namespaces"] if n["type"] != "network"] + [{"type": "network"}]
s["linux"].pop("cgroupsPath", None)  # crun's default, as for the minimal spec
for m in s["mounts"]:  # the /etc files live in berth's container directory: copied
    if m.get("type") == "bind" and m["destination"].startswith("/etc/"):
        copy = os.path.join(dst, os.path.basename(m["destination"]))
        shutil.copyfile(m["source"], copy)
        m["source"] = copy
json.dump(s, open(os.path.join(dst, "config.json"), "w"))
PY
bt rm -f "$cid" >/dev/null

# podman: its own root, run root and tmp dir; cgroupfs (no systemd here); no network, as the two
# daemons' containers get no published ports); rlimits podman can set without
# CAP_SYS_RESOURCE (it would raise nofile and nproc to the maximum, which this host refuses).
podman="podman --root $work/podman/root --runroot $work/podman/run --tmpdir $work/podman/tmp --cgroup-manager cgroupfs --events-backend file --storage-driver overlay"
podman_run="$podman run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 busybox true"

echo "bench-engine: 1. run --rm busybox true ($runs runs each)" >&2
cat >"$work/run.sh" <<INNER
set -e
umount /sys/fs/cgroup/unified 2>/dev/null || true
$podman import -c 'CMD ["sh"]' $work/busybox.tar busybox:latest >/dev/null
# The imports' data is written back now, not while the first engine is timed (every engine's
# start syncs something: a record, a layer database).
sync
cd $bundle
export DOCKER_CONFIG=$DOCKER_CONFIG
hyperfine -N -w 3 -r $runs ${HYPERFINE_FLAGS:-} --export-json $work/run.json \\
	-n berth "env BERTH_HOST=$bsock $root/bin/berth run --rm busybox true" \\
	-n 'docker CLI -> berthd' "env DOCKER_HOST=$bsock $ENGINE_DOCKER_CLI run --rm busybox true" \\
	-n docker "env DOCKER_HOST=$dsock $ENGINE_DOCKER_CLI run --rm busybox true" \\
	-n podman "$podman_run" \\
	-n crun "crun --root $work/crun-root run c" \\
	-n "crun, berth's config" "crun --root $work/crun-root run --bundle $same_bundle c2" >$work/run.txt
INNER
unshare --mount --propagation private bash "$work/run.sh"

echo "bench-engine: 2. $n_start x run -d busybox sleep 600 ($start_reps times each)" >&2
cat >"$work/start50.sh" <<'S'
# start50.sh CLI...: starts N detached sleep containers one after the other (each repetition
# after the previous one's containers are removed and 2 s of quiet, so that neither engine's
# clean-up in the background is timed as the other's starts); a failed start
# fails the measurement instead of making it shorter
set -e
n=$1; shift
for i in $(seq 1 "$n"); do "$@" run -d busybox sleep 600 >/dev/null; done
S
rm_all() { # rm_all dk|bt
	local ids
	ids=$("$1" ps -aq)
	# dockerd 20.10 can lose a container's exit event when many are killed at once, and its
	# rm -f then waits forever: fail the benchmark, saying so, rather than hang.
	# shellcheck disable=SC2086
	[ -z "$ids" ] || timeout -k 5 180 bash -c '"$0" rm -f "$@"' "$1" $ids >/dev/null || {
		echo "bench-engine: $1 rm -f of $(wc -w <<<"$ids") containers failed or took over 180 s; run the benchmark again" >&2
		return 1
	}
	# Every repetition starts from none: one that did not would time starts among the last one's.
	ids=$("$1" ps -aq) || return 1
	[ -z "$ids" ] || {
		echo "bench-engine: $1 still has $(wc -w <<<"$ids") containers after rm -f" >&2
		return 1
	}
}
export -f rm_all dk bt
export dsock bsock root engines_repo ENGINE_DOCKER_CLI
sync
hyperfine -N -r "$start_reps" ${HYPERFINE_FLAGS:-} --export-json "$work/start.json" \
	--prepare "bash -c 'rm_all bt && sleep 2'" -n berth "bash $work/start50.sh $n_start env BERTH_HOST=$bsock $root/bin/berth" \
	--prepare "bash -c 'rm_all dk && sleep 2'" -n docker "bash $work/start50.sh $n_start env DOCKER_HOST=$dsock $ENGINE_DOCKER_CLI" >"$work/start.txt"
rm_seconds() { # time to remove the containers left by the last repetition
	local t0 t1
	t0=$(date +%s.%N)
	rm_all "$1"
	t1=$(date +%s.%N)
	python3 -c "print(f'{$t1 - $t0:.2f}')"
}
rm_berth=$(rm_seconds bt)
rm_docker=$(rm_seconds dk)

echo "bench-engine: 3. memory per idle container ($n_idle containers)" >&2
# The engine's processes, found by pid: the daemon (pid file) and its process tree, plus each
# container's parent (its shim: containerd-shim-runc-v2 is reparented away from containerd) and
# that shim's tree, minus every container's own process tree.
engine_pids() { # engine_pids dk|bt PIDFILE
	local cli=$1 pidfile=$2 ids cpids shims=() p
	ids=$("$cli" ps -q)
	# shellcheck disable=SC2086
	cpids=$([ -z "$ids" ] || dk_at "$cli" inspect -f '{{.State.Pid}}' $ids)
	for p in $cpids; do shims+=("$(awk '{print $4}' "/proc/$p/stat")"); done
	local all excluded
	all=$(engines_descendants "$(tr -d ' \n' <"$pidfile")" "${shims[@]}" | tr ' ' '\n' | sort -u)
	# shellcheck disable=SC2086
	excluded=$([ -z "$cpids" ] || engines_descendants $cpids | tr ' ' '\n' | sort -u)
	comm -23 <(echo "$all") <(echo "$excluded") | grep -v '^$'
}
# dk_at dk|bt ARGS: the official CLI against that engine (for what is not timed)
dk_at() {
	local cli=$1
	shift
	if [ "$cli" = bt ]; then DOCKER_HOST=$bsock "$ENGINE_DOCKER_CLI" "$@"; else dk "$@"; fi
}
mem_kb() { # mem_kb Pss|Rss PID...: summed from smaps_rollup
	local what=$1 sum=0 p v
	shift
	for p in "$@"; do
		v=$(awk -v k="$what:" '$1 == k { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
names_of() { local p; for p in "$@"; do cat "/proc/$p/comm" 2>/dev/null; done | sort | uniq -c | awk '{printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1}'; }
measure_idle() { # measure_idle dk|bt PIDFILE -> "pss0 rss0 pss1 rss1 names"
	local cli=$1 pidfile=$2 pids
	rm_all "$cli"
	sleep 3
	# shellcheck disable=SC2207
	pids=($(engine_pids "$cli" "$pidfile"))
	local p0 r0
	p0=$(mem_kb Pss "${pids[@]}") r0=$(mem_kb Rss "${pids[@]}")
	for _ in $(seq 1 "$n_idle"); do "$cli" run -d busybox sleep 600 >/dev/null; done
	sleep 5
	local running
	running=$("$cli" ps -q | wc -l)
	[ "$running" -eq "$n_idle" ] || { echo "bench-engine: $running containers run, not $n_idle" >&2; exit 1; }
	# shellcheck disable=SC2207
	pids=($(engine_pids "$cli" "$pidfile"))
	echo "$p0 $r0 $(mem_kb Pss "${pids[@]}") $(mem_kb Rss "${pids[@]}") $(names_of "${pids[@]}")"
	rm_all "$cli"
}
mem_berth=$(measure_idle bt "$work/berth/engine.pid")
mem_docker=$(measure_idle dk "$work/docker/engine.pid")

echo "bench-engine: 4. ps -a with $n_ps created containers" >&2
# Named, so both engines list the same names.
create_many() { # create_many SOCKPATH N: through the API, two at a time
	seq 1 "$2" | xargs -P 2 -I{} curl -sf --unix-socket "$1" -o /dev/null -X POST \
		-H 'Content-Type: application/json' -d '{"Image":"busybox","Cmd":["true"]}' "http://localhost/containers/create?name=ps-{}"
}
create_many "$work/berth/engine.sock" "$n_ps"
create_many "$work/docker/engine.sock" "$n_ps"
echo "bench-engine: $(bt ps -aq | wc -l) and $(dk ps -aq | wc -l) containers" >&2
sync
hyperfine -N -w 2 -r "$runs" ${HYPERFINE_FLAGS:-} --export-json "$work/ps.json" \
	-n berth "env BERTH_HOST=$bsock $root/bin/berth ps -a" \
	-n 'docker CLI -> berthd' "env DOCKER_HOST=$bsock $ENGINE_DOCKER_CLI ps -a" \
	-n docker "env DOCKER_HOST=$dsock $ENGINE_DOCKER_CLI ps -a" >"$work/ps.txt"
rm_all bt
rm_all dk

dv=$(dk version --format '{{.Server.Version}}') cv=$("$ENGINE_DOCKER_CLI" version --format '{{.Client.Version}}' 2>/dev/null || true)
pv=$(podman --version | awk '{print $3}') crv=$(crun --version | awk 'NR == 1 {print $3}')
python3 - "$work" "$runs" "$n_start" "$start_reps" "$n_idle" "$n_ps" "$rm_berth" "$rm_docker" "$dv" "$cv" "$pv" "$crv" \
	"$mem_berth" "$mem_docker" >"$work/table.md" <<'PY'
import json, sys, statistics, platform, os, datetime
work, runs, n_start, start_reps, n_idle, n_ps = sys.argv[1], *map(int, sys.argv[2:7])
rm_berth, rm_docker, dv, cv, pv, crv, mem_berth, mem_docker = sys.argv[7:15]
def load(name):
    res = json.load(open(f"{work}/{name}.json"))["results"]
    return {r["command"]: r for r in res}
def med(r): return statistics.median(r["times"]) * 1000
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
print(f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu}), {mem} GiB, kernel {platform.release()}, cgroup v1 (hybrid host), "
      f"a machine shared with other work. berth {os.popen('git rev-parse --short HEAD').read().strip()}; dockerd {dv} (Debian docker.io, runc, "
      f"overlay2, its own bridge, no iptables); podman {pv} (crun, overlay, --network none); crun {crv}; docker CLI {cv}. All in one run of `make bench-engine`.\n")
def verdict(ratio, target): return f"{ratio:.2f}x (target <= {target}x: {'met' if ratio <= target else 'not met'})"

r = load("run")
print(f"### 1. `run --rm busybox true`\n\nhyperfine, {runs} runs each after 3 warm-ups; the client is part of the time (it is what a user waits for).\n")
print("| command | median (ms) | mean (ms) | min (ms) | max (ms) |\n|---|---|---|---|---|")
for n, x in r.items():
    print(f"| {n} | {med(x):.1f} | {x['mean']*1000:.1f} | {x['min']*1000:.1f} | {x['max']*1000:.1f} |")
b, d, c, p = med(r["berth"]), med(r["docker"]), med(r["crun"]), med(r["podman"])
cs = med(r["crun, berth's config"])
print(f"\n`crun` runs the minimal spec of `berth-runtime spec` (no seccomp filter); `crun, berth's config` runs the container berth runs (the config berth-runtime gets, with Docker's default seccomp profile, which crun compiles at every run), in an empty network namespace.\n")
print(f"berth / docker: {verdict(b/d, 0.1)}; berth / crun running the same container: {verdict(b/cs, 2)}; "
      f"berth / crun with the minimal spec: {b/c:.2f}x; berth / podman: {b/p:.2f}x; "
      f"docker CLI against berthd / docker: {med(r['docker CLI -> berthd'])/d:.2f}x.\n")

s = load("start")
print(f"### 2. Starting {n_start} detached containers\n\n`run -d busybox sleep 600` {n_start} times in a row from a shell loop, timed {start_reps} times (hyperfine; every repetition starts with no container).\n")
print("| engine | median (s) | per container (ms) | then removing them all (`rm -f`, s) |\n|---|---|---|---|")
for n, rm in (("berth", rm_berth), ("docker", rm_docker)):
    print(f"| {n} | {med(s[n])/1000:.2f} | {med(s[n])/n_start:.0f} | {rm} |")
print(f"\nberth / docker: {verdict(med(s['berth'])/med(s['docker']), 0.1)}.\n")

def parse(m):
    f = m.split(" ", 4)
    return [int(x) for x in f[:4]] + [f[4] if len(f) > 4 else ""]
mb, md = parse(mem_berth), parse(mem_docker)
print(f"### 3. Memory per idle container\n\nPSS and RSS (`/proc/<pid>/smaps_rollup`) summed over the engine's processes with {n_idle} idle `sleep` containers, minus with none, over {n_idle}; 3 s after the last removal and 5 s after the last start. Processes are found by pid: the daemon's pid file and its process tree, and each container's parent (its shim) with its tree; the containers' own processes are left out. PSS shares the pages of a binary that many shims map between them; RSS counts them in each.\n")
print("| engine | processes with the containers | PSS with none (MiB) | PSS added per container (KiB) | RSS added per container (KiB) |\n|---|---|---|---|---|")
for n, m in (("berth", mb), ("docker", md)):
    print(f"| {n} | {m[4]} | {m[0]/1024:.1f} | {(m[2]-m[0])/n_idle:.0f} | {(m[3]-m[1])/n_idle:.0f} |")
pb, pd = (mb[2]-mb[0])/n_idle, (md[2]-md[0])/n_idle
rb, rd = (mb[3]-mb[1])/n_idle, (md[3]-md[1])/n_idle
print(f"\nberth / docker, RSS (the issue's measure): {verdict(rb/rd, 0.25)}; PSS: {pb/pd:.2f}x.\n")

q = load("ps")
print(f"### 4. `ps -a` with {n_ps} created containers\n\nhyperfine, {runs} runs each after 2 warm-ups, output to /dev/null; the containers were created through the API.\n")
print("| command | median (ms) | mean (ms) | min (ms) |\n|---|---|---|---|")
for n, x in q.items():
    print(f"| {n} | {med(x):.1f} | {x['mean']*1000:.1f} | {x['min']*1000:.1f} |")
print(f"\nberth / docker: {verdict(med(q['berth'])/med(q['docker']), 0.2)}; docker CLI against berthd / docker: {med(q['docker CLI -> berthd'])/med(q['docker']):.2f}x.")
PY
cat "$work/table.md"

[ "$write_doc" = 1 ] || exit 0
engines_write_doc bench-engine "Engine: berth against dockerd, podman and crun (make bench-engine)" "$work/table.md"
