#!/usr/bin/env bash
# `make compat`: runs the official docker CLI against a real dockerd (Debian's docker.io) and
# against berthd, side by side, with the same busybox image in both, and compares what a user
# sees: the exit status, stdout (ids, digests, times and the engines' paths normalised), the first
# line of stderr. Scenarios are in hack/compat-scenarios.txt. Both daemons are private to this run
# (own sockets, data and exec roots, pid files, no bridge) and are removed at the end.
#
# Usage: hack/compat.sh [--strict] [--only REGEX] [--api VERSION] [--report FILE] [--doc]
#   --strict       exit 1 when any scenario differs (default: 0, differences are reported)
#   --only REGEX   run only the scenarios whose name matches REGEX (grep -E)
#   --api VERSION  pin the client's API version for both engines (DOCKER_API_VERSION); by default
#                  each side negotiates (dockerd 20.10 gives 1.41; berthd 1.50)
#   --report FILE  write every scenario's normalised results as markdown to FILE
#   --doc          update the generated block of docs/compatibility.md and write
#                  docs/compatibility-report.md
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

strict='' only='' api='' report='' doc=''
while (($#)); do
	case $1 in
	--strict) strict=1 ;;
	--only) only=$2; shift ;;
	--api) api=$2; shift ;;
	--report) report=$2; shift ;;
	--doc) doc=1 ;;
	-h | --help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "compat: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[ -z "$doc" ] || [ -n "$report" ] || report=docs/compatibility-report.md

# shellcheck source=hack/lib-engines.sh
. hack/lib-engines.sh
[ -x bin/berthd ] && [ -x bin/berth-shim ] && [ -x bin/berth-runtime ] || { echo "compat: run make build first" >&2; exit 1; }
[ -x "$ENGINE_DOCKER_CLI" ] || { echo "compat: the official docker CLI is expected at $ENGINE_DOCKER_CLI (DOCKER_CLI=...)" >&2; exit 1; }
command -v busybox >/dev/null || [ -x /bin/busybox ] || { echo "compat: busybox-static missing (make deps)" >&2; exit 1; }
engines_install_docker docker.io

work=$(mktemp -d /tmp/compat-XXXXXX)
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	echo "compat: cleaning up $work" >&2
	engines_cleanup "$work" || rc=1
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "compat: starting dockerd and berthd under $work" >&2
engines_start_dockerd "$work/docker"
engines_start_berthd "$work/berth" "$root/bin"
export DOCKER_CONFIG=$work/client-config DOCKER_CLI_HINTS=false
mkdir -p "$DOCKER_CONFIG" && echo "{}" >"$DOCKER_CONFIG/config.json"
[ -z "$api" ] || export DOCKER_API_VERSION=$api

# One busybox rootfs tar, imported into both engines as busybox:latest with CMD ["sh"].
contrib/mkrootfs-busybox.sh "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
rm -rf "$work/rootfs"
for e in docker berth; do
	DOCKER_HOST=unix://$work/$e/engine.sock "$ENGINE_DOCKER_CLI" import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
done
mkdir -p "$work/bind" && echo bind >"$work/bind/f"

# Split the scenario file: $work/sc/N.sh and an index "N|name|kind|description".
mkdir -p "$work/sc"
awk -v dir="$work/sc" '
	/^== / {
		n++; line = substr($0, 4); split(line, f, /[ ]*\|[ ]*/)
		printf "%d|%s|%s|%s\n", n, f[1], f[2], f[3] > (dir "/index")
		file = dir "/" n ".sh"; printf "" > file; next
	}
	/^#/ && !n { next }
	n { print >> file }
' hack/compat-scenarios.txt

cat >"$work/prelude.sh" <<'PRELUDE'
set -o pipefail
docker() { timeout -k 5 60 "$ENGINE_DOCKER_CLI" "$@"; }
q() { "$@" >/dev/null 2>&1; }
. "$1"
PRELUDE

