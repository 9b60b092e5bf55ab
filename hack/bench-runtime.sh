#!/usr/bin/env bash
# Benchmarks `<runtime> run` of `true` on a busybox bundle: berth-runtime, crun and runc side by
# side in one run (hyperfine, >= 30 runs each), plus the processes a runtime leaves resident per
# idle container. Writes the figures into docs/benchmarks.md between the runtime markers.
#
# crun 1.8 refuses this hybrid-cgroup host unless /sys/fs/cgroup/unified is hidden, so the whole
# measurement runs in one private mount namespace without it: every runtime sees the same host.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-40}
berth=$PWD/bin/berth-runtime
work=$(mktemp -d /tmp/berth-bench-runtime.XXXXXX)
trap 'rm -rf "$work"' EXIT
command -v hyperfine >/dev/null || { echo "bench-runtime: hyperfine missing (make deps)" >&2; exit 1; }

bundle=$work/bundle
mkdir -p "$bundle"
contrib/mkrootfs-busybox.sh "$bundle/rootfs"
"$berth" spec --bundle "$bundle"
# ociVersion 1.0.2: crun 1.8 rejects newer versions; no terminal; the process is `true`.
sed -i 's/"ociVersion": "[^"]*"/"ociVersion": "1.0.2"/; s/"terminal": true/"terminal": false/; s/"sh"$/"true"/' "$bundle/config.json"

cat > "$work/inner.sh" <<INNER
set -e
umount /sys/fs/cgroup/unified 2>/dev/null || true
cd "$bundle"
hyperfine -N -w 5 -r $runs --export-json "$work/run.json" \
	-n berth-runtime "$berth --root $work/berth-root run b" \
	-n crun "crun --root $work/crun-root run c" \
	-n runc "runc --root $work/runc-root run r" >"$work/hyperfine.txt"
INNER
unshare --mount --propagation private bash "$work/inner.sh"

# Resident runtime processes for an idle container: start one detached `sleep` container per
# runtime and count what remains of the runtime itself (the container's own process excluded).
resident() { # name binary
	local name=$1 bin=$2 before after
	before=$(pgrep -c -f "^$bin" || true)
	sed 's/"true"$/"sleep", "60"/' "$bundle/config.json" >"$work/idle.json"
	mkdir -p "$work/idle-$name" && cp "$work/idle.json" "$work/idle-$name/config.json"
	ln -sfn "$bundle/rootfs" "$work/idle-$name/rootfs"
	unshare --mount --propagation private bash -c "umount /sys/fs/cgroup/unified 2>/dev/null; $bin --root $work/$name-idle run -d --bundle $work/idle-$name idle </dev/null >/dev/null 2>&1"
	after=$(pgrep -c -f "^$bin" || true)
	echo $((after - before))
	unshare --mount --propagation private bash -c "umount /sys/fs/cgroup/unified 2>/dev/null; $bin --root $work/$name-idle delete -f idle" >/dev/null 2>&1 || true
}
res_berth=$(resident berth-runtime "$berth")
res_crun=$(resident crun "$(command -v crun)")
res_runc=$(resident runc "$(command -v runc)")

python3 - "$work/run.json" "$res_berth" "$res_crun" "$res_runc" >"$work/table.md" <<'PY'
import json, sys, statistics, platform, os, datetime
data = json.load(open(sys.argv[1]))["results"]
res = dict(zip(["berth-runtime", "crun", "runc"], sys.argv[2:5]))
med = {r["command"]: statistics.median(r["times"]) * 1000 for r in data}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu}), kernel {platform.release()}, cgroup v1 (hybrid host).")
print(f"`<runtime> run` of `true` on a busybox bundle, {len(data[0]['times'])} runs each after 5 warm-ups, in one hyperfine run.\n")
print("| runtime | median (ms) | mean (ms) | min (ms) | ratio to crun | resident runtime processes per idle container |")
print("|---|---|---|---|---|---|")
for r in data:
    n = r["command"]
    print(f"| {n} | {med[n]:.1f} | {r['mean']*1000:.1f} | {r['min']*1000:.1f} | {med[n]/med['crun']:.2f}x | {res[n]} |")
print(f"\nberth-runtime / runc median: {med['berth-runtime']/med['runc']:.2f}x (target <= 0.5x); berth-runtime / crun: {med['berth-runtime']/med['crun']:.2f}x (target <= 1.5x).")
PY
cat "$work/table.md"

doc=docs/benchmarks.md
mkdir -p docs
[ -f "$doc" ] || printf '# Benchmarks\n\nFigures are written by the bench targets (`make bench`); each section says how it was measured.\n' >"$doc"
python3 - "$doc" "$work/table.md" <<'PY'
import sys, re
doc, table = sys.argv[1], open(sys.argv[2]).read()
text = open(doc).read()
block = "<!-- bench-runtime:begin -->\n## Runtime: `run` of `true` (make bench-runtime)\n\n" + table + "<!-- bench-runtime:end -->\n"
if "<!-- bench-runtime:begin -->" in text:
    text = re.sub(r"<!-- bench-runtime:begin -->.*?<!-- bench-runtime:end -->\n", lambda m: block, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + block
open(doc, "w").write(text)
PY
echo "bench-runtime: wrote $doc"
