#!/usr/bin/env bash
# benchmarks/device_check.py on a GPU machine that lacks unifer's training extras: the wheels carried in
# $UNIFER_WHEELS (default .whl/; docs/performance.md says which, and how to fetch them) are installed into a scratch
# folder on PYTHONPATH first. Arguments pass through to the script.
set -euo pipefail
cd "$(dirname "$0")/.."
wheels="${UNIFER_WHEELS:-.whl}"
if compgen -G "$wheels/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/unifer-wheels "$wheels"/*.whl
  export PYTHONPATH="/tmp/unifer-wheels${PYTHONPATH:+:$PYTHONPATH}"
fi
PYTHONUNBUFFERED=1 exec python3 benchmarks/device_check.py "$@"