norm() {
	sed -E \
		-e "s#$work/(docker|berth)#<engine>#g" -e "s#$work#<work>#g" \
		-e 's/sha256:[0-9a-f]{64}/sha256:<digest>/g' \
		-e 's/[0-9a-f]{64}/<id>/g' \
		-e 's/\b[0-9a-f]{12}\b/<id12>/g' \
		-e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?( ?(Z|[+-][0-9]{2}:?[0-9]{2}))?( [A-Z]{3,4})?/<time>/g' \
		-e 's/(Less than a second|About a minute|About an hour|[0-9]+ (seconds|minutes|hours|days)|1 (second|minute|hour|day)) ago/<ago>/g' \
		-e 's/Up (Less than a second|About a minute|[0-9]+ seconds?|[0-9]+ minutes?)/Up <dur>/g' \
		-e 's/ {2,}/  /g' -e 's/[[:space:]]+$//'
}

# reset ENGINE: no containers, only busybox:latest, no volumes.
reset() {
	local sock=unix://$work/$1/engine.sock ids refs vols
	ids=$(DOCKER_HOST=$sock timeout -k 5 60 "$ENGINE_DOCKER_CLI" ps -aq 2>/dev/null || true)
	# shellcheck disable=SC2086
	[ -z "$ids" ] || DOCKER_HOST=$sock timeout -k 5 120 "$ENGINE_DOCKER_CLI" rm -f $ids >/dev/null 2>&1 || true
	refs=$(DOCKER_HOST=$sock timeout -k 5 60 "$ENGINE_DOCKER_CLI" images --format '{{.Repository}}:{{.Tag}} {{.ID}}' 2>/dev/null |
		awk '$1 != "busybox:latest" { print ($1 == "<none>:<none>" ? $2 : $1) }' || true)
	# shellcheck disable=SC2086
	[ -z "$refs" ] || DOCKER_HOST=$sock timeout -k 5 60 "$ENGINE_DOCKER_CLI" rmi -f $refs >/dev/null 2>&1 || true
	vols=$(DOCKER_HOST=$sock timeout -k 5 30 "$ENGINE_DOCKER_CLI" volume ls -q 2>/dev/null || true)
	# shellcheck disable=SC2086
	[ -z "$vols" ] || DOCKER_HOST=$sock timeout -k 5 60 "$ENGINE_DOCKER_CLI" volume rm -f $vols >/dev/null 2>&1 || true
	DOCKER_HOST=$sock timeout -k 5 30 "$ENGINE_DOCKER_CLI" network prune -f >/dev/null 2>&1 || true
	# A scenario that removed busybox:latest (an engine that should have refused) must not spoil
	# the following ones: import it again, the same way.
	if ! DOCKER_HOST=$sock timeout -k 5 30 "$ENGINE_DOCKER_CLI" image inspect busybox:latest >/dev/null 2>&1; then
		echo "compat: busybox:latest disappeared from $1; imported again" >&2
		DOCKER_HOST=$sock timeout -k 5 60 "$ENGINE_DOCKER_CLI" import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
	fi
}

run_one() { # ENGINE N -> $work/out/N.ENGINE.{out,err,rc}
	local e=$1 n=$2 o=$work/out/$2.$1 rc=0
	mkdir -p "$work/out" "$work/cwd-$e" "$work/scratch-$e"
	rm -rf "${work:?}/scratch-$e/"*
	(cd "$work/cwd-$e" && DOCKER_HOST=unix://$work/$e/engine.sock TAR=$work/busybox.tar BIND=$work/bind \
		SCRATCH=$work/scratch-$e ENGINE_DOCKER_CLI=$ENGINE_DOCKER_CLI timeout -k 5 300 bash "$work/prelude.sh" "$work/sc/$n.sh" \
		</dev/null >"$o.rawout" 2>"$o.rawerr") || rc=$?
	echo "$rc" >"$o.rc"
	norm <"$o.rawout" >"$o.out"
	norm <"$o.rawerr" | sed -n '1p' >"$o.err"
	reset "$e"
}

show() { # label file: prints the file indented, or (empty)
	if [ -s "$2" ]; then sed "s/^/      /" "$2"; else echo "      (empty)"; fi
}

