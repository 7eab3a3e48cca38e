"""Human-readable output: rich tables and panels for the API's JSON. No HTTP here.

Every function takes a :class:`rich.console.Console` and the dict the API returned. Commands
users copy (``az ...``) are printed with ``soft_wrap=True`` so the terminal, not rich, wraps
them and a copy-paste gives one intact line. Nothing here prints keys or read URLs.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import IO, Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.padding import Padding
from rich.table import Column, Table
from rich.text import Text

from blobsync_cli.errors import ApiError, ServiceUnreachable

__all__ = [
    "CSV_COLUMNS",
    "check_status_text",
    "render_connection",
    "render_connection_created",
    "render_connections",
    "render_org",
    "render_preview",
    "render_problem",
    "render_run",
    "render_runs",
    "render_setup",
    "render_skipped",
    "render_test",
    "render_unreachable",
    "render_usage",
    "run_status_text",
    "write_skipped_csv",
]

_RUN_STYLE = {
    "completed": "bold green",
    "failed": "bold red",
    "cancelled": "bold yellow",
}
_CHECK_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "skipped": "dim"}
_STATE_STYLE = {
    "ready": "green",
    "syncing": "cyan",
    "awaiting_test": "yellow",
    "needs_attention": "red",
    "deleting": "dim",
}


def _text(value: Any, style: str = "") -> Text:
    return Text("" if value is None else str(value), style=style)


def run_status_text(status: str) -> Text:
    return Text(status, style=_RUN_STYLE.get(status, "bold cyan"))


def check_status_text(status: str) -> Text:
    return Text(status.upper(), style=_CHECK_STYLE.get(status, ""))


def _when(value: Any) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM:SS UTC`` (as given when it does not parse)."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds_between(start: Any, end: Any) -> float | None:
    try:
        a = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, (b - a).total_seconds())


def _size(n: Any) -> str:
    value = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _command(console: Console, label: str, command: str) -> None:
    console.print(f"  [dim]{escape(label)}[/dim]")
    console.print("    " + command, soft_wrap=True, markup=False, highlight=False)


def _kv_table(rows: Iterable[tuple[str, Any]], title: str | None = None) -> Table:
    table = Table(show_header=False, box=None, title=title, title_justify="left", pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value if isinstance(value, Text) else _text(value))
    return table


def _table(title: str, *columns: str | Column, **options: Any) -> Table:
    """A table titled on the left, with these columns (a header, or a :class:`Column`)."""
    return Table(*columns, title=title, title_justify="left", **options)


def _right(*headers: str) -> list[Column]:
    """Right-aligned columns (figures)."""
    return [Column(header, justify="right") for header in headers]


def _counts(counts: Mapping[str, Any], *keys: str) -> list[Text]:
    """One cell per counter (0 when absent)."""
    return [_text(counts.get(key, 0)) for key in keys]


def _render_listing(
    console: Console,
    listing: Mapping[str, Any],
    *,
    empty: str,
    title: str,
    columns: Sequence[str | Column],
    row: Callable[[Mapping[str, Any]], Sequence[RenderableType]],
) -> None:
    """A listing's items as a table, one ``row`` each (*title* is formatted with their number);
    *empty* when there are none."""
    items = listing.get("items") or []
    if not items:
        console.print(empty)
        return
    table = _table(title.format(len(items)), *columns)
    for item in items:
        table.add_row(*row(item))
    console.print(table)


# -- errors ------------------------------------------------------------------------------------


def render_problem(console: Console, err: ApiError) -> None:
    """Title, detail, code and field errors of a problem; the correlation id of a 5xx."""
    head = err.title or "The request failed"
    console.print(
        f"[bold red]Error {err.status}[/bold red]: {escape(head)} [dim]({escape(err.code)})[/dim]"
    )
    if err.detail:
        console.print(f"  {escape(err.detail)}")
    for field in err.field_errors:
        console.print(
            f"  - [bold]{escape(field['field'])}[/bold]: {escape(field['message'])} "
            f"[dim]({escape(field['code'])})[/dim]"
        )
    if err.correlation_id:
        console.print(f"  correlation id: [bold]{escape(err.correlation_id)}[/bold]")
    run = err.problem.get("runId")
    if run:
        console.print(f"  run: {escape(str(run))}")
    if err.hint:
        console.print(f"  {escape(err.hint)}", soft_wrap=True)


def render_unreachable(console: Console, err: ServiceUnreachable) -> None:
    console.print(f"[bold red]Cannot reach the service[/bold red]: {escape(err.reason)}")
    console.print(
        f"  base URL: {escape(err.base_url)} (change it with --base-url or BLOBSYNC_URL; "
        "locally, start the dev host: python -m devhost)",
        soft_wrap=True,
    )


# -- organisations -------------------------------------------------------------------------------


def render_org(console: Console, org: Mapping[str, Any]) -> None:
    console.print(
        _kv_table(
            [
                ("Organisation", org.get("org")),
                ("Plan", org.get("plan")),
                ("Monthly quota", f"{int(org.get('monthlyQuota') or 0):,} data rows"),
                ("Created", _when(org.get("createdAt"))),
                ("Updated", _when(org.get("updatedAt"))),
            ]
        )
    )


def render_usage(console: Console, usage: Mapping[str, Any]) -> None:
    used, limit = int(usage.get("used") or 0), int(usage.get("limit") or 0)
    share = f" ({100 * used / limit:.1f}%)" if limit else ""
    console.print(
        _kv_table(
            [
                ("Organisation", usage.get("org")),
                ("Month", usage.get("month")),
                ("Plan", usage.get("plan")),
                ("Data rows used", f"{used:,} of {limit:,}{share}"),
                ("Remaining", f"{int(usage.get('remaining') or 0):,}"),
            ]
        )
    )


# -- connections ---------------------------------------------------------------------------------


def _location(conn: Mapping[str, Any]) -> str:
    prefix = conn.get("prefix") or ""
    return f"{conn.get('account')}/{conn.get('container')}" + (f"/{prefix}" if prefix else "")


def render_connection(console: Console, conn: Mapping[str, Any]) -> None:
    counts = conn.get("assetCounts") or {}
    status = str(conn.get("status") or "")
    last_sync = conn.get("lastSync") or {}
    last_test = conn.get("lastTest") or {}
    console.print(
        _kv_table(
            [
                ("Connection", Text(str(conn.get("id")), style="bold")),
                ("Name", conn.get("name")),
                ("Dataset", conn.get("dataset")),
                ("Storage", _location(conn)),
                ("Status", Text(status, style=_STATE_STYLE.get(status, ""))),
                (
                    "Assets",
                    f"{counts.get('synced', 0)} synced, {counts.get('skipped', 0)} skipped, "
                    f"{counts.get('ignored', 0)} ignored, {counts.get('removed', 0)} removed",
                ),
                ("Last test", last_test.get("outcome", "never")),
                (
                    "Last sync",
                    f"{last_sync.get('status')} ({last_sync.get('runId')})"
                    if last_sync
                    else "never",
                ),
            ]
        )
    )


def render_connection_created(console: Console, created: Mapping[str, Any]) -> None:
    conn = created.get("connection") or {}
    console.print(
        f"[bold green]Connection created[/bold green]: [bold]{escape(str(conn.get('id')))}[/bold] "
        f"- {escape(str(conn.get('name')))} ({escape(_location(conn))})"
    )
    console.print()
    render_setup(console, created.get("setup") or {})


def _shell(step: Mapping[str, Any], key: str, shell: str) -> str:
    """The step's command for ``shell`` (``commands``/``verifyCommands``), else the bash one."""
    variants = step.get(key) or {}
    fallback = step.get(key.removesuffix("s"), "")
    return str(variants.get(shell) or variants.get("bash") or fallback or "")


