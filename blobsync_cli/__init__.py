"""``blobsync``: command-line client of the blob sync HTTP API, for operators.

Layout:

* :mod:`blobsync_cli.client` - :class:`~blobsync_cli.client.BlobSyncClient`, one method per
  route, dicts in and out; :mod:`blobsync_cli.errors` - the exception tree and exit codes.
* :mod:`blobsync_cli.render` - rich tables for each resource; :mod:`blobsync_cli.follow` - the
  live progress bar (plain lines without a terminal).
* :mod:`blobsync_cli.cli` - the click commands (``blobsync --help``).
* :mod:`blobsync_cli.demo` - the one-command demo: Azurite, the dev host, a generated container
  and the wizard walked with these commands (``python -m blobsync_cli.demo --help``).
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