declare -a same_core=() diff_core=() same_missing=() diff_missing=() skipped=()
start=$(date +%s)
while IFS='|' read -r n name kind desc; do
	if [ -n "$only" ] && ! grep -qE -- "$only" <<<"$name"; then continue; fi
	if [ "$kind" = skip ]; then
		skipped+=("$name")
		continue
	fi
	printf 'compat: %-28s' "$name" >&2
	run_one docker "$n"
	run_one berth "$n"
	d=$work/out/$n.docker b=$work/out/$n.berth
	if cmp -s "$d.rc" "$b.rc" && cmp -s "$d.out" "$b.out" && cmp -s "$d.err" "$b.err"; then
		echo " same" >&2
		[ "$kind" = core ] && same_core+=("$name") || same_missing+=("$name")
		echo same >"$work/out/$n.result"
		continue
	fi
	echo " DIFFERS" >&2
	[ "$kind" = core ] && diff_core+=("$name") || diff_missing+=("$name")
	echo differs >"$work/out/$n.result"
	{
		echo
		echo "=== $name ($kind): $desc"
		sed -e '/^$/d' -e 's/^/    | /' "$work/sc/$n.sh"
		echo "  exit status: docker $(cat "$d.rc"), berth $(cat "$b.rc")"
		if ! cmp -s "$d.err" "$b.err"; then
			echo "  stderr (first line):"
			echo "    docker: $(cat "$d.err")"
			echo "    berth:  $(cat "$b.err")"
		fi
		if ! cmp -s "$d.out" "$b.out"; then
			if [ "$(wc -l <"$d.out")" -le 1 ] && [ "$(wc -l <"$b.out")" -le 1 ]; then
				echo "  stdout:"
				echo "    docker: $(cat "$d.out")"
				echo "    berth:  $(cat "$b.out")"
			else
				echo "  stdout (diff -u docker berth):"
				diff -u --label docker --label berth "$d.out" "$b.out" | sed 's/^/    /' || true
			fi
		fi
	} | tee -a "$work/differences.txt"
done <"$work/sc/index"