def render_setup(console: Console, setup: Mapping[str, Any], *, shell: str = "bash") -> None:
    """Wizard steps 2-4: service principal, role assignment with its condition, CORS; the
    commands for ``shell`` (``bash`` or ``powershell``)."""
    sp = setup.get("servicePrincipal") or {}
    role = setup.get("roleAssignment") or {}
    cors = setup.get("cors") or {}
    account, container = setup.get("storageAccount"), setup.get("container")
    console.print(
        f"[bold]Setup for[/bold] storage account [bold]{escape(str(account))}[/bold], "
        f"container [bold]{escape(str(container))}[/bold] ({escape(shell)} commands)"
    )
    console.print()
    console.print(
        f"[bold cyan]Step 2 - Service principal[/bold cyan]: register "
        f"{escape(str(sp.get('appName')))} (app id {escape(str(sp.get('appId') or '?'))}) "
        "in your tenant"
    )
    _command(console, "Run once per tenant:", _shell(sp, "commands", shell))
    if sp.get("adminConsentUrl"):
        _command(console, "Or have an administrator consent:", str(sp["adminConsentUrl"]))
    _command(console, "Check it:", _shell(sp, "verifyCommands", shell))
    console.print()
    console.print(
        f"[bold cyan]Step 3 - Role assignment[/bold cyan]: {escape(str(role.get('role')))} "
        "on the storage account, limited to this container by a condition "
        f"(version {escape(str(role.get('conditionVersion')))})"
    )
    _command(console, "Assign the role with the condition:", _shell(role, "commands", shell))
    _command(console, "Check it:", _shell(role, "verifyCommands", shell))
    console.print(
        f"  [dim]In the portal: Access control (IAM) > Add role assignment > "
        f"{escape(str(role.get('role')))} > Members: paste[/dim] "
        f"{escape(str(role.get('memberIdentifier') or '?'))} "
        f"[dim]({escape(str(role.get('memberDisplayName')))}), then Conditions > Code editor:[/dim]"
    )
    console.print(str(role.get("condition", "")), markup=False, highlight=False, soft_wrap=True)
    console.print()
    console.print(
        "[bold cyan]Step 4 - CORS[/bold cyan] (videos only): allow GET from "
        + escape(", ".join(cors.get("allowedOrigins") or []))
    )
    _command(console, "Add the rule:", _shell(cors, "commands", shell))
    _command(console, "Check it:", _shell(cors, "verifyCommands", shell))
    console.print()
    console.print(
        f"[dim]Role assignments take up to {setup.get('propagationMinutes', 5)} minutes to "
        "propagate; a permission failure in the test right after setup is retryable.[/dim]"
    )


