# berth: a Docker-compatible container engine. `make up` takes a fresh machine to a running
# container; `make test` is what CI runs. See README.md.
GO        ?= go
BIN       := bin
GOFLAGS   ?= -buildvcs=false
export GOFLAGS
CACHE     := .cache
STATICCHECK_VERSION := v0.8.2

BINARIES := $(BIN)/berth-runtime $(BIN)/berthd $(BIN)/berth $(BIN)/berth-shim $(BIN)/berth-init
VERSION   ?= 0.1.0-dev
COMMIT    := $(shell git rev-parse --short HEAD 2>/dev/null)
LDVERSION := -X github.com/berthproject/berth/internal/version.Version=$(VERSION) -X github.com/berthproject/berth/internal/version.GitCommit=$(COMMIT)

.PHONY: all build deps up test unit integration lint fmt vet staticcheck scripts conformance-runtime bench-runtime bench-engine bench-files bench-net bench-build bench-dist bench compat install clean

all: build

build: $(BINARIES)

# Rebuilt every time: go build is incremental and knows the dependencies better than make.
# Both runtime binaries are static: no dynamic loader on the container start path (libseccomp
# is linked from libseccomp.a; osusergo/netgo keep glibc's NSS out). berth-runtime decodes a
# container's spec (and its cached seccomp filter) once per start, with cold decoders: Go's JSON
# v2 engine, behind the v1 API, does it in about 0.6 ms instead of 1-1.5.
$(BIN)/berth-runtime: FORCE
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags "-s -w -extldflags=-static" -o $(BIN)/berth-runtime-init ./cmd/berth-runtime-init
	GOEXPERIMENT=jsonv2 CGO_ENABLED=1 $(GO) build -trimpath -tags osusergo,netgo -ldflags "$(LDVERSION) -extldflags=-static" -o $@ ./cmd/berth-runtime

$(BIN)/berthd: FORCE
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags "$(LDVERSION)" -o $@ ./cmd/berthd

$(BIN)/berth-shim: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDVERSION)" -o $@ ./cmd/berth-shim

# The CLI decodes large API responses (ps -a, images, inspect) once per run: Go's JSON v2 engine,
# behind the v1 API it keeps, decodes them about twice as fast.
$(BIN)/berth: FORCE
	GOEXPERIMENT=jsonv2 CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDVERSION)" -o $@ ./cmd/berth

# berth-init is what --init bind-mounts into a container: static, it needs nothing from the image.
$(BIN)/berth-init: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $@ ./cmd/berth-init

FORCE:

# deps installs what building and testing need on a fresh Debian machine of this kind.
deps:
	@bash hack/install-deps.sh

# up: install, build, make a busybox bundle and run a hello container with berth-runtime.
up: deps build
	@bash hack/up.sh

# test: unit tests, then root integration tests that run real containers.
test: lint unit integration

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /test/)

integration: build
	BERTH_RUNTIME=$(CURDIR)/$(BIN)/berth-runtime BERTH_BIN_DIR=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 15m ./test/...

lint: fmt vet staticcheck scripts

# scripts: every shell script parses; shellcheck (warnings and errors) where it is installed.
scripts:
	@for f in hack/*.sh contrib/*.sh; do bash -n "$$f" || exit 1; done
	@if command -v shellcheck >/dev/null; then shellcheck -S warning hack/*.sh contrib/*.sh; else echo "scripts: shellcheck not installed, parse check only"; fi

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	@command -v staticcheck >/dev/null 2>&1 || [ -x "$$($(GO) env GOPATH)/bin/staticcheck" ] || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

-include hack/conformance/conformance.mk

bench-runtime: build
	bash hack/bench-runtime.sh

# bench-engine: berthd against a private dockerd (Debian's docker.io), podman and crun; see issue 3.
bench-engine: build
	bash hack/bench-engine.sh

# bench-files: cp in and out, commit and export, berthd against a private dockerd; see issue 4.
bench-files: build
	bash hack/bench-files.sh

# bench-net: iperf3 and connection latency through berth's bridge and published ports beside dockerd; see issue 6.
bench-net: build
	bash hack/bench-net.sh

# bench-build: berth build against dockerd's legacy builder (and BuildKit if usable); see issue 7.
bench-build: build
	bash hack/bench-build.sh

# bench-dist: pull and push from/to a local registry, berthd against a private dockerd; see issue 5.
bench-dist: build
	bash hack/bench-dist.sh

bench: bench-runtime bench-engine bench-files bench-net bench-build bench-dist

# compat: the official docker CLI against a private dockerd and berthd, scenario by scenario;
# prints the differences (COMPAT_FLAGS=--strict fails on any; --doc updates docs/compatibility.md).
compat: build
	bash hack/compat.sh $(COMPAT_FLAGS)

# install: binaries to $(PREFIX)/bin, systemd units to /etc/systemd/system, /etc/default/berth
# (an existing one is kept), and the `berth` group that may use the socket. DESTDIR is for
# packaging: with it, no group is created and systemd is not told.
PREFIX    ?= /usr/local
DESTDIR   ?=
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/systemd/system $(DESTDIR)/etc/default $(DESTDIR)$(PREFIX)/share/doc/berth
	install -m 0755 $(BIN)/berthd $(BIN)/berth $(BIN)/berth-shim $(BIN)/berth-runtime $(BIN)/berth-runtime-init $(DESTDIR)$(PREFIX)/bin/
	sed 's#/usr/local/#$(PREFIX)/#g' contrib/systemd/berth.service >$(DESTDIR)/etc/systemd/system/berth.service
	install -m 0644 contrib/systemd/berth.socket $(DESTDIR)/etc/systemd/system/berth.socket
	chmod 0644 $(DESTDIR)/etc/systemd/system/berth.service
	@if [ -e $(DESTDIR)/etc/default/berth ]; then echo "install: keeping the existing $(DESTDIR)/etc/default/berth"; \
	else install -m 0644 contrib/default/berth $(DESTDIR)/etc/default/berth; fi
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/berth/README.md
	@if [ -z "$(DESTDIR)" ]; then groupadd -f -r berth && echo "install: group berth ready (usermod -aG berth USER gives USER the socket)"; fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload && echo "install: systemctl enable --now berth.socket starts it"; fi

clean:
	rm -rf $(BIN) $(CACHE)
