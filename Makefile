# One entry point for every task. The README's two commands are `make run` and `make test`.
.PHONY: setup run test test-rust test-python lint fmt bench

CARGO ?= cargo
PYTEST_ARGS ?= -q

setup:
	scripts/setup.sh

## Set everything up and run devassist on its embedded default model (127.0.0.1:11434).
run: setup
	$(CARGO) run --release -p devassist -- serve

## Set everything up and run the whole test suite.
test: setup
	$(CARGO) build --workspace --all-targets
	$(CARGO) test --workspace
	DEVASSIST_BIN=$(CURDIR)/target/debug/devassist .venv/bin/python -m pytest tests/python $(PYTEST_ARGS)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