def _connection_row(conn: Mapping[str, Any]) -> list[RenderableType]:
    counts = conn.get("assetCounts") or {}
    status = str(conn.get("status") or "")
    last = conn.get("lastSync") or {}
    return [
        _text(conn.get("id"), "bold"),
        _text(conn.get("name")),
        _text(conn.get("dataset")),
        _text(_location(conn)),
        Text(status, style=_STATE_STYLE.get(status, "")),
        *_counts(counts, "synced", "skipped"),
        run_status_text(str(last["status"])) if last else Text("never", style="dim"),
    ]


def render_connections(console: Console, listing: Mapping[str, Any]) -> None:
    _render_listing(
        console,
        listing,
        empty="No connections.",
        title="{} connection(s)",
        columns=[
            "Id",
            "Name",
            "Dataset",
            "Storage",
            "Status",
            *_right("Synced", "Skipped"),
            "Last sync",
        ],
        row=_connection_row,
    )


# -- wizard: test and preview -----------------------------------------------------------------


def render_test(console: Console, report: Mapping[str, Any]) -> None:
    table = _table(
        "Connection test",
        Column("Check", no_wrap=True),
        Column("Status", no_wrap=True),
        Column("Code", style="dim"),
        Column("Message", ratio=3),
        Column("Fix", ratio=3),
        show_lines=True,
    )
    for check in report.get("checks") or []:
        status = check_status_text(str(check.get("status")))
        if check.get("retryable") and check.get("retryAfterSeconds"):
            status.append(f"\nretry in {check['retryAfterSeconds']}s", style="yellow")
        table.add_row(
            _text(check.get("check")),
            status,
            _text(check.get("code")),
            _text(check.get("message")),
            _text(check.get("fix") or ""),
        )
    console.print(table)
    outcome = str(report.get("outcome"))
    style = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red"}.get(outcome, "")
    line = Text("Outcome: ") + Text(outcome.upper(), style=style)
    if report.get("retryable") and report.get("retryAfterSeconds"):
        line += Text(
            f" - retryable: the role may still be propagating, retry in "
            f"{report['retryAfterSeconds']}s",
            style="yellow",
        )
    console.print(line)


