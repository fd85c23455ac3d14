# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV_VERSION := 0.13.9
# A uv already on PATH is used as it is; otherwise `make setup` installs the pinned one
# into a project-local virtualenv (.tools/): a fresh Debian has no `python3 -m pip`,
# and PEP 668 forbids installing into the system Python anyway.
TOOLS := $(CURDIR)/.tools
UV := $(or $(shell command -v uv 2>/dev/null),$(TOOLS)/bin/uv)
export UV

.PHONY: setup system-deps demo test test-fast bench bench-mailing bench-amqp bench-faq clean

setup:  ## install uv (pinned) when it isn't on PATH, and every package from the lock into .venv
	@if [ ! -x "$(UV)" ]; then \
	  echo "installing uv $(UV_VERSION) into $(TOOLS)"; \
	  rm -rf "$(TOOLS)"; \
	  if ! python3 -m venv "$(TOOLS)"; then \
	    rm -rf "$(TOOLS)"; \
	    echo "make setup: 'python3 -m venv' failed, so uv can't be installed. Install Python's venv module" >&2; \
	    echo "(Debian/Ubuntu: apt-get install python3-venv) or put uv on PATH, then run make again." >&2; \
	    exit 1; \
	  fi; \
	  "$(TOOLS)/bin/pip" install -q "uv==$(UV_VERSION)" || { rm -rf "$(TOOLS)"; exit 1; }; \
	fi
	"$(UV)" sync --all-packages --frozen

system-deps:  ## Debian packages for browser, compose and broker tests
	@bash scripts/install-system-deps.sh

demo: setup  ## the whole bot in one process with the Viber simulator page
	"$(UV)" run --frozen python scripts/demo.py

test: setup system-deps  ## every test (broker tests need RabbitMQ on 127.0.0.1:5672)
	bash scripts/run-tests.sh $(PYTEST_ARGS)

test-fast: setup  ## unit and in-memory tests only
	bash scripts/run-tests.sh -m "not rabbitmq and not browser" $(PYTEST_ARGS)

bench: setup  ## benchmark on real RabbitMQ; prints figures
	"$(UV)" run --frozen python scripts/bench.py $(BENCH_ARGS)

bench-mailing: setup  ## outage mailing benchmark on real RabbitMQ: 50 000 and 300 000 recipients; prints figures
	"$(UV)" run --frozen python scripts/bench_mailing.py $(BENCH_ARGS)

bench-amqp: setup  ## what the RabbitMQ client and the bus cost per message on their own (the floor under make bench)
	"$(UV)" run --frozen python scripts/bench_amqp.py $(BENCH_ARGS)

bench-faq: setup  ## question answering (C3): accuracy on the evaluation set, declines, latency for 1 000 entries, memory
	"$(UV)" run --frozen python scripts/bench_faq.py $(BENCH_ARGS)

.PHONY: replay
replay: setup  ## move parked messages back: make replay QUEUE=dialog.inbound.dead [REPLAY_ARGS="--dry-run --limit N"]
	@if [ -z "$(QUEUE)" ]; then \
	  echo "usage: make replay QUEUE=<queue>.dead [REPLAY_ARGS=\"--dry-run --limit N\"] (broker: AMQP_URL)" >&2; \
	  exit 2; \
	fi
	"$(UV)" run --frozen python -m chatbot_common.replay $(QUEUE) $(REPLAY_ARGS)

clean:
	rm -rf .venv .tools test-artifacts .pytest_cache
