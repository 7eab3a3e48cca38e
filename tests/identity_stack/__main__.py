"""Run the local identity stack by hand: ``python -m tests.identity_stack [workspace]``.

Starts the stack with one customer tenant owning ``contosomedia`` (the platform app registered,
Storage Blob Data Reader on the account with the condition for container ``media``, CORS for the
platform origin) and prints the app settings that point azure mode at it. Ctrl-C stops it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import threading
from pathlib import Path

from tests.identity_stack.stack import running_stack


def main(argv: list[str]) -> int:
    workspace = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="identity-stack-"))
    with running_stack(workspace, ("contosomedia",)) as stack:
        tenant = stack.new_tenant()
        stack.add_account("contosomedia", tenant)
        stack.register_app(tenant)
        stack.assign_reader("contosomedia", condition="media")
        stack.set_cors("contosomedia", "https://vi.datature.com")
        print(json.dumps({"customerTenant": tenant, "settings": stack.app_settings()}, indent=2))
        print(f"Azurite (shared key, to upload blobs): {stack.azurite.endpoint}/contosomedia")
        print("Ctrl-C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
