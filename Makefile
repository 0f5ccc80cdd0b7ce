# zipcast — two commands on a fresh clone:
#   make run    set everything up, then run the national job on synthetic forecasts (SQLite)
#   make test   set everything up, then run the whole test suite (what .ci/run calls)
# Everything is pinned in uv.lock; uv itself is pinned below and installed into .tools/.

PYTHON ?= python3.11
UV_VERSION := 0.13.9
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180

.PHONY: setup run test test-fast bench lint system-deps clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --compile-bytecode --python $(PYTHON)
	touch $@

# Bytecode is compiled here, once: with PYTHONDONTWRITEBYTECODE set (as on our machines) every
# process would otherwise compile ~2,500 modules from source, 3.4 s of each `zipcast run`.
# compileall skips what is up to date; a module edited since is compiled in memory as usual.
setup: .venv/.synced
	@.venv/bin/python -m compileall -q -j0 pipeline flows
	@$(MAKE) --no-print-directory .venv/.numba-warm

# numba compiles a kernel on its first call (about 20 s for a national run's, one at a time);
# setup compiles them once into their cache, in two processes side by side (about 14 s), so
# the first `zipcast run` loads them. Again only when a kernel's source changes.
KERNELS := pipeline/cluster/_kernels.py pipeline/sources/synthetic.py pipeline/truth/_boxes.py
.venv/.numba-warm: .venv/.synced $(KERNELS) scripts/warm_numba.py
	.venv/bin/python scripts/warm_numba.py
	@touch $@

system-deps:
	@bash scripts/system-deps.sh

run: setup
	.venv/bin/zipcast run

test: setup system-deps lint
	.venv/bin/python -m pytest

# the unit tests: no national runs, no Prefect server (those are marked slow / prefect)
test-fast: setup
	.venv/bin/python -m pytest -m "not slow and not prefect"

bench: setup
	.venv/bin/python bench/bench_cluster.py
	.venv/bin/python bench/bench_run.py

# style and types, then the layers: lower modules never import higher ones (pyproject.toml)
lint: setup
	.venv/bin/ruff check pipeline flows tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports

clean:
	rm -rf .venv .tools
