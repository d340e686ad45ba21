# sgde: the targets a contributor and CI use. `make demo` and `make test` are the two that
# matter; README.md starts with them.

GO                  ?= go
BIN                 := bin/sgde
# staticcheck is run from the module proxy at a pinned version (no global install needed).
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME            ?= 30s

# Tools the tests need that Go does not provide, as COMMAND:DEBIAN_PACKAGE pairs. `make deps`
# installs the missing ones with apt-get when running as root and says what to install
# otherwise. Add yours here (npm tools: see NPM_TOOLS).
DEBIAN_TOOLS        ?= wasm-validate:wabt
# npm packages tests need, as COMMAND:PACKAGE@VERSION pairs, installed globally when missing.
NPM_TOOLS           ?=

.PHONY: all build test bench lint demo deps fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/sgde

deps:
	@missing=""; \
	for pair in $(DEBIAN_TOOLS); do \
		cmd=$${pair%%:*}; pkg=$${pair#*:}; \
		command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "deps: installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else \
			echo "deps: missing Debian packages:$$missing (install them: sudo apt-get install$$missing)" >&2; exit 1; \
		fi; \
	fi
	@for pair in $(NPM_TOOLS); do \
		cmd=$${pair%%:*}; pkg=$${pair#*:}; \
		if ! command -v $$cmd >/dev/null 2>&1; then \
			echo "deps: installing npm package $$pkg"; npm install -g --no-fund --no-audit $$pkg || exit 1; \
		fi; \
	done

test: deps
	$(GO) vet ./...
	$(GO) test -race ./...
	@# The wasmtime engine (cgo) and the differential suite that runs every hostile case and PAL
	@# program on both engines; skipped, with a notice, where cgo has no C compiler.
	@if [ "$$($(GO) env CGO_ENABLED)" = 1 ]; then \
		echo "$(GO) test -race -tags wasmtime (sandbox: wasmtime engine + differential; cmd/sgde: --engine)"; \
		$(GO) vet -tags wasmtime ./sandbox ./cmd/sgde && \
		$(GO) test -race -timeout 30m -tags wasmtime -run 'Wasmtime|WASI|Differential' ./sandbox && \
		$(GO) test -race -tags wasmtime -run 'Engine' ./cmd/sgde; \
	else \
		echo "test: cgo is unavailable (no C compiler): skipping the wasmtime engine and the differential suite"; \
	fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@out=$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# Fuzz the plan parser and the output parsers for FUZZTIME each (go test runs one fuzz target
# at a time).
fuzz:
	$(GO) test ./plans -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./plans -run '^$$' -fuzz '^FuzzParseOutput$$' -fuzztime $(FUZZTIME)

# The demo does real work with what exists: it validates the example plans (printing their
# digests), draws the compiled GSM-Hard plan, writes DOT files for all examples to out/, and
# shows that broken plans are rejected with file, line and node.
demo: build
	@echo "== sgde validate: the example plans and their content digests"
	./$(BIN) validate testdata/plans/*.yaml
	@echo
	@echo "== sgde graph: the compiled GSM-Hard plan (Mermaid; paste into https://mermaid.live)"
	./$(BIN) graph testdata/plans/gsm-hard-compiled.yaml
	@mkdir -p out
	@for p in testdata/plans/*.yaml; do \
		./$(BIN) graph --format dot $$p > out/$$(basename $$p .yaml).dot || exit 1; \
	done
	@echo "   (Graphviz versions in out/*.dot: dot -Tsvg out/gsm-hard-compiled.dot > plan.svg)"
	@echo
	@echo "== sgde validate on broken plans: every problem with file, line and node (exit 1 expected)"
	@./$(BIN) validate testdata/plans/invalid/*.yaml testdata/plans/invalid/*.json; \
		rc=$$?; if [ $$rc -ne 1 ]; then echo "demo: expected exit 1, got $$rc" >&2; exit 1; fi

clean:
	rm -rf bin out