# Interchange (issue 5): images move between the two engines through a registry (Debian's
# docker-registry on 127.0.0.1) and through save/load, both ways, and run on the other side.
interchange=()
if { [ -z "$only" ] || [[ interchange =~ $only ]]; } && command -v docker-registry >/dev/null; then
	reg=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p "$work/registry"
	printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' "$work/registry/storage" "$reg" >"$work/registry/config.yml"
	docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
	reg_pid=$!
	for _ in $(seq 1 100); do curl -sf "http://$reg/v2/" >/dev/null && break; sleep 0.1; done
	dk() { DOCKER_HOST=unix://$work/docker/engine.sock timeout -k 5 120 "$ENGINE_DOCKER_CLI" "$@"; }
	bk() { DOCKER_HOST=unix://$work/berth/engine.sock timeout -k 5 120 "$ENGINE_DOCKER_CLI" "$@"; }
	runs_ok() { [ "$("$1" run --rm "$2" echo ok)" = ok ]; }
	docker_to_berth() { dk tag busybox:latest "$reg/cross/docker:1" && dk push -q "$reg/cross/docker:1" && bk pull -q "$reg/cross/docker:1" && runs_ok bk "$reg/cross/docker:1"; }
	berth_to_docker() { bk tag busybox:latest "$reg/cross/berth:1" && bk push -q "$reg/cross/berth:1" && dk pull -q "$reg/cross/berth:1" && runs_ok dk "$reg/cross/berth:1"; }
	berth_save_docker_load() { bk save -o "$work/from-berth.tar" "$reg/cross/berth:1" && dk rmi -f "$reg/cross/berth:1" && dk load -q -i "$work/from-berth.tar" && runs_ok dk "$reg/cross/berth:1"; }
	docker_save_berth_load() { dk save -o "$work/from-docker.tar" "$reg/cross/docker:1" && bk rmi -f "$reg/cross/docker:1" && bk load -q -i "$work/from-docker.tar" && runs_ok bk "$reg/cross/docker:1"; }
	for step in docker_to_berth berth_to_docker berth_save_docker_load docker_save_berth_load; do
		if "$step" >>"$work/interchange.log" 2>&1; then r=ok; else r=FAILED; fi
		interchange+=("$step: $r")
		echo "compat: interchange $step $r" >&2
	done
	engines_kill_wait 5 "$reg_pid"
fi
elapsed=$(($(date +%s) - start))

dv=$(DOCKER_HOST=unix://$work/docker/engine.sock "$ENGINE_DOCKER_CLI" version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')
bv=$(DOCKER_HOST=unix://$work/berth/engine.sock "$ENGINE_DOCKER_CLI" version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')
cv=$("$ENGINE_DOCKER_CLI" version --format '{{.Client.Version}}' 2>/dev/null || true)
list() { if (($#)); then printf '%s ' "$@"; else printf '(none)'; fi; }
echo
echo "=== summary: docker CLI $cv; dockerd $dv vs berthd $bv; ${elapsed}s"
echo "implemented in berth: ${#same_core[@]} same, ${#diff_core[@]} differ"
echo "  differ: $(list "${diff_core[@]}")"
echo "not yet implemented in berth: ${#same_missing[@]} same, ${#diff_missing[@]} differ"
echo "  differ: $(list "${diff_missing[@]}")"
echo "  same:   $(list "${same_missing[@]}")"
echo "skipped (not scriptable): $(list "${skipped[@]}")"
((${#interchange[@]} == 0)) || echo "interchange: $(printf '%s; ' "${interchange[@]}")"

if [ -n "$report" ]; then
	{
		echo "# Compatibility report (generated by hack/compat.sh; do not edit)"
		echo
		echo "$(date -u +%Y-%m-%d): docker CLI $cv against dockerd $dv and berthd $bv on $(uname -r)."
		echo "Outputs are normalised: \`<id>\`/\`<id12>\` ids, \`<time>\`/\`<ago>\` times, \`<engine>\` the daemon's own directory."
		echo
		while IFS='|' read -r n name kind desc; do
			[ -f "$work/out/$n.result" ] || continue
			[ "$(cat "$work/out/$n.result")" = differs ] || continue
			echo "## $name ($kind)"
			echo
			echo "$desc."
			echo
			echo '```sh'
			sed '/^$/d' "$work/sc/$n.sh"
			echo '```'
			echo
			for e in docker berth; do
				echo "$e: exit status $(cat "$work/out/$n.$e.rc")"
				echo
				echo '```'
				if [ -s "$work/out/$n.$e.out" ]; then cat "$work/out/$n.$e.out"; fi
				if [ -s "$work/out/$n.$e.err" ]; then echo "[stderr] $(cat "$work/out/$n.$e.err")"; fi
				echo '```'
				echo
			done
		done <"$work/sc/index"
	} >"$report"
	echo "compat: wrote $report" >&2
fi

if [ -n "$doc" ]; then
	{
		echo "Last run $(date -u +%Y-%m-%d): docker CLI $cv, dockerd $dv (Debian docker.io), berthd $bv, kernel $(uname -r), ${elapsed}s."
		echo
		echo "| scenarios | same | differ |"
		echo "|---|---|---|"
		echo "| implemented in berth | ${#same_core[@]} | ${#diff_core[@]} |"
		echo "| not yet implemented in berth | ${#same_missing[@]} | ${#diff_missing[@]} |"
		echo
		echo "Skipped (not scriptable): $(list "${skipped[@]}" | sed 's/ $//')."
		echo
		if ((${#interchange[@]})); then
			echo "Images between the engines (through a local registry, and save/load), each then run: $(printf '%s; ' "${interchange[@]}" | sed 's/; $//')."
			echo
		fi
		echo "| scenario | kind | result |"
		echo "|---|---|---|"
		while IFS='|' read -r n name kind desc; do
			if [ "$kind" = skip ]; then r=skipped; elif [ -f "$work/out/$n.result" ]; then r=$(cat "$work/out/$n.result"); else continue; fi
			echo "| \`$name\` | $kind | $r |"
		done <"$work/sc/index"
	} >"$work/block.md"
	python3 - docs/compatibility.md "$work/block.md" <<'PY'
import re, sys, os
doc, block = sys.argv[1], open(sys.argv[2]).read()
text = open(doc).read() if os.path.exists(doc) else "# Compatibility with Docker\n"
block = "<!-- compat:begin -->\n" + block + "<!-- compat:end -->\n"
if "<!-- compat:begin -->" in text:
    text = re.sub(r"<!-- compat:begin -->.*?<!-- compat:end -->\n", lambda m: block, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + block
open(doc, "w").write(text)
PY
	echo "compat: updated docs/compatibility.md" >&2
fi

failed_interchange=$(printf '%s\n' "${interchange[@]}" | grep -c FAILED || true)
if [ -n "$strict" ] && ((${#diff_core[@]} + ${#diff_missing[@]} + failed_interchange)); then
	exit 1
fi
exit 0
