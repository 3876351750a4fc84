# wasmtask — see README.md. The two commands that matter:
#   make run    build the server and the example guests, start on ./data
#   make test   install what is missing, build the guests, run every test

GO        ?= go
BIN       := bin/wasmtask
ADDR      ?= 127.0.0.1:8080
DATA      ?= ./data
GOFILES   := $(shell find . -name '*.go' -not -path './guests/build/*' -not -path '*/node_modules/*' 2>/dev/null)

.PHONY: all build guests clients chromium test test-short run bench bench-full check fmt lint clean deps fuzz-short

all: build guests

# deps: Go modules (the Go toolchain itself comes with the machine).
deps:
	@command -v $(GO) >/dev/null || { echo "make: Go is not installed (https://go.dev/dl)"; exit 1; }
	$(GO) mod download
	cd bench && $(GO) mod download

build: $(BIN)

$(BIN): $(GOFILES) go.mod go.sum
	@mkdir -p bin
	$(GO) build -trimpath -o $@ ./cmd/wasmtask

guests: deps
	$(MAKE) -C guests all

# clients: the Webtask clients the tests drive unchanged (wt-cli, sandboxjs),
# pinned by host/api/testdata/clients/package-lock.json and installed with
# `npm ci` into a cache outside the repository, one folder per lock (the
# first 12 hex digits of its sha256; host/api/clients_test.go finds it the
# same way). Installed once: a folder with its stamp is never redone.
CLIENTS_SRC   := host/api/testdata/clients
CLIENTS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/wasmtask
CLIENTS_DIR   := $(CLIENTS_CACHE)/clients-$(shell sha256sum $(CLIENTS_SRC)/package-lock.json 2>/dev/null | cut -c1-12)
CLIENTS_STAMP := $(CLIENTS_DIR)/.installed

clients: $(CLIENTS_STAMP)

$(CLIENTS_STAMP):
	@command -v npm >/dev/null || { echo "make: npm is not installed (Node.js 18+, https://nodejs.org)"; exit 1; }
	@rm -rf $(CLIENTS_DIR).tmp && mkdir -p $(CLIENTS_DIR).tmp
	cp $(CLIENTS_SRC)/package.json $(CLIENTS_SRC)/package-lock.json $(CLIENTS_DIR).tmp/
	cd $(CLIENTS_DIR).tmp && npm ci --no-audit --no-fund
	@rm -rf $(CLIENTS_DIR) && mv $(CLIENTS_DIR).tmp $(CLIENTS_DIR) && touch $@

# chromium: the headless browser of the editor's browser tests
# (host/editor), Debian's chromium package, installed with apt-get when
# missing (as root, or with passwordless sudo; else the command to run).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  sudo=""; [ "$$(id -u)" = 0 ] || { sudo -n true 2>/dev/null && sudo="sudo -n"; } || \
	    { echo "make: Chromium is missing: sudo apt-get update && sudo apt-get install -y chromium"; exit 1; }; \
	  echo "make: installing chromium (apt-get)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium || \
	    { $$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq && $$sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium; }; }

# test: formatting and vet, then every package's tests (end-to-end tests use
# the guests and clients built above) and the bench module's, then the race
# detector on the concurrent parts.
test: deps guests clients chromium check
	$(GO) test -count=1 ./...
	cd bench && $(GO) test -count=1 ./...
	$(GO) test -count=1 -race ./store/... ./host/...
	$(MAKE) fuzz-short FUZZTIME=2s

# fuzz-short: every fuzz target (found by name) for FUZZTIME each, one
# `go test -fuzz` per target (it takes one at a time). The seed corpora of
# every target already run as tests above. On a loaded machine Go's fuzzing
# coordinator sometimes gives up on a slow worker ("context deadline
# exceeded", no failing input): that target runs once more; a real finding
# (a failing input) fails at once.
FUZZTIME ?= 3s
fuzz-short:
	@set -e; for f in $$(grep -rl --include='*_test.go' --exclude-dir=bench --exclude-dir=node_modules '^func Fuzz' . | sort); do \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "== $$(dirname $$f) $$t"; \
	    if ! out=$$($(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$(dirname $$f) 2>&1); then \
	      echo "$$out"; \
	      if echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input'; then \
	        echo "(the fuzzing coordinator timed out, not a finding: once more)"; \
	        $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$(dirname $$f); \
	      else exit 1; fi; \
	    else echo "$$out" | tail -1; fi; \
	  done; done

run: build guests
	@echo "starting wasmtask on http://$(ADDR) with data in $(DATA) (Ctrl-C stops it)"
	@echo "example guests are in guests/build/; see README.md for the curl tour"
	$(BIN) serve --addr $(ADDR) --data $(DATA)

# bench: the harness (bench/README.md) — quick (no soak, no micro), about 5 min on 2 cores; results in bench/results/.
# bench/ is its own module (it alone needs Extism), so it runs from there.
bench: build guests
	-$(MAKE) -s -C bench wrk
	cd bench && $(GO) run ./cmd/wasmtask-bench -server-bin $(abspath $(BIN))

# bench-full: the issue's sizes (1,000 containers x 10 webtasks) and a 3-min soak
# (fails unless the server's RSS and fds come back flat), about 31 min on 2 cores.
bench-full: build guests
	-$(MAKE) -s -C bench wrk
	cd bench && $(GO) run ./cmd/wasmtask-bench -full -server-bin $(abspath $(BIN))

check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

fmt:
	gofmt -w $(GOFILES)

lint: check

clean:
	rm -rf bin
	$(MAKE) -C guests clean
