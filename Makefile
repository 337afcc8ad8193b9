# One entry point for every task. The README's two commands are `make run` and `make test`.
.PHONY: setup run test test-rust test-python lint fmt check-deploy bench bench-gateway bench-oha bench-search bench-engine bench-scale bench-overload bench-gpu bench-gpu-prepare bench-prompt-cache

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
	DEVASSIST_REQUIRE_MODEL=1 DEVASSIST_REQUIRE_TOOLS=1 $(CARGO) test --workspace
	DEVASSIST_REQUIRE_TOOLS=1 DEVASSIST_BIN=$(CURDIR)/target/debug/devassist .venv/bin/python -m pytest tests/python $(PYTEST_ARGS)
	DEVASSIST_BIN=$(CURDIR)/target/debug/devassist deploy/validate.sh

## Build the container image here with Podman (base from mmdebstrap, no registry) and run it
## with chroot: healthcheck, /api/tags and a chat on the baked default model (~1 min; ~2.5 min
## the first time, building the base image). Needs root. See docs/deploy.md.
## (The debug binary that `make test` builds: the check is about the image, not the speed.)
check-deploy: setup
	$(CARGO) build -p devassist
	deploy/check-image.sh $${CARGO_TARGET_DIR:-$(CURDIR)/target}/debug/devassist

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench: bench-gateway bench-scale

LITELLM_VENV ?= bench/.venv-litellm
LITELLM_VERSION ?= 1.74.9
BENCH_BIN = $${CARGO_TARGET_DIR:-$(CURDIR)/target}/release

## Gateway overhead, direct vs devassist (without and with API-key auth, limits in memory and in Redis) vs LiteLLM, in one run (~20 min): bench/results/gateway.{md,json,png}.
## Latency phases run under SCHED_RR (--realtime), the rate search at nice -10, so other work on the machine disturbs the figures less.
bench-gateway:
	$(CARGO) build --release -p devassist -p devassist-bench-gateway --no-default-features
	bench/gateway/setup-litellm.sh $(LITELLM_VENV) $(LITELLM_VERSION)
	command -v redis-server >/dev/null || apt-get install -y -qq redis-server
	nice -n -10 timeout 1800 $(BENCH_BIN)/bench-gateway run --devassist $(BENCH_BIN)/devassist --litellm-venv $(LITELLM_VENV) --realtime --redis --out bench/results
	$(LITELLM_VENV)/bin/python bench/gateway/plot.py bench/results/gateway.json bench/results/gateway.png

## Independent check of bench-gateway's added latency (~6 min): oha (open loop, 32 connections,
## latency correction) at 1,000 RPS against nginx, direct vs through devassist in alternating
## rounds, then bench-gateway's fixed-rate phases against the same nginx, all under SCHED_RR.
## Needs oha (cargo install oha --locked) and nginx (apt-get install nginx-light).
## Writes bench/results/oha-check.{md,json}.
bench-oha:
	command -v oha >/dev/null || $(CARGO) install oha --locked
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt-get install -y -qq nginx-light
	$(CARGO) build --release -p devassist -p devassist-bench-gateway --no-default-features
	nice -n -10 bench/gateway/oha-check.sh --devassist $(BENCH_BIN)/devassist --bench-gateway $(BENCH_BIN)/bench-gateway --realtime --out bench/results

## Docs search: index build time and size, recall@5 / MRR on the Python docs question set
## (as written and with typos), query latency; installs python3.11-doc if missing (~1 min).
## Writes bench/results/search.md.
bench-search:
	bench/search/run.sh

## Embedded engine vs llama-cpp-python's server (same GGUF, threads, prompts), one run
## (~4 min; the first run also compiles llama-cpp-python, 5-10 min). Writes bench/results/engine.md.
bench-engine:
	bench/engine/run.sh

## The engine on one NVIDIA GPU vs llama-server and llama-batched-bench (docs/engine.md, "GPU benchmark").
## bench-gpu-prepare (here: Rust, network): the engine built with `dynamic-link`, the llama.cpp source
## and the tokenizer into bench/gpu/.work/carry. bench-gpu (on the GPU machine: CUDA, CMake, Python):
## builds llama.cpp with CUDA, runs bench/gpu/device-run.sh (~9 min), writes bench/results/gpu.md.
bench-gpu-prepare:
	bench/gpu/prepare.sh

bench-gpu:
	test -f bench/gpu/.work/carry/devassist-engine || bench/gpu/prepare.sh
	OUT=$(CURDIR)/bench/gpu/.work/out bash bench/gpu/device-run.sh
	cp bench/gpu/.work/out/gpu.md bench/results/gpu.md

## Scale to zero: wake latency the gateway adds (first byte minus backend ready; target p99
## <= 50 ms) and lost requests across 20 stop/wake cycles under continuous load (target 0),
## with tests/python/fake_backend.py as the backend (~1 min). Writes bench/results/scale.{md,json}.
bench-scale:
	$(CARGO) build --release -p devassist --no-default-features
	nice -n -10 .venv/bin/python bench/scale/bench_scale.py --devassist $(BENCH_BIN)/devassist --out bench/results

## Overload: 1,000 RPS for 10 s at a hung model (each request on its own connection, held open)
## while a healthy model is asked once a second, with and without a per-backend cap (~3 min):
## 503 latency, healthy answers, RSS peak and 60 s later. Writes bench/results/overload.{md,json}.
bench-overload:
	$(CARGO) build --release -p devassist --no-default-features
	nice -n -10 .venv/bin/python bench/overload/run.py --devassist $(BENCH_BIN)/devassist --out bench/results

## Prompt caching through Claude Code's billing line (~2 min): turn-1 vs turn-2 TTFT over a
## ~3,000-token system prompt on the default model, the billing line's nonce changing between
## turns, with the line removed (default) and kept (`volatile_lines = []`).
## Writes bench/results/prompt-cache.{md,json}.
bench-prompt-cache:
	$(CARGO) build --release -p devassist
	.venv/bin/python bench/prompt_cache/run.py --devassist $(BENCH_BIN)/devassist --out bench/results
