#!/usr/bin/env bash
# Set up the local toolchain idempotently: a virtual environment with the runtime and dev
# dependencies, and the pinned Azurite from package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "==> installing Python dependencies"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
# The operator CLI (`blobsync`) as an installed entry point, with its declared dependencies.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .

if [ ! -x node_modules/.bin/azurite ] || ! grep -q '"version": "3.37.0"' node_modules/azurite/package.json 2>/dev/null; then
  echo "==> installing Azurite (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
