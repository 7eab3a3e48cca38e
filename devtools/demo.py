"""The one-command demo: ``python -m devtools.demo`` (``./scripts/demo.sh`` sets up first).

It starts Azurite (the platform's account ``devstoreaccount1`` and a customer account
``contosodemo``) and the function app under the dev host, fills a customer container with
generated, realistic media (``mediagen.mixed_set`` with a fixed seed plus a handful of planted
failures so every skip reason shows up), then walks the wizard with the ``blobsync`` commands
themselves: org set -> connect (setup instructions) -> test -> preview -> sync (live progress) ->
skip report -> usage. It checks the outcome (every planted failure skipped with its reason),
prints a summary, and stops what it started - or, with ``--keep-running``, keeps Azurite and the
dev host up and prints the URLs until Ctrl-C.

Dev tooling only: it imports ``devhost`` and ``mediagen`` from the repository root, so it lives
here rather than in the installable ``blobsync_cli`` package (which imports nothing but its own
declared dependencies).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click
from azure.storage.blob import ContainerClient
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import mediagen
from blobsync_cli.cli import run as run_cli
from blobsync_cli.client import DEFAULT_BASE_URL, BlobSyncClient
from blobsync_cli.errors import ExitCode
from devhost.azurite import (
    DEV_ACCOUNT,
    PROJECT_ROOT,
    Azurite,
    EmulatorAccount,
    emulator_app_settings,
    free_port,
)
from devhost.testing import DevHostProcess

__all__ = ["PLANTED", "build_corpus", "main"]

CUSTOMER_ACCOUNT = "contosodemo"
CONTAINER = "field-media"
ORG = "contoso"
DATASET = "street-scenes"
CONNECTION_NAME = "Field media"
QUOTA = 100_000
#: Reasons a container of real-world files produces (quota and read failures are situational).
EXPECTED_REASONS = (
    "exif_orientation",
    "mp4_major_brand",
    "video_pixel_format",
    "corrupt",
    "empty",
    "unsupported_format",
)


@dataclass(frozen=True)
class Planted:
    """A file the demo adds on purpose, with the skip reason the sync must give it."""

    name: str
    reason: str
    why: str


PLANTED = (
    Planted("uploads/phone/PXL_20240517_091233.jpg", "exif_orientation", "EXIF orientation 6"),
    Planted("uploads/gopro/GX010042.mp4", "mp4_major_brand", "major brand isom"),
    Planted("uploads/itunes/trailer.m4v", "mp4_major_brand", "major brand M4V"),
    Planted("uploads/editor/export_444.mp4", "video_pixel_format", "yuv444p"),
    Planted("uploads/webcam/stream_fullrange.mp4", "video_pixel_format", "yuvj420p"),
    Planted("uploads/hdr/clip_10bit.mp4", "video_pixel_format", "yuv420p10le"),
    Planted("uploads/interrupted/upload_partial.mp4", "corrupt", "cut short"),
    Planted("uploads/placeholders/pending.mp4", "empty", "zero bytes"),
    Planted("uploads/phone/IMG_4032.heic", "unsupported_format", "HEIC"),
    Planted("uploads/dashcam/segment_0001.ts", "unsupported_format", "MPEG-TS"),
)


def _planted_bytes(
    name: str, image_size: tuple[int, int], video_size: tuple[int, int], seconds: float
) -> bytes:
    w, h = image_size
    vs, sec = video_size, seconds
    makers: dict[str, Callable[[], bytes]] = {
        PLANTED[0].name: lambda: mediagen.jpeg(w, h, orientation=6, seed=901),
        PLANTED[1].name: lambda: mediagen.mp4(brand="isom", size=vs, seconds=sec, seed=902),
        PLANTED[2].name: lambda: mediagen.m4v(size=vs, seconds=sec, seed=903),
        PLANTED[3].name: lambda: mediagen.mp4(pix_fmt="yuv444p", size=vs, seconds=sec, seed=904),
        PLANTED[4].name: lambda: mediagen.mp4(pix_fmt="yuvj420p", size=vs, seconds=sec, seed=905),
        PLANTED[5].name: lambda: mediagen.mp4(
            pix_fmt="yuv420p10le", size=vs, seconds=sec, seed=906
        ),
        PLANTED[6].name: lambda: mediagen.truncate(
            mediagen.mp4(faststart=False, size=vs, seconds=sec, seed=907), 0.5
        ),
        PLANTED[7].name: lambda: b"",
        PLANTED[8].name: lambda: mediagen.heic_like(seed=908),
        PLANTED[9].name: lambda: mediagen.mpegts(size=vs, seconds=sec / 2, seed=909),
    }
    return makers[name]()


def build_corpus(
    n: int,
    seed: int,
    *,
    image_size: tuple[int, int] = (640, 480),
    video_size: tuple[int, int] = (160, 120),
    video_seconds: float = 1.0,
) -> list[tuple[str, bytes]]:
    """``n`` realistic files from ``mediagen.mixed_set`` plus the :data:`PLANTED` failures."""
    files = mediagen.mixed_set(
        n, seed, image_size=image_size, video_size=video_size, video_seconds=video_seconds
    )
    files += [
        (p.name, _planted_bytes(p.name, image_size, video_size, video_seconds)) for p in PLANTED
    ]
    return files


# -- processes -----------------------------------------------------------------------------------


@dataclass
class Stack:
    """Azurite and the dev host the demo started (stopped by :meth:`stop`, idempotent)."""

    workspace: Path
    azurite: Azurite | None = None
    host: DevHostProcess | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def stop(self) -> None:
        if self.host is not None:
            self.host.stop()
            self.host = None
        if self.azurite is not None:
            self.azurite.stop()
            self.azurite = None
        shutil.rmtree(self.workspace, ignore_errors=True)


def _host_port(requested: int | None) -> int:
    """The requested port, else 7071 (the CLI's default) when free, else any free port."""
    if requested:
        return requested
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", 7071))
        except OSError:
            return free_port()
    return 7071


def _host_env(
    azurite: Azurite, platform: EmulatorAccount, customer: EmulatorAccount
) -> dict[str, str]:
    return emulator_app_settings(
        platform,
        [customer],
        blob_endpoint=f"http://{azurite.host}:{azurite.blob_port}",
        PLATFORM_APP_CLIENT_ID="00000000-0000-0000-0000-000000000000",
        # Small pages and batches so a few hundred files move the progress bar in steps.
        SYNC_PAGE_SIZE="100",
        SYNC_BATCH_SIZE="25",
        SYNC_BATCHES_IN_FLIGHT="2",
    )


def _upload(console: Console, account: EmulatorAccount, files: list[tuple[str, bytes]]) -> None:
    container = ContainerClient.from_connection_string(account.connection_string, CONTAINER)
    container.create_container()
    progress = Progress(
        TextColumn("uploading"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress, ThreadPoolExecutor(max_workers=8) as pool:
        task = progress.add_task("upload", total=len(files))
        futures = [
            pool.submit(container.upload_blob, name, data, overwrite=True) for name, data in files
        ]
        for future in futures:
            future.result()
            progress.advance(task)
    container.close()


# -- output helpers ------------------------------------------------------------------------------


def _prog() -> str:
    """How the user runs the CLI here: ``blobsync`` when installed, else ``python -m``."""
    if shutil.which("blobsync"):
        return "blobsync"
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        return f"{python.relative_to(Path.cwd())} -m blobsync_cli"
    return "python -m blobsync_cli"


class Walker:
    """Runs ``blobsync`` commands in this process, echoing each command line first."""

    def __init__(self, console: Console, prog: str, base_url: str) -> None:
        self.console, self.prog, self.base_url = console, prog, base_url
        self.step = 0

    def header(self, title: str) -> None:
        self.step += 1
        self.console.print()
        self.console.rule(f"[bold]{self.step}. {title}", align="left")

    def run(self, *args: str, allowed: tuple[int, ...] = (0,)) -> int:
        shown = " ".join(shlex.quote(a) for a in args)
        self.console.print(
            f"[bold green]$[/bold green] [bold]{self.prog} {shown}[/bold]", soft_wrap=True
        )
        code = run_cli(list(args), prog_name=self.prog)
        sys.stdout.flush()
        if code == ExitCode.INTERRUPTED:
            raise KeyboardInterrupt
        if code not in allowed:
            raise StepFailed(shown, code)
        return code


class StepFailed(Exception):
    def __init__(self, command: str, code: int) -> None:
        super().__init__(f"`{command}` exited with {code}")
        self.code = code


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:.1f}s"


def _summary(
    console: Console,
    files: list[tuple[str, bytes]],
    view: dict[str, Any],
    problems: list[str],
    timings: dict[str, float],
    usage: dict[str, Any],
) -> None:
    counts = view.get("counts") or {}
    reasons = counts.get("skippedByReason") or {}
    table = Table(title="Demo summary", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    size = sum(len(data) for _, data in files) / 1e6
    table.add_row(
        "Container",
        f"{CUSTOMER_ACCOUNT}/{CONTAINER}: {len(files)} files, {size:.1f} MB in "
        f"{len({name.rsplit('/', 1)[0] for name, _ in files})} folders",
    )
    status = str(view.get("status"))
    style = "green" if status == "completed" else "red"
    took = ""
    if view.get("finishedAt"):
        seconds = (
            datetime.fromisoformat(str(view["finishedAt"]))
            - datetime.fromisoformat(str(view["startedAt"]))
        ).total_seconds()
        rate = int(view.get("processed") or 0) / seconds if seconds > 0 else 0
        took = f" in {seconds:.1f}s ({rate:.0f} files/s)"
    table.add_row(
        "Sync",
        f"[{style}]{status}[/{style}]: {view.get('processed')}/{view.get('total')} processed"
        f"{took}, run {view.get('runId')}",
    )
    table.add_row(
        "Synced",
        f"{counts.get('synced', 0):,} assets, {int(view.get('dataRowsCharged') or 0):,} data rows",
    )
    table.add_row(
        "Skipped",
        f"{counts.get('skipped', 0)}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])),
    )
    table.add_row("Ignored", f"{counts.get('ignored', 0)} (not images or videos)")
    table.add_row(
        "Quota",
        f"{usage.get('used', 0):,} of {usage.get('limit', 0):,} data rows used in {usage.get('month')}",
    )
    check = "[green]every planted failure skipped with its reason; all six reasons shown[/green]"
    table.add_row("Checks", check if not problems else "[red]" + "; ".join(problems) + "[/red]")
    table.add_row(
        "Timings",
        ", ".join(f"{k} {_fmt_seconds(v)}" for k, v in timings.items()),
    )
    console.print()
    console.print(table)


def _verify(client: BlobSyncClient, conn: str, view: dict[str, Any]) -> list[str]:
    """What the user would notice is wrong: the run, missing reasons, planted files mis-judged."""
    problems = []
    if view.get("status") != "completed":
        problems.append(f"the run ended {view.get('status')}")
    reasons = (view.get("counts") or {}).get("skippedByReason") or {}
    missing = [r for r in EXPECTED_REASONS if not reasons.get(r)]
    if missing:
        problems.append("no file skipped for " + ", ".join(missing))
    skipped = {a["name"]: a.get("reason") for a in client.iter_assets(ORG, conn, status="skipped")}
    for planted in PLANTED:
        got = skipped.get(planted.name)
        if got != planted.reason:
            problems.append(
                f"{planted.name}: expected {planted.reason}, got {got or 'not skipped'}"
            )
    return problems


def _keep_running(console: Console, stack: Stack, conn: str, prog: str) -> None:
    assert stack.azurite is not None and stack.host is not None
    platform = stack.azurite.account(DEV_ACCOUNT)
    customer = stack.azurite.account(CUSTOMER_ACCOUNT)
    base = stack.host.base_url
    console.print()
    console.rule("[bold]Still running (Ctrl-C stops everything)", align="left")
    rows = [
        ("API", f"{base}/api  (contract: {base}/api/openapi.json)"),
        ("Web console", f"{base}/api/console/  (organisation {ORG}, no key needed locally)"),
        ("Customer blobs", customer.blob_endpoint + f"/{CONTAINER}"),
        ("Metadata tables", platform.table_endpoint),
        ("Dev host log", str(stack.host.log_path)),
    ]
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    console.print(
        "[bold]Storage Explorer[/bold]: Attach to a resource > Storage account > Connection string "
        "(local emulator keys, not secrets):"
    )
    for account in (customer, platform):
        console.print(f"  {account.name}:", style="dim")
        console.print("  " + account.connection_string, soft_wrap=True, markup=False)
    console.print("[bold]Try[/bold] (in another shell):")
    if base != DEFAULT_BASE_URL:
        console.print(f"  export BLOBSYNC_URL={base}", soft_wrap=True, markup=False)
    for args in (
        f"status {ORG} {conn} --follow",
        f"sync {ORG} {conn}",
        f"skipped {ORG} {conn} --reason exif_orientation --csv",
        f"runs {ORG} {conn}",
        f"list {ORG}",
    ):
        console.print(f"  {prog} {args}", soft_wrap=True, markup=False)
    while stack.host.running and stack.azurite.pid is not None:
        time.sleep(0.5)
    console.print("[red]The dev host stopped; see its log.[/red]")


class Terminated(Exception):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C so every started process is stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt (even when started in the background, where a shell
    ignores SIGINT); SIGTERM and SIGHUP raise :class:`Terminated`."""
    handlers: dict[signal.Signals, Any] = {
        signal.SIGINT: signal.default_int_handler,
        signal.SIGTERM: _raise_terminated,
        signal.SIGHUP: _raise_terminated,
    }
    previous = {s: signal.signal(s, handler) for s, handler in handlers.items()}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter("use WIDTHxHEIGHT, e.g. 640x480") from None
    if w < 16 or h < 16:
        raise click.BadParameter("at least 16x16")
    return w, h


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--assets",
    type=click.IntRange(10, 100_000),
    default=360,
    show_default=True,
    help="Generated files (plus 10 planted failures). ~360 keeps the demo around 30 s here.",
)
@click.option("--seed", type=int, default=2024, show_default=True, help="Corpus seed.")
@click.option("--image-size", default="640x480", show_default=True, help="Camera image size.")
@click.option("--video-size", default="160x120", show_default=True, help="Video frame size.")
@click.option("--keep-running", is_flag=True, help="Keep Azurite and the dev host up until Ctrl-C.")
@click.option("--port", type=int, default=None, help="Dev host port (default 7071 when free).")
def main(
    assets: int,
    seed: int,
    image_size: str,
    video_size: str,
    keep_running: bool,
    port: int | None,
) -> None:
    """Run the blob sync service locally on generated media and walk the wizard with the CLI."""
    images, videos = _size(image_size), _size(video_size)
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 120
    started = time.monotonic()
    stack = Stack(Path(tempfile.mkdtemp(prefix="blobsync-demo-")))
    prog = _prog()
    code = 0
    with _signals():
        try:
            code = _demo(
                console, stack, prog, assets, seed, images, videos, keep_running, port, started
            )
        except StepFailed as failed:
            console.print(f"[bold red]Demo step failed[/bold red]: {failed}")
            if stack.host is not None:
                console.print("[dim]Last lines of the dev host log:[/dim]")
                console.print("\n".join(stack.host.log_text().splitlines()[-30:]), markup=False)
            code = failed.code
        except KeyboardInterrupt:
            console.print("\n[yellow]Interrupted.[/yellow]")
            code = int(ExitCode.INTERRUPTED) if not keep_running else 0
        except Terminated as stop:
            console.print(f"\n[yellow]Stopped by {stop}.[/yellow]")
            code = stop.exit_code
        finally:
            console.print("[dim]Stopping the dev host and Azurite...[/dim]")
            stack.stop()
    console.print(f"Demo finished in {time.monotonic() - started:.1f}s (exit code {code}).")
    sys.exit(code)


def _demo(
    console: Console,
    stack: Stack,
    prog: str,
    assets: int,
    seed: int,
    image_size: tuple[int, int],
    video_size: tuple[int, int],
    keep_running: bool,
    port: int | None,
    started: float,
) -> int:
    timings = stack.timings
    walker = Walker(console, prog, DEFAULT_BASE_URL)
    console.rule("[bold]Blob sync demo", align="left")
    console.print(
        f"Workspace {stack.workspace} (removed at the end). "
        f"Corpus: {assets} generated files + {len(PLANTED)} planted failures, seed {seed}."
    )

    walker.header("Start Azurite and the function app under the dev host")
    t = time.monotonic()
    stack.azurite = Azurite(stack.workspace / "azurite", accounts=(DEV_ACCOUNT, CUSTOMER_ACCOUNT))
    stack.azurite.start()
    platform = stack.azurite.account(DEV_ACCOUNT)
    customer = stack.azurite.account(CUSTOMER_ACCOUNT)
    console.print(
        f"Azurite: blob {stack.azurite.host}:{stack.azurite.blob_port}, "
        f"table {stack.azurite.host}:{stack.azurite.table_port}; accounts {DEV_ACCOUNT} "
        f"(platform metadata) and {CUSTOMER_ACCOUNT} (the customer's storage)"
    )
    stack.host = DevHostProcess(
        PROJECT_ROOT,
        env=_host_env(stack.azurite, platform, customer),
        port=_host_port(port),
        workspace=stack.workspace / "devhost",
    )
    stack.host.start()
    walker.base_url = stack.host.base_url
    console.print(f"Function app: {stack.host.base_url}/api")
    # The commands below reach it through BLOBSYNC_URL, as a user would set it once.
    os.environ["BLOBSYNC_URL"] = stack.host.base_url
    for variable in ("BLOBSYNC_FUNCTION_KEY", "BLOBSYNC_ADMIN_KEY"):
        os.environ.pop(variable, None)
    if stack.host.base_url != DEFAULT_BASE_URL:
        console.print(f"[bold green]$[/bold green] export BLOBSYNC_URL={stack.host.base_url}")
    timings["start"] = time.monotonic() - t

    walker.header(f"Fill the customer's container {CUSTOMER_ACCOUNT}/{CONTAINER}")
    t = time.monotonic()
    with console.status(f"generating {assets + len(PLANTED)} files (images, videos, other)..."):
        files = build_corpus(assets, seed, image_size=image_size, video_size=video_size)
    timings["generate"] = time.monotonic() - t
    t = time.monotonic()
    _upload(console, customer, files)
    timings["upload"] = time.monotonic() - t
    console.print(
        f"{len(files)} files, {sum(len(d) for _, d in files) / 1e6:.1f} MB: camera JPEGs (some "
        "rotated by an EXIF tag), PNG/WebP/TIFF/BMP, MP4s of mixed brands and pixel formats, "
        "MOV, WebM, annotation files and the odd empty, damaged or unsupported file. Planted: "
        + ", ".join(f"{p.name.rsplit('/', 1)[-1]} ({p.why})" for p in PLANTED)
    )

    walker.header("Organisation: a paid plan with a monthly quota (admin)")
    walker.run("org", "set", ORG, "--plan", "paid", "--quota", str(QUOTA))

    walker.header("Wizard step 1: blob details -> the connection and its setup instructions")
    walker.run(
        "connect", ORG, "--dataset", DATASET, "--name", CONNECTION_NAME,
        "--account", CUSTOMER_ACCOUNT, "--container", CONTAINER,
    )  # fmt: skip
    with BlobSyncClient(walker.base_url) as client:
        listing = client.list_connections(ORG, dataset=DATASET)
        conn = next(str(c["id"]) for c in listing["items"] if c["name"] == CONNECTION_NAME)
    console.print(
        "[dim]Steps 2-4 are what the customer runs in Azure; the emulator signs with the "
        f"account key instead. `{prog} setup {ORG} {conn}` prints them again.[/dim]"
    )

    walker.header("Wizard step 5: test the connection")
    walker.run("test", ORG, conn)

    walker.header("Wizard step 6: preview, then sync")
    walker.run("preview", ORG, conn)
    t = time.monotonic()
    sync_code = walker.run("sync", ORG, conn, "--interval", "0.3", allowed=(0, 4))
    timings["sync"] = time.monotonic() - t

    walker.header("The skip report: what was skipped, why, and how to fix it")
    walker.run("skipped", ORG, conn)
    walker.run("org", "usage", ORG)

    with BlobSyncClient(walker.base_url) as client:
        run_id = client.latest_run_id(ORG, conn) or ""
        view = client.get_sync(ORG, conn, run_id)
        problems = _verify(client, conn, view)
        usage = client.get_usage(ORG)
    timings["total"] = time.monotonic() - started
    _summary(console, files, view, problems, timings, usage)
    if keep_running:
        _keep_running(console, stack, conn, prog)
    if sync_code:
        return sync_code
    return int(ExitCode.REFUSED) if problems else 0


if __name__ == "__main__":
    main()
