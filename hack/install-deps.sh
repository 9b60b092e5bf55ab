#!/usr/bin/env bash
# Installs what berth needs to build and test on a fresh Debian machine of this kind (as root):
# Debian packages, then the Go modules. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(busybox-static crun runc libseccomp-dev pkg-config hyperfine iproute2 nftables iptables iperf3 procps psmisc file shellcheck curl)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The registry the distribution tests start (never as a service: see engines_install_docker).
. hack/lib-engines.sh
engines_install_docker docker-registry apache2-utils

command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "install-deps: Go is not installed (expected at /usr/local/go)" >&2; exit 1; }
go mod download
echo "install-deps: ok"
