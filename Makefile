# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: setup system-deps demo test test-fast bench clean

setup:  ## install uv (pinned) and every package from the lock into .venv
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install -q "uv==$(UV_VERSION)"
	$(UV) sync --all-packages --frozen

system-deps:  ## Debian packages for browser, compose and broker tests
	@bash scripts/install-system-deps.sh

demo: setup  ## the whole bot in one process with the Viber simulator page
	$(UV) run --frozen python scripts/demo.py

test: setup system-deps  ## every test (broker tests need RabbitMQ on 127.0.0.1:5672)
	$(UV) run --frozen pytest $(PYTEST_ARGS)

test-fast: setup  ## unit and in-memory tests only
	$(UV) run --frozen pytest -m "not rabbitmq and not browser" $(PYTEST_ARGS)

bench: setup  ## benchmark on real RabbitMQ; prints figures
	$(UV) run --frozen python scripts/bench.py $(BENCH_ARGS)

clean:
	rm -rf .venv test-artifacts .pytest_cache
