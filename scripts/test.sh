#!/usr/bin/env bash
# The one test command: set everything up, then lint, type-check and run the whole suite.
#   ./scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> mypy --strict (app code)"
.venv/bin/mypy
echo "==> pytest"
# Exit code 5 (no tests collected) is a failure here like any other non-zero code.
.venv/bin/python -m pytest "$@"
