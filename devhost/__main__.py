"""``python -m devhost [APP_DIR] [--port N] [--require-keys] [--http-response-limit S]``.

Run a function app locally.

Settings: ``local.settings.json`` ``Values`` are copied into the environment unless a variable of
the same name is already set (the environment wins, as with Core Tools). Task-hub storage is the
``AzureWebJobsStorage`` connection string (``UseDevelopmentStorage=true`` = Azurite's default
ports). Stop with Ctrl+C or SIGTERM; running instances resume at the next start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from azure.core.exceptions import AzureError

from devhost.config import ConfigError
from devhost.host import DevHost, HostOptions
from devhost.http_server import HTTP_RESPONSE_LIMIT_SECONDS
from devhost.loader import FunctionLoadError
from devhost.logs import configure_logging

logger = logging.getLogger("devhost")

EXIT_LOAD_ERROR = 3
EXIT_LISTEN_ERROR = 4
EXIT_STORAGE_ERROR = 5


def parse_args(argv: list[str] | None = None) -> HostOptions:
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description="Run an Azure Functions Python app (v2 model, Durable Functions) locally.",
    )
    parser.add_argument("app_dir", nargs="?", default=".", help="the app folder (default: .)")
    parser.add_argument(
        "--port", type=int, default=None, help="HTTP port (default: local.settings.json or 7071)"
    )
    parser.add_argument("--bind", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--require-keys",
        action="store_true",
        help="enforce function/admin keys as Azure does (default: open, like func start)",
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="where keys.json lives (default: <app_dir>/.devhost)",
    )
    parser.add_argument(
        "--http-response-limit",
        type=float,
        default=HTTP_RESPONSE_LIMIT_SECONDS,
        metavar="SECONDS",
        help="answer an HTTP request that has no response after this long with the Azure front "
        "end's 500 'request timed out' (default 230, as in Azure)",
    )
    args = parser.parse_args(argv)
    if args.http_response_limit <= 0:
        parser.error("--http-response-limit must be positive")
    app_dir = Path(args.app_dir).resolve()
    return HostOptions(
        app_dir=app_dir,
        port=args.port,
        bind=args.bind,
        require_keys=args.require_keys,
        workspace=args.workspace.resolve() if args.workspace else None,
        http_response_limit_s=args.http_response_limit,
    )


async def run(options: HostOptions) -> int:
    host = DevHost(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        try:
            await host.start()
        except (FunctionLoadError, ConfigError) as exc:
            logger.error("The function app cannot be loaded: %s", exc)
            return EXIT_LOAD_ERROR
        except OSError as exc:  # e.g. the port is taken
            logger.error("The dev host cannot listen: %s", exc)
            return EXIT_LISTEN_ERROR
        except AzureError as exc:
            logger.error(
                "The task hub storage (AzureWebJobsStorage) cannot be used: %s",
                str(exc).splitlines()[0],
            )
            return EXIT_STORAGE_ERROR
        await stop.wait()
        logger.info("Stopping the dev host")
    finally:
        await host.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    configure_logging()
    if not options.app_dir.is_dir():
        logger.error("%s is not a folder", options.app_dir)
        return 2
    os.chdir(options.app_dir)  # the worker's cwd is the app root
    if str(options.app_dir) not in sys.path:
        sys.path.insert(0, str(options.app_dir))
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
