"""Follow a sync run until it ends: a live rich progress bar in a terminal, plain progress lines
otherwise (CI logs, pipes). Ctrl-C stops following, never the run.

Polling tolerates a few consecutive transient failures (a 5xx, a timeout, the host restarting)
before giving up, so a short blip does not end the watch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from blobsync_cli.client import TERMINAL_STATUSES, BlobSyncClient
from blobsync_cli.errors import ServerError, ServiceUnreachable

__all__ = ["FollowResult", "follow_run", "progress_line"]

#: Consecutive failed polls tolerated before the error is raised.
MAX_POLL_FAILURES = 5
#: Plain mode prints a line at most this often (and on every status change).
PLAIN_LINE_SECONDS = 2.0


@dataclass
class FollowResult:
    """The last view of the run, and whether the user stopped following (Ctrl-C)."""

    view: dict[str, Any]
    interrupted: bool = False

    @property
    def status(self) -> str:
        return str(self.view.get("status", ""))


class _RateColumn(ProgressColumn):
    """Files per second, as the service measures the run."""

    def render(self, task: Task) -> Text:
        speed = float(task.fields.get("rate") or 0)
        return Text(f"{speed:,.0f} files/s" if speed else "- files/s", style="progress.data.speed")


class _CountColumn(ProgressColumn):
    """``processed/total``, with ``~`` while the total is still an estimate."""

    def render(self, task: Task) -> Text:
        files = task.fields.get("files")
        total = "?" if not files else f"{files:,}"
        approx = "~" if task.fields.get("estimate") else ""
        return Text(
            f"{task.fields.get('processed', 0):,}/{approx}{total}", style="progress.download"
        )


def _counts(view: dict[str, Any]) -> dict[str, int]:
    counts = view.get("counts") or {}
    return {k: int(counts.get(k) or 0) for k in ("synced", "skipped", "ignored", "unchanged")}


def progress_line(view: dict[str, Any], rate: float | None = None) -> str:
    """One plain line for logs: status, processed/total, percent, rate and counters."""
    c = _counts(view)
    total = int(view.get("total") or 0)
    approx = "~" if view.get("totalIsEstimate") else ""
    shown = "?" if approx and not total else f"{approx}{total:,}"
    speed = f"  {rate:,.0f} files/s" if rate else ""
    line = (
        f"{view.get('status', '?'):<11} {int(view.get('processed') or 0):,}/{shown}"
        f"  {float(view.get('percent') or 0):5.1f}%{speed}"
        f"  synced {c['synced']:,} · skipped {c['skipped']:,} · ignored {c['ignored']:,}"
    )
    if c["unchanged"]:
        line += f" · unchanged {c['unchanged']:,}"
    return line


class _Poller:
    def __init__(
        self,
        client: BlobSyncClient,
        org: str,
        connection: str,
        run: str,
        sleep: Callable[[float], None],
        interval: float,
    ) -> None:
        self.client, self.org, self.connection, self.run = client, org, connection, run
        self.sleep, self.interval = sleep, interval
        self.failures = 0
        self.last: dict[str, Any] = {"runId": run, "status": "unknown"}

    def get(self) -> dict[str, Any]:
        while True:
            try:
                view = self.client.get_sync(self.org, self.connection, self.run)
            except (ServiceUnreachable, ServerError):
                self.failures += 1
                if self.failures >= MAX_POLL_FAILURES:
                    raise
                self.sleep(self.interval * self.failures)
                continue
            self.failures = 0
            self.last = view
            return view


def follow_run(
    client: BlobSyncClient,
    org: str,
    connection: str,
    run: str,
    *,
    console: Console,
    interval: float = 1.0,
    live: bool | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FollowResult:
    """Poll the run until it reaches a terminal status or the user presses Ctrl-C.

    ``live`` forces the progress bar on or off; by default it is on when ``console`` is a
    terminal. Progress goes to ``console``; nothing is printed after the run ends.
    """
    poller = _Poller(client, org, connection, run, sleep, interval)
    use_bar = console.is_terminal if live is None else live
    try:
        view = poller.get()
        if use_bar:
            return _follow_bar(poller, view, console)
        return _follow_plain(poller, view, console)
    except KeyboardInterrupt:
        return FollowResult(poller.last, interrupted=True)


def _bar_fields(view: dict[str, Any]) -> dict[str, Any]:
    status = str(view.get("status"))
    style = {"completed": "green", "failed": "red", "cancelled": "yellow"}.get(status, "cyan")
    # The bar is the service's percent, which never goes back (a growing estimated total
    # would move a processed/total bar backwards); the count column shows the files.
    return {
        "completed": float(view.get("percent") or 0),
        "total": 100,
        "processed": int(view.get("processed") or 0),
        "files": int(view.get("total") or 0),
        "rate": float(view.get("ratePerSecond") or 0),
        "status": f"[{style}]{status}[/{style}]",
        "estimate": bool(view.get("totalIsEstimate")),
        **_counts(view),
    }


def _follow_bar(poller: _Poller, view: dict[str, Any], console: Console) -> FollowResult:
    progress = Progress(
        SpinnerColumn(finished_text="[green]✔[/green]"),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[status]}"),
        BarColumn(bar_width=None),
        _CountColumn(),
        TaskProgressColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn(
            "[green]synced {task.fields[synced]:,}[/green] · "
            "[yellow]skipped {task.fields[skipped]:,}[/yellow] · "
            "[dim]ignored {task.fields[ignored]:,}[/dim]"
        ),
        console=console,
        transient=False,
        refresh_per_second=8,
        speed_estimate_period=10,
    )
    name = str(view.get("connectionName") or poller.connection)
    try:
        with progress:
            task = progress.add_task(name, **_bar_fields(view))
            while str(view.get("status")) not in TERMINAL_STATUSES:
                poller.sleep(poller.interval)
                view = poller.get()
                progress.update(task, **_bar_fields(view))
            if view.get("status") == "completed":
                progress.update(task, completed=100)
    except KeyboardInterrupt:
        return FollowResult(poller.last, interrupted=True)
    return FollowResult(view)


def _follow_plain(poller: _Poller, view: dict[str, Any], console: Console) -> FollowResult:
    name = view.get("connectionName") or poller.connection
    console.print(f"Following run {poller.run} of {name} (Ctrl-C stops following, not the run)")
    start_time, start_processed = time.monotonic(), int(view.get("processed") or 0)
    last_line, last_status = time.monotonic(), str(view.get("status"))
    console.print(progress_line(view), highlight=False)
    while str(view.get("status")) not in TERMINAL_STATUSES:
        poller.sleep(poller.interval)
        view = poller.get()
        now = time.monotonic()
        status = str(view.get("status"))
        if status != last_status or now - last_line >= PLAIN_LINE_SECONDS:
            elapsed = now - start_time
            done = int(view.get("processed") or 0) - start_processed
            rate = done / elapsed if elapsed > 0 and done > 0 else None
            console.print(progress_line(view, rate), highlight=False)
            last_line, last_status = now, status
    return FollowResult(view)
