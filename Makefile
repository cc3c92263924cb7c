# Blueprints: a self-hosted git server for open hardware.
#   make run    build and serve on http://127.0.0.1:8080 (data in ./data)
#   make test   every test: real git, git-lfs, S3 (versitygw) and Chromium
#   make bench  benchmarks beside their peers (admesh, F3D, git http-backend, direct S3)
#   make loadtest  64 browsers and 8 git clients for 2 minutes on loopback, checked against targets

GO       ?= go
BIN      := bin/blueprints
GOBIN    := $(shell $(GO) env GOPATH)/bin
VERSITYGW_VERSION := v1.8.0
export PATH := $(GOBIN):$(PATH)

.PHONY: all build run test test-short deps fuzz bench loadtest crashtest vulncheck clean

all: build

# A static binary (no cgo): nothing to match on the server, and it starts
# sooner and smaller than one linked against the C library.
# The version and commit are stamped with -X as well, since the toolchain
# does not stamp them in a git worktree or with GOFLAGS=-buildvcs=false.
VERSION_PKG := github.com/blueprints-hq/blueprints/internal/version
LDFLAGS := -X $(VERSION_PKG).linkedVersion=$(shell git describe --tags --always 2>/dev/null) \
	-X $(VERSION_PKG).linkedCommit=$(shell git rev-parse HEAD 2>/dev/null) \
	-X $(VERSION_PKG).linkedModified=$(shell test -z "$$(git status --porcelain 2>/dev/null)" && echo false || echo true)
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/blueprints

run: build
	$(BIN) serve

# deps installs what the tests and benchmarks drive for real, when missing:
# git, git-lfs, admesh, Chromium, Xvfb, F3D, PostgreSQL 15, HAProxy,
# systemd-analyze (checks deploy/blueprints.service), PrusaSlicer, OpenSCAD
# and bubblewrap (the runner's sandbox) from Debian, versitygw from the Go
# module proxy.
PG_BIN   := /usr/lib/postgresql/15/bin
DEB_TOOLS := /usr/bin/time:time git:git git-lfs:git-lfs admesh:admesh chromium:chromium xvfb-run:xvfb f3d:f3d xauth:xauth \
	$(PG_BIN)/initdb:postgresql $(PG_BIN)/pg_ctl:postgresql haproxy:haproxy systemd-analyze:systemd systemd-sysusers:systemd prusa-slicer:prusa-slicer openscad:openscad bwrap:bubblewrap
deps:
	@missing=""; for pair in $(DEB_TOOLS); do \
		cmd=$${pair%%:*}; pkg=$${pair#*:}; \
		command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@command -v versitygw >/dev/null 2>&1 || { echo "installing versitygw $(VERSITYGW_VERSION)"; GOFLAGS= $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION); }
	@git lfs version >/dev/null

test: deps
	$(GO) vet ./...
	$(MAKE) vulncheck
	$(GO) test -count=1 -timeout 30m ./...

# vulncheck: govulncheck over every package, offline: the database is the
# golang.org/x/vulndb module at VULNDB_VERSION (its OSV entries, laid out
# once in the user cache folder). Fails on a reachable vulnerability that
# vulncheck-allow.txt does not name with a reason.
GOVULNCHECK_VERSION := v1.9.0
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
vulncheck:
	@GOFLAGS= $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	$(GO) run ./internal/vulngate -vulndb $(VULNDB_VERSION) -allow vulncheck-allow.txt ./...

# test-short: unit tests only, no external programs.
test-short:
	$(GO) test -short ./...

# fuzz: run each parser's fuzz target for FUZZTIME (default 30s each).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# bench: every benchmark beside its peer, measured in the same run, as
# ratios. BENCH=git,render,formats,catalog,lfs,pages,print,access,bigfiles picks sections.
# BENCH=scale (a million parts, about an hour; not part of the default run)
# takes BENCH_FLAGS="-scale-parts 100000 -scale-for 10s" for a shorter run,
# and -scale-peer=false to skip the plain Bleve peer (most of the run's
# time; ours only, no ratios: a development loop, not a figure to report).
BENCH ?=
BENCH_FLAGS ?=
bench: deps build
	$(GO) run ./bench $(if $(BENCH),-only $(BENCH)) $(BENCH_FLAGS)

# loadtest: a server holding the corpus and 10k synthetic parts, 64 HTTP
# clients browsing and searching beside 8 git clients pushing, cloning and
# fetching for 2 minutes, all on loopback, beside a hostile client (tree
# bombs, pathological parts, slowloris); prints latencies, errors and the
# server's /metrics figures, and fails when a target is missed.
# LOADTEST_FLAGS="-duration 20s -parts 1000 -browsers 16" for a short run.
LOADTEST_FLAGS ?=
loadtest: deps build
	$(GO) run ./bench/loadtest $(LOADTEST_FLAGS)

# crashtest: the crash test (internal/trust) with CRASH_ROUNDS kills of the
# server (default 100; make test runs 20). CRASH_SEED=N replays a run's
# choices (the seed is printed).
CRASH_ROUNDS ?= 100
CRASH_SEED ?=
crashtest: deps
	BLUEPRINTS_CRASH_ROUNDS=$(CRASH_ROUNDS) BLUEPRINTS_CRASH_SEED=$(CRASH_SEED) $(GO) test -count=1 -timeout 60m -run '^TestCrash$$' -v ./internal/trust/

clean:
	rm -rf bin
