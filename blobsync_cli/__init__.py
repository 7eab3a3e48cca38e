"""``blobsync``: command-line client of the blob sync HTTP API, for operators.

Layout:

* :mod:`blobsync_cli.client` - :class:`~blobsync_cli.client.BlobSyncClient`, one method per
  route, dicts in and out; :mod:`blobsync_cli.errors` - the exception tree and exit codes.
* :mod:`blobsync_cli.render` - rich tables for each resource; :mod:`blobsync_cli.follow` - the
  live progress bar (plain lines without a terminal).
* :mod:`blobsync_cli.cli` - the click commands (``blobsync --help``).

Its own distribution (``pip install .`` from a checkout; dependencies click, rich and httpx): it
imports nothing from the service (``tests/test_layering.py`` holds it to that). The one-command
demo, which needs the dev host and the media generators, is dev tooling: ``devtools/demo.py``.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
