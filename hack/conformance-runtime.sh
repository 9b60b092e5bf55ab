#!/usr/bin/env bash
# Runs the OCI runtime-tools validation suite against several runtimes on this machine and
# prints a per-program comparison table (and writes it as Markdown).
#
#   hack/conformance-runtime.sh [--runtimes "NAME:PATH ..."] [--only REGEX] [--out FILE] [--check]
#
#   --runtimes  runtimes to compare, NAME:PATH separated by spaces; PATH may be a command name.
#               Default: berth:$REPO/bin/berth-runtime (if built), crun, runc (if installed).
#   --only      run only the validation programs whose name matches this extended regex.
#   --out       Markdown table to write (default docs/conformance-runtime-table.md).
#   --check     exit 1 when berth fails a program that crun passes (the acceptance bar).
#
# Environment: BERTH_CONFORMANCE_WORK (work dir, default /var/tmp/berth-conformance),
# BERTH_CONFORMANCE_TIMEOUT (seconds per program, default 60), GO (go binary).
# Needs root: the runtimes create namespaces, cgroups and mounts.
#
# The work dir keeps the built suite (reused while the runtime-tools version and Go version stay
# the same), raw output per runtime and program (results/NAME/PROG.{tap,err,res,cleanup}) and
# the bundles' TMPDIRs while a program runs.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPERS=$REPO/hack/conformance
RT_TOOLS_MODULE=github.com/opencontainers/runtime-tools
# v0.9.0 is the only version the module proxy serves; it predates modules, so the pins below
# are what make it compile with today's dependency versions.
RT_TOOLS_VERSION=v0.9.0
RT_TOOLS_PINS=(github.com/opencontainers/runtime-spec@v1.0.2 github.com/opencontainers/selinux@v1.10.0)
WORK=${BERTH_CONFORMANCE_WORK:-/var/tmp/berth-conformance}
PROG_TIMEOUT=${BERTH_CONFORMANCE_TIMEOUT:-60}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

die() { echo "conformance-runtime: $*" >&2; exit 2; }
say() { echo "conformance-runtime: $*" >&2; }
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }

runtimes_arg="" only="" out="$REPO/docs/conformance-runtime-table.md" check=0
while (($#)); do
	case $1 in
	--runtimes) runtimes_arg=${2?--runtimes needs a value}; shift 2 ;;
	--runtimes=*) runtimes_arg=${1#*=}; shift ;;
	--only) only=${2?--only needs a value}; shift 2 ;;
	--only=*) only=${1#*=}; shift ;;
	--out) out=${2?--out needs a value}; shift 2 ;;
	--out=*) out=${1#*=}; shift ;;
	--check) check=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
[[ $out = /* ]] || out=$PWD/$out

[ "$(id -u)" = 0 ] || die "must run as root (runtimes need namespaces, cgroups and mounts)"
for tool in timeout unshare awk find flock tar; do
	command -v "$tool" >/dev/null || die "$tool not found"
done
[ -x "$GO" ] || die "go not found (set GO=/path/to/go)"

# On a hybrid cgroup host (v1 controllers plus cgroup2 at /sys/fs/cgroup/unified) crun 1.8
# refuses every container; without that mount it uses the v1 controllers like runc does.
hybrid=0 cgroup_mode=$(stat -fc %T /sys/fs/cgroup) # cgroup2fs, or tmpfs for v1/hybrid
if command -v mountpoint >/dev/null && mountpoint -q /sys/fs/cgroup/unified; then
	hybrid=1 cgroup_mode="hybrid (v1 + v2 at /sys/fs/cgroup/unified)"
fi

# --- runtimes -----------------------------------------------------------------------------
RT_NAMES=() RT_PATHS=() RT_WRAP=() SKIPPED=()
add_runtime() {
	local name=$1 cand=$2 path=""
	if [[ $cand = */* ]]; then
		[ -x "$cand" ] && path=$(readlink -f "$cand")
	else
		path=$(command -v "$cand" || true)
	fi
	if [ -z "$path" ]; then
		say "skipping runtime $name: $cand not found"
		SKIPPED+=("$name ($cand not found)")
		return
	fi
	local wrap=0
	if [ "$hybrid" = 1 ] && [ "$(basename "$path")" = crun ]; then wrap=1; fi
	RT_NAMES+=("$name") RT_PATHS+=("$path") RT_WRAP+=("$wrap")
}
if [ -z "$runtimes_arg" ]; then
	if [ -x "$REPO/bin/berth-runtime" ]; then
		add_runtime berth "$REPO/bin/berth-runtime"
	else
		say "skipping runtime berth: $REPO/bin/berth-runtime is not built"
		SKIPPED+=("berth (bin/berth-runtime not built)")
	fi
	add_runtime crun crun
	add_runtime runc runc
