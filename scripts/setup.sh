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

if [ ! -x node_modules/.bin/azurite ] || ! grep -q '"version": "3.37.0"' node_modules/azurite/package.json 2>/dev/null \
  || [ ! -f node_modules/axe-core/axe.min.js ]; then
  echo "==> installing Azurite and axe-core (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The web console's browser tests drive Debian's Chromium through Playwright's executable path
# (no browser download). Installed once, as root (CI runs as root on a fresh machine).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Chromium (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "==> Chromium is missing: install Debian's 'chromium' package for the console tests" >&2
  fi
fi
