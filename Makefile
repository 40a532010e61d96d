# `make quickstart` and `make test` work from a fresh clone: both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.unifer-installed
ARCH   := $(shell uname -m)
# The Qwen2.5-VL processor needs torchvision; these pairs are the tested builds (x86_64 / aarch64).
ifeq ($(ARCH),aarch64)
TORCH := torch==2.9.1 torchvision==0.24.1
else
TORCH := torch==2.14.1 torchvision==0.29.1
endif
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1

.PHONY: setup browser test quickstart clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): setup.py | $(PY)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev,train,space]"
	touch $@

setup: $(STAMP)

# The browser test drives Debian's chromium (CI runs as root on Debian); elsewhere it skips with a reason.
browser:
	command -v chromium >/dev/null || (command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq chromium) || echo "chromium not installed: the browser test will skip"

test: setup browser
	$(OFFLINE) $(PY) -m pytest

quickstart: setup
	$(OFFLINE) $(VENV)/bin/unifer quickstart $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info quickstart_out
