# Shared by hack/compat.sh and hack/bench-engine.sh (sourced, not run): install Debian's docker.io
# without starting a system daemon, start a private dockerd and a private berthd side by side, and
# clean up everything they made, by pid and by path, never by process name.
#
# Each engine lives under its own directory E ($work/docker, $work/berth):
#   E/engine.sock  E/data  E/exec  E/engine.pid  E/daemon.log
# The same file names on both sides, so normalised outputs can name <engine> for either.
# shellcheck shell=bash

ENGINE_DOCKER_CLI=${DOCKER_CLI:-/usr/local/bin/docker}

# engines_install_docker: apt-get install docker.io if dockerd is missing. Debian's maintainer
# scripts would start a system dockerd through invoke-rc.d; a policy-rc.d that says 101 ("action
# forbidden") keeps them from it. One already present is left as it is.
engines_install_docker() {
	local pkgs=("$@")
	((${#pkgs[@]})) || pkgs=(docker.io)
	local missing=() p
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	echo "engines: installing ${missing[*]} (no service is started)" >&2
	local made_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || rc=$?
	[ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
	return $rc
}

# engines_wait_sock CLI SOCK PID NAME: until `docker version` answers on SOCK (30 s), or PID dies.
engines_wait_sock() {
	local sock=$1 pid=$2 name=$3
	for _ in $(seq 1 300); do
		DOCKER_HOST=unix://$sock "$ENGINE_DOCKER_CLI" version >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || { echo "engines: $name exited while starting" >&2; return 1; }
		sleep 0.1
	done
	echo "engines: $name did not answer on $sock within 30 s" >&2
	return 1
}

ENGINE_PIDS=()

# engines_start_dockerd DIR [extra dockerd flags]: dockerd with its own socket, data root, exec root,
# pid file and no bridge (no docker0, no iptables): nothing it makes is shared with the host.
engines_start_dockerd() {
	local e=$1
	shift
	mkdir -p "$e"
	echo '{}' >"$e/daemon.json"
	# A bridge of its own, made here (dockerd's -b takes an existing one), so its containers get
	# addresses as berthd's do; with --iptables=false it touches no firewall. engines_cleanup
	# removes it.
	local br="bd$$"
	ip link add "$br" type bridge && ip addr add "10.253.$(($$ % 250)).1/24" dev "$br" && ip link set "$br" up || return 1
	echo "$br" >"$e/bridge"
	setsid dockerd -H "unix://$e/engine.sock" --data-root "$e/data" --exec-root "$e/exec" \
		--pidfile "$e/engine.pid" --config-file "$e/daemon.json" --bridge "$br" --iptables=false \
		--ip6tables=false --ip-masq=false --userland-proxy=false "$@" \
		</dev/null >"$e/daemon.log" 2>&1 &
	echo $! >"$e/launcher.pid"
	ENGINE_PIDS+=("$!")
	engines_wait_sock "$e/engine.sock" "$!" dockerd || { tail -20 "$e/daemon.log" >&2; return 1; }
}

# engines_start_berthd DIR BIN [extra berthd flags]
engines_start_berthd() {
	local e=$1 bin=$2
	shift 2
	mkdir -p "$e"
	echo '{}' >"$e/daemon.json"
	# A bridge and subnet of its own (removed by engines_cleanup), not the host's berth0.
	local br="bx$$"
	echo "$br" >"$e/bridge"
	setsid "$bin/berthd" -H "unix://$e/engine.sock" --data-root "$e/data" --exec-root "$e/exec" \
		--pidfile "$e/engine.pid" --config-file "$e/daemon.json" -b "$br" --bip "10.254.$(($$ % 250)).1/24" "$@" \
		</dev/null >"$e/daemon.log" 2>&1 &
	echo $! >"$e/launcher.pid"
	ENGINE_PIDS+=("$!")
	engines_wait_sock "$e/engine.sock" "$!" berthd || { tail -20 "$e/daemon.log" >&2; return 1; }
}

# engines_descendants PID...: the PIDs and all their descendants (a ppid walk over /proc).
engines_descendants() {
	local all
	all=$(ps -e -o pid=,ppid= 2>/dev/null)
	local queue=("$@") out=() p
	while ((${#queue[@]})); do
		p=${queue[0]}
		queue=("${queue[@]:1}")
		[ -n "$p" ] || continue
		out+=("$p")
		# shellcheck disable=SC2207
		queue+=($(awk -v p="$p" '$2 == p { print $1 }' <<<"$all"))
	done
	echo "${out[@]}"
}

# engines_pids_under DIR: processes whose command line names DIR (shims and containerd-shims that
# were reparented away from their daemon). Matching a private temporary path cannot hit anybody
# else's process.
engines_pids_under() {
	local dir=$1 p
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
		{ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF -- "$dir" && echo "$p"
	done
}

# engines_kill_wait SECONDS PID...: SIGTERM, then SIGKILL what is left after SECONDS.
engines_kill_wait() {
	local secs=$1 p alive
	shift
	(($#)) || return 0
	kill -TERM "$@" 2>/dev/null
	for _ in $(seq 1 $((secs * 10))); do
		alive=
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ -n "$alive" ] || return 0
		sleep 0.1
	done
	kill -KILL "$@" 2>/dev/null
	sleep 0.2
}

# engines_cleanup WORKDIR: removes the containers of every engine that still answers, stops the
# daemons by pid (pid file and launcher pid) with their process trees, then whatever process still
# names WORKDIR, unmounts everything under WORKDIR (deepest first) and removes it.
engines_cleanup() {
	local work=$1 e pids=() daemons=() p
	[ -n "$work" ] && [ -d "$work" ] || return 0
	for e in "$work"/*/; do
		e=${e%/}
		[ -S "$e/engine.sock" ] || continue
		local ids
		ids=$(DOCKER_HOST=unix://$e/engine.sock timeout -k 5 30 "$ENGINE_DOCKER_CLI" ps -aq 2>/dev/null || true)
		# shellcheck disable=SC2086
		[ -z "$ids" ] || DOCKER_HOST=unix://$e/engine.sock timeout -k 5 120 "$ENGINE_DOCKER_CLI" rm -f $ids >/dev/null 2>&1 || true
	done
	for e in "$work"/*/; do
		for p in "$e/engine.pid" "$e/launcher.pid"; do
			[ -s "$p" ] && daemons+=("$(tr -d ' \n' <"$p")")
		done
	done
	daemons+=("${ENGINE_PIDS[@]}")
	# shellcheck disable=SC2207
	pids=($(engines_descendants "${daemons[@]}" | tr ' ' '\n' | sort -u | while read -r p; do kill -0 "$p" 2>/dev/null && echo "$p"; done))
	# The daemons first (dockerd stops its containerd), then their remaining trees.
	local live_daemons=()
	for p in "${daemons[@]}"; do kill -0 "$p" 2>/dev/null && live_daemons+=("$p"); done
	engines_kill_wait 20 "${live_daemons[@]}"
	local rest=()
	for p in "${pids[@]}" $(engines_pids_under "$work"); do kill -0 "$p" 2>/dev/null && rest+=("$p"); done
	engines_kill_wait 5 "${rest[@]}"
	# berthd's bridge and nftables table, by the name it was given.
	for e in "$work"/*/; do
		if [ -s "$e/bridge" ]; then
			local br
			br=$(cat "$e/bridge")
			ip link del "$br" 2>/dev/null || true
			nft delete table ip "berth-$br" 2>/dev/null || true
			nft delete table ip6 "berth-$br" 2>/dev/null || true
		fi
	done
	# Mounts under the work directory, deepest first (overlay roots, netns and shm binds, ...).
	local m
	for _ in 1 2 3; do
		m=$(awk -v w="$work" '{ gsub(/\\040/, " ", $5) } index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
		[ -n "$m" ] || break
		while read -r p; do umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null || true; done <<<"$m"
	done
	if awk -v w="$work" 'index($5, w "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
		echo "engines: mounts remain under $work; not removing it" >&2
		return 1
	fi
	rm -rf --one-file-system "$work"
}

# engines_begin NAME: the checks every engine benchmark makes first (berth built, hyperfine, the
# docker CLI), then $work, a scratch directory that engines_cleanup empties when the script exits,
# with every engine started under it. A script may define bench_cleanup for its own leftovers: it
# runs first.
engines_begin() {
	engines_name=$1
	local b
	for b in berthd berth berth-shim berth-runtime; do
		[ -x "bin/$b" ] || { echo "$engines_name: run make build first" >&2; exit 1; }
	done
	command -v hyperfine >/dev/null || { echo "$engines_name: hyperfine missing (make deps)" >&2; exit 1; }
	[ -x "$ENGINE_DOCKER_CLI" ] || { echo "$engines_name: the official docker CLI is expected at $ENGINE_DOCKER_CLI" >&2; exit 1; }
	work=$(mktemp -d "/tmp/$engines_name-XXXXXX")
	trap engines_end EXIT
	trap 'exit 130' INT TERM
}

engines_end() {
	local rc=$?
	trap - EXIT INT TERM
	if declare -F bench_cleanup >/dev/null; then bench_cleanup || rc=1; fi
	echo "$engines_name: cleaning up $work" >&2
	engines_cleanup "$work" || rc=1
	exit $rc
}

# engines_write_doc NAME TITLE TABLE_FILE: puts the table in docs/benchmarks.md under TITLE,
# between NAME's markers (appended the first time).
engines_write_doc() {
	local doc=docs/benchmarks.md
	python3 - "$doc" "$1" "$2" "$3" <<'PY'
import os, re, sys
doc, name, title, table = sys.argv[1], sys.argv[2], sys.argv[3], open(sys.argv[4]).read()
text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
block = f"{begin}\n## {title}\n\n{table}{end}\n"
if begin in text:
    text = re.sub(re.escape(begin) + r".*?" + re.escape(end) + r"\n", lambda m: block, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + block
open(doc, "w").write(text)
PY
	echo "$1: wrote $doc"
}

# engines_start_both [DOCKERD_ARG...]: a private dockerd and berthd under $work, their sockets in
# $dsock and $bsock, an empty client configuration for both; dk drives dockerd with the docker
# CLI, bt drives berthd with berth's.
# Called from the repository's root, as every bench script runs.
engines_start_both() {
	engines_repo=$PWD
	engines_start_dockerd "$work/docker" "$@"
	engines_start_berthd "$work/berth" "$engines_repo/bin"
	export DOCKER_CONFIG=$work/client-config
	mkdir -p "$DOCKER_CONFIG" && echo "{}" >"$DOCKER_CONFIG/config.json"
	dsock=unix://$work/docker/engine.sock bsock=unix://$work/berth/engine.sock
}
dk() { DOCKER_HOST=$dsock "$ENGINE_DOCKER_CLI" "$@"; }
bt() { BERTH_HOST=$bsock DOCKER_HOST=$bsock "$engines_repo/bin/berth" "$@"; }