def render_preview(console: Console, preview: Mapping[str, Any]) -> None:
    counts = preview.get("counts") or {}
    rows = preview.get("dataRows") or {}
    quota = preview.get("quota") or {}
    at_least = "" if preview.get("complete") else "at least "
    sufficient = quota.get("sufficient")
    verdict = (
        Text("enough", style="green")
        if sufficient
        else Text("NOT enough", style="bold red")
        if sufficient is False
        else Text("unknown", style="yellow")
    )
    console.print(
        _kv_table(
            [
                ("Location", _location(preview)),
                ("Found", f"{at_least}{preview.get('summary', '')}"),
                (
                    "By kind",
                    f"{counts.get('image', 0)} image(s), {counts.get('video', 0)} video(s), "
                    f"{counts.get('other', 0)} other (ignored)",
                ),
                (
                    "Data rows",
                    f"{at_least}{int(rows.get('estimated') or 0):,} "
                    f"({rows.get('perImage')} per image, {rows.get('perVideo')} per video)",
                ),
                (
                    "Quota",
                    Text(
                        f"{int(quota.get('used') or 0):,} used of {int(quota.get('limit') or 0):,} "
                        f"in {quota.get('month')}, {int(quota.get('remaining') or 0):,} left: "
                    )
                    + verdict,
                ),
            ],
            title="Preview",
        )
    )
    if not preview.get("complete"):
        console.print(f"[yellow]The scan stopped early ({preview.get('stoppedBy')}).[/yellow]")
    sample = preview.get("sample") or []
    if sample:
        table = _table(f"Sample ({len(sample)} path(s))", "Path", "Kind", *_right("Size"))
        for item in sample:
            table.add_row(_text(item.get("name")), _text(item.get("kind")), _size(item.get("size")))
        console.print(table)
    if preview.get("note"):
        console.print(f"[dim]{escape(str(preview['note']))}[/dim]")


# -- runs ----------------------------------------------------------------------------------------


def render_run(console: Console, view: Mapping[str, Any]) -> None:
    """One run: status, location, figures, counters, reasons and the error if any."""
    counts = view.get("counts") or {}
    status = str(view.get("status"))
    duration = _seconds_between(
        view.get("startedAt"), view.get("finishedAt") or view.get("updatedAt")
    )
    processed, total = int(view.get("processed") or 0), int(view.get("total") or 0)
    rate = f", {processed / duration:.0f} files/s" if duration and processed else ""
    rows: list[tuple[str, Any]] = [
        ("Run", Text(str(view.get("runId")), style="bold")),
        ("Status", run_status_text(status)),
        ("Connection", f"{view.get('connectionName', '')} ({view.get('connectionId', '')})"),
        ("Storage", _location(view)),
        (
            "Processed",
            f"{processed:,} of {'~' if view.get('totalIsEstimate') else ''}{total:,}"
            f" ({float(view.get('percent') or 0):.0f}%)",
        ),
        (
            "Synced",
            f"{counts.get('synced', 0):,} (added {counts.get('added', 0):,}, "
            f"updated {counts.get('updated', 0):,})",
        ),
        ("Skipped", f"{counts.get('skipped', 0):,}"),
        ("Ignored", f"{counts.get('ignored', 0):,} (not images or videos)"),
        ("Unchanged", f"{counts.get('unchanged', 0):,}"),
        ("Removed", f"{counts.get('removed', 0):,}"),
    ]
    if counts.get("failed"):
        rows.append(("Failed", Text(f"{counts['failed']:,}", style="red")))
    rows += [
        ("Data rows charged", f"{int(view.get('dataRowsCharged') or 0):,}"),
        ("Bytes read", _size(view.get("bytesRead"))),
        ("Assets in dataset", f"{int(view.get('assetCount') or 0):,}"),
        ("Started", _when(view.get("startedAt"))),
        (
            "Finished",
            f"{_when(view.get('finishedAt'))} ({duration:.1f}s{rate})"
            if view.get("finishedAt") and duration is not None
            else "-",
        ),
    ]
    console.print(_kv_table(rows, title="Sync run"))
    by_reason = counts.get("skippedByReason") or {}
    if by_reason:
        table = _table("Skipped by reason", "Reason", *_right("Files"))
        for reason, n in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(_text(reason, "yellow"), _text(n))
        console.print(table)
    error = view.get("error")
    if error:
        console.print(
            f"[bold red]Error[/bold red] {escape(str(error.get('code')))}: "
            f"{escape(str(error.get('message')))}"
        )