else
	for spec in $runtimes_arg; do
		if [[ $spec = *:* ]]; then add_runtime "${spec%%:*}" "${spec#*:}"; else add_runtime "$spec" "$spec"; fi
	done
fi
((${#RT_NAMES[@]})) || die "no runtime to test"

# Runs a command the way runtime $1 is run: crun on a hybrid host in a private mount namespace
# with the cgroup2 mount removed there (mounts the tests leak then die with that namespace).
in_rt_ns() {
	local i=$1; shift
	if [ "${RT_WRAP[$i]}" = 1 ]; then
		unshare --mount --propagation private sh -c \
			'umount /sys/fs/cgroup/unified 2>/dev/null || echo "conformance-runtime: cannot unmount /sys/fs/cgroup/unified" >&2; exec "$@"' sh "$@"
	else
		"$@"
	fi
}

# --- work dir and suite build ---------------------------------------------------------------
mkdir -p "$WORK"
exec 9>"$WORK/.lock"
flock -n 9 || die "another run holds $WORK/.lock"

build_suite() {
	local gov key dir tmp
	gov=$("$GO" env GOVERSION)
	key="runtime-tools-$RT_TOOLS_VERSION-$gov-$("$GO" env GOARCH)"
	SUITE=$WORK/build/$key
	[ -f "$SUITE/.complete" ] && return
	say "building $RT_TOOLS_MODULE@$RT_TOOLS_VERSION with $gov (once; cached in $SUITE)"
	tmp=$SUITE.partial
	rm -rf "$tmp"
	mkdir -p "$tmp"
	# Outside any module (ours or a go.work) so only the proxy and module cache matter.
	dir=$(cd "$WORK" && GOWORK=off GOFLAGS=-mod=mod "$GO" mod download -json "$RT_TOOLS_MODULE@$RT_TOOLS_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[ -d "$dir" ] || die "go mod download gave no module dir for $RT_TOOLS_MODULE@$RT_TOOLS_VERSION"
	# The module cache is read-only: build in a writable copy with a go.mod of our own.
	cp -R "$dir" "$tmp/src"
	chmod -R u+w "$tmp/src"
	{
		echo "module $RT_TOOLS_MODULE"
		echo
		echo "go 1.16"
		echo
		echo "require ("
		local pin
		for pin in "${RT_TOOLS_PINS[@]}"; do echo "	${pin%@*} ${pin#*@}"; done
		echo ")"
	} >"$tmp/src/go.mod"
	(
		cd "$tmp/src"
		export GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local
		"$GO" mod tidy
		# runtimetest is copied into each bundle and runs inside a busybox rootfs: static.
		CGO_ENABLED=0 "$GO" build -o "$tmp/run/runtimetest" ./cmd/runtimetest
		mkdir -p "$tmp/validation"
		"$GO" build -o "$tmp/validation/" ./validation/...
	)
	local rootfs
	rootfs="rootfs-$("$GO" env GOARCH).tar.gz"
	[ -f "$tmp/src/$rootfs" ] || die "runtime-tools ships no $rootfs"
	cp "$tmp/src/$rootfs" "$tmp/run/"
	touch "$tmp/.complete"
	rm -rf "$SUITE"
	mv "$tmp" "$SUITE"
}
build_suite

PROGS=()
for p in "$SUITE"/validation/*; do
	n=$(basename "$p")
	if [ -n "$only" ] && ! [[ $n =~ $only ]]; then continue; fi
	PROGS+=("$n")
done
((${#PROGS[@]})) || die "no validation program matches --only '$only'"

# --- cleanup after each program -----------------------------------------------------------
# Notes go to $NOTES (one line each) so leaks show up in the report.
NOTES=/dev/null
note() { echo "$*" >>"$NOTES"; }

# Mount points at or under $1 in our mount namespace, deepest first.
mounts_under() {
	local dir=$1 mp
	while read -r _ _ _ _ mp _; do
		mp=$(printf '%b' "$mp") # mountinfo escapes blanks as \040
		if [ "$mp" = "$dir" ] || [[ $mp = "$dir"/* ]]; then
			printf '%s\t%s\n' "$(tr -cd / <<<"$mp" | wc -c)" "$mp"
		fi
	done </proc/self/mountinfo | sort -rn -k1,1 | cut -f2-
}

# linux_ns_itype runs containers without a mount namespace, so their proc, sysfs, dev and rootfs
# bind mounts land in ours, under the bundle dir.
umount_leaks() {
	local dir=$1 mp left
	for _ in 1 2 3 4 5; do # over-mounts stack on one path
		left=$(mounts_under "$dir")
		[ -z "$left" ] && return 0
		while IFS= read -r mp; do
			note "unmounted leaked mount $mp"
			umount -l "$mp" 2>/dev/null || true
		done <<<"$left"
	done
	[ -z "$(mounts_under "$dir")" ]
}

json_field() { sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"\{0,1\}\([^",}]*\).*/\1/p' | head -n1; }

# Containers left by a program: only those whose bundle is under our TMPDIR are ours.
kill_strays() {
	local i=$1 dir=$2 rt=${RT_PATHS[$1]} ids id st bundle pid
	ids=$(in_rt_ns "$i" timeout 10 "$rt" list -q 2>/dev/null) ||
		ids=$(in_rt_ns "$i" timeout 10 "$rt" list 2>/dev/null | awk 'NR > 1 { print $1 }') || ids=""
	for id in $ids; do
		st=$(in_rt_ns "$i" timeout 10 "$rt" state "$id" 2>/dev/null) || continue
		bundle=$(json_field bundle <<<"$st")
		[[ $bundle = "$dir"/* ]] || continue
		pid=$(json_field pid <<<"$st")
		note "removed leftover container $id (status $(json_field status <<<"$st"), pid ${pid:-none})"
		in_rt_ns "$i" timeout 10 "$rt" kill "$id" KILL >/dev/null 2>&1 || true
		if [[ $pid =~ ^[1-9][0-9]*$ ]] && [ -d "/proc/$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
		in_rt_ns "$i" timeout 10 "$rt" delete --force "$id" >/dev/null 2>&1 ||
			in_rt_ns "$i" timeout 10 "$rt" delete "$id" >/dev/null 2>&1 ||
			note "could not delete container $id"
	done
	# Processes still running from a bundle (no mount namespace, or a runtime that died half-way).
	# One find rather than a readlink per process: this runs after every program.
	# (find fails on processes that exit while it reads /proc: ignore that.)
	{ find /proc -mindepth 2 -maxdepth 2 -path '/proc/[0-9]*' \( -name cwd -o -name root \) \
		-lname "$dir/*" -printf '%h %f %l\n' 2>/dev/null || true; } | sort -u -k1,1 |
		while read -r p l link; do
			pid=${p#/proc/}
			[ "$pid" = $$ ] && continue
			note "killed stray process $pid ($(tr '\0' ' ' <"$p/cmdline" 2>/dev/null | cut -c1-60)) with $l $link"
			kill -KILL "$pid" 2>/dev/null || true
		done
}

# The cgroup tests use /cgrouptest and testdir/cgrouptest/container and leave them behind.
# Remove only empty ones (rmdir refuses a cgroup with processes or children), deepest first.
cleanup_cgroups() {
	local d parent
	local -A parents=()
	while IFS= read -r -d '' d; do
		if rmdir "$d" 2>/dev/null; then
			note "removed cgroup $d"
			[ "$(basename "$d")" = cgrouptest ] && parents[$(dirname "$d")]=1
		else
			note "cgroup $d still in use, left"
		fi
	done < <(find /sys/fs/cgroup -mindepth 2 -depth -type d \( -name cgrouptest -o -path '*/cgrouptest/*' \) -print0 2>/dev/null)
	for parent in "${!parents[@]}"; do
		if [ "$(basename "$parent")" = testdir ] && rmdir "$parent" 2>/dev/null; then note "removed cgroup $parent"; fi
	done
	return 0
}

# Order matters: stop containers first (they pin mounts and cgroups), then unmount, then
# remove cgroups, and only then the TMPDIR — never while something is still mounted in it.
cleanup_after() {
	local i=$1 dir=$2
	kill_strays "$i" "$dir"
	if umount_leaks "$dir"; then
		rm -rf --one-file-system "$dir"
	else
		note "mounts still present under $dir: left in place"
	fi
	cleanup_cgroups
}

CUR_I="" CUR_TMP="" CUR_PID=""
# shellcheck disable=SC2317 # invoked by the trap below
on_exit() {
	# Stop the program that is running: timeout leads its own process group (the program and
	# the runtime commands it started), so signal that group; timeout -k bounds the wait.
	if [ -n "$CUR_PID" ] && kill -0 "$CUR_PID" 2>/dev/null; then
		local c
		for c in $(ps -o pid= --ppid "$CUR_PID" 2>/dev/null); do
			kill -TERM -- "-$c" 2>/dev/null || kill -TERM "$c" 2>/dev/null || true
		done
		wait "$CUR_PID" 2>/dev/null || true
	fi
	if [ -n "$CUR_TMP" ]; then
		say "stopped early: cleaning up $CUR_TMP"
		cleanup_after "$CUR_I" "$CUR_TMP" || true
	fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# --- run ----------------------------------------------------------------------------------
RUN_DIR=$SUITE/run
summarize() { awk -f "$HELPERS/tap-summary.awk" "$1"; }

# Decides one program's result. Prints: STATUS ok notok skip reason...
classify() {
	local prog=$1 rc=$2 tap=$3 ok notok skip tests plan orphan bail
	read -r ok notok skip tests plan orphan bail < <(summarize "$tap")
	local st=FAIL why=""
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then why=timeout
	elif [ "$rc" != 0 ]; then why="exit $rc"
	elif [ "$bail" -gt 0 ]; then why="bail out"
	elif [ "$notok" -gt 0 ]; then why="not ok"
	elif [ "$orphan" -gt 0 ]; then why="error diagnostic"
	elif [ "$ok" -gt 0 ]; then st=PASS
	# process_*_fail print nothing when the runtime refuses the bad config, as it must.
	elif [[ $prog = *_fail ]] && [ "$tests" = 0 ] && ! grep -q '[^[:space:]]' "$tap"; then st=PASS why="refused bad config"
	# The hook/lifecycle programs have no assertions: "1..0" without an error is success.
	elif [ "$tests" = 0 ] && [ "$plan" = 0 ]; then st=PASS why=lifecycle
	elif [ "$skip" -gt 0 ]; then st=SKIP
	else why="no TAP"
	fi
	echo "$st $ok $notok $skip $why"
}

declare -A RES # RES[name/prog]="STATUS ok notok skip reason"
declare -A VERSION
for i in "${!RT_NAMES[@]}"; do
	name=${RT_NAMES[$i]} rt=${RT_PATHS[$i]}
	VERSION[$name]=$("$rt" --version 2>/dev/null | head -n1 || true)
	[ -n "${VERSION[$name]}" ] || VERSION[$name]=unknown
	res_dir=$WORK/results/$name
	rm -rf "$res_dir"
	mkdir -p "$res_dir" "$WORK/tmp/$name"
	how=""
	[ "${RT_WRAP[$i]}" = 1 ] && how=" (in a private mount namespace without /sys/fs/cgroup/unified)"
	say "running ${#PROGS[@]} programs against $name = $rt: ${VERSION[$name]}$how"
	for prog in "${PROGS[@]}"; do
		tmp=$WORK/tmp/$name/$prog
		if [ -e "$tmp" ]; then # left by an interrupted run
			NOTES=$res_dir/$prog.cleanup cleanup_after "$i" "$tmp"
			[ -e "$tmp" ] && die "$tmp still has mounts; unmount it by hand"
		fi
		mkdir -p "$tmp"
		NOTES=$res_dir/$prog.cleanup
		: >"$NOTES"
		CUR_I=$i CUR_TMP=$tmp
		start=$(date +%s%N)
		# In the background so that an interrupt reaches our trap at once (see on_exit).
		(cd "$RUN_DIR" && export TMPDIR=$tmp RUNTIME=$rt && in_rt_ns "$i" \
			timeout -k 10 "$PROG_TIMEOUT" "$SUITE/validation/$prog") \
			>"$res_dir/$prog.tap" 2>"$res_dir/$prog.err" </dev/null &
		CUR_PID=$!
		rc=0
		wait "$CUR_PID" || rc=$?
		CUR_PID=""
		secs=$(( ($(date +%s%N) - start) / 1000000 ))
		cleanup_after "$i" "$tmp"
		CUR_TMP=""
		RES[$name/$prog]=$(classify "$prog" "$rc" "$res_dir/$prog.tap")
		echo "${RES[$name/$prog]} rc=$rc ms=$secs" >"$res_dir/$prog.res"
		read -r st ok notok _ reason <<<"${RES[$name/$prog]}"
		leak=""
		[ -s "$NOTES" ] && leak=" [cleanup: $(wc -l <"$NOTES") notes]"
		printf '  %-6s %-32s %-4s %4s/%-3s %6.1fs %s%s\n' "$name" "$prog" "$st" "$ok" "$notok" \
			"$(awk "BEGIN { print $secs / 1000 }")" "${reason}" "$leak" >&2
	done
	rmdir "$WORK/tmp/$name" 2>/dev/null || true
done
NOTES=/dev/null

# --- report -------------------------------------------------------------------------------
cell() { # STATUS ok/notok, plus why when the counts do not say it
	local st ok notok skip reason
	read -r st ok notok skip reason <<<"${RES[$1]}"
	local c="$st $ok/$notok"
	case $reason in "" | "not ok") ;; *) c+=" ($reason)" ;; esac
	echo "$c"
}

declare -A PASSED OKS NOTOKS SKIPS
for name in "${RT_NAMES[@]}"; do
	PASSED[$name]=0 OKS[$name]=0 NOTOKS[$name]=0 SKIPS[$name]=0
	for prog in "${PROGS[@]}"; do
		read -r st ok notok skip _ <<<"${RES[$name/$prog]}"
		[ "$st" = PASS ] && PASSED[$name]=$((PASSED[$name] + 1))
		OKS[$name]=$((OKS[$name] + ok)) NOTOKS[$name]=$((NOTOKS[$name] + notok)) SKIPS[$name]=$((SKIPS[$name] + skip))
	done
done

w=30
for prog in "${PROGS[@]}"; do ((${#prog} > w)) && w=${#prog}; done
echo
printf "%-${w}s" program
for name in "${RT_NAMES[@]}"; do printf '  %-30s' "$name"; done
echo
for prog in "${PROGS[@]}"; do
	printf "%-${w}s" "$prog"
	for name in "${RT_NAMES[@]}"; do printf '  %-30s' "$(cell "$name/$prog")"; done
	echo
done
echo
for name in "${RT_NAMES[@]}"; do
	printf '%-6s %2d/%d programs passed, %d assertions ok, %d not ok, %d skipped  (%s)\n' "$name" \
		"${PASSED[$name]}" "${#PROGS[@]}" "${OKS[$name]}" "${NOTOKS[$name]}" "${SKIPS[$name]}" "${VERSION[$name]}"
done
for s in "${SKIPPED[@]}"; do echo "not run: $s"; done

# Acceptance bar: berth must pass every program crun passes.
regress=()
have() { [[ " ${RT_NAMES[*]} " = *" $1 "* ]]; }
if have berth && have crun; then
	for prog in "${PROGS[@]}"; do
		[ "${RES[crun/$prog]%% *}" = PASS ] && [ "${RES[berth/$prog]%% *}" != PASS ] && regress+=("$prog")
	done
	echo
	if ((${#regress[@]})); then
		echo "berth fails ${#regress[@]} program(s) that crun passes: ${regress[*]}"
	else
		echo "berth passes every program crun passes."
	fi
else
	echo
	echo "acceptance check (berth vs crun) not done: needs both berth and crun."
fi

# Cleanup summary: what the suite left behind and we removed.
leaks=$(cat "$WORK"/results/*/*.cleanup 2>/dev/null | sed 's/ [^ ]*$//' | awk '{ print $1, $2 }' | sort | uniq -c || true)
[ -n "$leaks" ] && { echo; echo "cleanup (per-program notes in $WORK/results/*/*.cleanup):"; echo "$leaks"; }
echo "raw TAP and stderr: $WORK/results/<runtime>/<program>.{tap,err}"

mkdir -p "$(dirname "$out")"
{
	echo "# OCI runtime-tools validation: runtime comparison"
	echo
	echo "Generated by \`hack/conformance-runtime.sh\` ($(date -u +%Y-%m-%d)). Suite: $RT_TOOLS_MODULE $RT_TOOLS_VERSION,"
	echo "${#PROGS[@]} programs${only:+ matching \`$only\`}. Host: Linux $(uname -r), cgroup $cgroup_mode."
	echo "A cell is the result and the count of assertions ok/not ok (skipped assertions are not counted)."
	echo "PASS needs exit 0, no \`not ok\`, no error diagnostic outside an assertion, and either at least one"
	echo "\`ok\`, a lifecycle program's clean \`1..0\`, or a \`*_fail\` program's silent refusal of the bad config."
	echo
	echo "| runtime | version | programs passed | assertions ok | not ok | skipped |"
	echo "| --- | --- | --- | --- | --- | --- |"
	for i in "${!RT_NAMES[@]}"; do
		name=${RT_NAMES[$i]}
		echo "| $name | ${VERSION[$name]}$([ "${RT_WRAP[$i]}" = 1 ] && echo " ¹") | ${PASSED[$name]}/${#PROGS[@]} | ${OKS[$name]} | ${NOTOKS[$name]} | ${SKIPS[$name]} |"
	done
	echo
	for i in "${!RT_NAMES[@]}"; do
		[ "${RT_WRAP[$i]}" = 1 ] && echo "¹ run in a private mount namespace with /sys/fs/cgroup/unified unmounted: $(basename "${RT_PATHS[$i]}") refuses every container on this hybrid cgroup host otherwise." && echo
	done
	for s in "${SKIPPED[@]}"; do echo "Not run: $s."; echo; done
	printf '| program |'
	for name in "${RT_NAMES[@]}"; do printf ' %s |' "$name"; done
	echo
	printf '| --- |'
	for name in "${RT_NAMES[@]}"; do printf ' --- |'; done
	echo
	for prog in "${PROGS[@]}"; do
		printf '| %s |' "$prog"
		for name in "${RT_NAMES[@]}"; do printf ' %s |' "$(cell "$name/$prog")"; done
		echo
	done
	if have berth && have crun; then
		echo
		if ((${#regress[@]})); then
			echo "berth fails ${#regress[@]} program(s) that crun passes: $(printf "\`%s\` " "${regress[@]}")"
		else
			echo "berth passes every program crun passes."
		fi
	fi
} >"$out"
echo "wrote $out"

if [ "$check" = 1 ] && ((${#regress[@]})); then exit 1; fi
exit 0
