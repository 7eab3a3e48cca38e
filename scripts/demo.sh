#!/usr/bin/env bash
# The main job in one command: set up (virtual environment, dependencies, Azurite), then run the
# service locally on generated media and walk the connection wizard with the `blobsync` CLI.
#   ./scripts/demo.sh                  # about half a minute; stops everything it started
#   ./scripts/demo.sh --keep-running   # leave Azurite and the dev host up (URLs printed) until Ctrl-C
#   ./scripts/demo.sh --assets 1000    # a bigger container (see --help for sizes and the seed)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python -m devtools.demo "$@"
