"""``python -m blobsync_cli``: the same as the ``blobsync`` command."""

from __future__ import annotations

import sys

from blobsync_cli.cli import run

if __name__ == "__main__":
    sys.exit(run(prog_name="python -m blobsync_cli"))
