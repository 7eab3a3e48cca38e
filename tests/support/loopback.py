"""A loopback HTTP server on a free port, served from a daemon thread, for stand-ins and proxies."""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test log clean and answers with :meth:`reply`."""

    def reply(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        length: str | None = None,
    ) -> None:
        """Send ``status``, ``headers`` and ``body`` (no body for HEAD); ``length`` overrides the
        Content-Length (a HEAD answer carries the length of the body it does not send)."""
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", length or str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopbackServer:
    """``handler`` served on ``127.0.0.1`` (a free port) until :meth:`close`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def wait_for_https(
    url: str, ca_file: Path, process: subprocess.Popen[bytes], timeout: float, interval: float
) -> bool:
    """Poll ``url`` until it answers over HTTPS (any status counts: an error answer is an answer)
    and return True; False once ``process`` (the server) has exited or ``timeout`` has passed."""
    context = ssl.create_default_context(cafile=str(ca_file))
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2, context=context)
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(interval)