def _run_row(run: Mapping[str, Any]) -> list[RenderableType]:
    counts = run.get("counts") or {}
    seconds = _seconds_between(run.get("startedAt"), run.get("finishedAt"))
    return [
        _text(run.get("runId"), "bold"),
        run_status_text(str(run.get("status"))),
        _text(run.get("trigger")),
        _when(run.get("startedAt")),
        f"{seconds:.1f}s" if run.get("finishedAt") and seconds is not None else "-",
        *_counts(counts, "synced", "skipped", "ignored", "unchanged", "removed"),
    ]


def render_runs(console: Console, listing: Mapping[str, Any]) -> None:
    _render_listing(
        console,
        listing,
        empty="No runs yet.",
        title="{} run(s), newest first",
        columns=[
            Column("Run", no_wrap=True),
            "Status",
            "Trigger",
            "Started",
            *_right("Duration", "Synced", "Skipped", "Ignored", "Unchanged", "Removed"),
        ],
        row=_run_row,
    )


# -- the skip report -----------------------------------------------------------------------------

CSV_COLUMNS = ("name", "kind", "format", "size", "reason", "reason_title", "detail", "fix")


def write_skipped_csv(stream: IO[str], items: Iterable[Mapping[str, Any]]) -> int:
    """The skip report as CSV (header + one row per asset); returns the number of rows."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    n = 0
    for item in items:
        writer.writerow(
            [
                item.get("name", ""),
                item.get("kind", ""),
                item.get("format") or "",
                item.get("size", 0),
                item.get("reason") or "",
                item.get("reasonTitle") or "",
                item.get("detail") or "",
                item.get("fix") or "",
            ]
        )
        n += 1
    return n


def render_skipped(console: Console, items: Sequence[Mapping[str, Any]]) -> None:
    """The skip report grouped by reason (most frequent first), then each reason's fix once."""
    if not items:
        console.print("[green]No skipped files.[/green]")
        return
    per_reason = Counter(str(item.get("reason")) for item in items)
    rank = {reason: i for i, (reason, _) in enumerate(per_reason.most_common())}
    ordered = sorted(items, key=lambda a: (rank[str(a.get("reason"))], str(a.get("name"))))
    table = _table(
        f"Skip report: {len(items)} file(s)",
        Column("File", overflow="fold"),
        "Format",
        Column("Reason", style="yellow", no_wrap=True),
        "Detail",
    )
    for item in ordered:
        table.add_row(
            _text(item.get("name")),
            _text(item.get("format") or item.get("kind")),
            _text(item.get("reason")),
            _text(item.get("detail") or ""),
        )
    console.print(table)
    fixes: dict[str, tuple[str, str]] = {}
    for item in items:
        fixes.setdefault(
            str(item.get("reason")),
            (str(item.get("reasonTitle") or ""), str(item.get("fix") or "")),
        )
    console.print()
    console.print("[bold]How to fix[/bold]")
    for reason, n in per_reason.most_common():
        title, fix = fixes[reason]
        console.print(
            f"[yellow]{escape(reason)}[/yellow] ({n} file(s)) - [bold]{escape(title)}[/bold]"
        )
        console.print(Padding(Text(fix), (0, 0, 0, 2)))
