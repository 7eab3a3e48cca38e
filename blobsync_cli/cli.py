"""``blobsync``: the operator's command line for the blob sync service (click commands).

Each command makes one or a few calls through :class:`~blobsync_cli.client.BlobSyncClient` and
hands the JSON to :mod:`blobsync_cli.render` (or prints it as is with ``--json``). Errors from
the client become exit codes in one place, :meth:`_Group.invoke`.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import click
from click.core import ParameterSource
from rich.console import Console
from rich.markup import escape

from blobsync_cli import __version__
from blobsync_cli.client import DEFAULT_BASE_URL, BlobSyncClient, normalise_base_url
from blobsync_cli.errors import (
    ApiError,
    BlobSyncError,
    ClientError,
    ExitCode,
    ServiceUnreachable,
)
from blobsync_cli.follow import FollowResult, follow_run
from blobsync_cli.render import (
    render_connection,
    render_connection_created,
    render_connections,
    render_org,
    render_preview,
    render_problem,
    render_run,
    render_runs,
    render_setup,
    render_skipped,
    render_test,
    render_unreachable,
    render_usage,
    write_skipped_csv,
)

__all__ = ["cli", "main", "run"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: Width used for tables when the output is not a terminal and COLUMNS is not set (CI logs).
PIPE_WIDTH = 120

EXIT_CODES = """\b
Exit codes:
  0    ok
  1    the API refused the request (4xx): its title, detail, code and field errors are printed
  2    usage error (unknown option, missing argument)
  3    the service cannot be reached (wrong --base-url, not running, network, timeout)
  4    a sync ended failed or cancelled, or the connection test failed
  5    the service failed (5xx): the correlation id is printed; quote it when reporting
  130  Ctrl-C while following a sync: the run goes on, the command to reattach is printed

\b
Keys are sent in the x-functions-key header and never printed. Locally the dev host
(python -m devhost) listens on http://127.0.0.1:7071 and needs no key unless started
with --require-keys.
"""

_FAILED_RUN = frozenset({"failed", "cancelled"})


def _make_console(*, stderr: bool) -> Console:
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


@dataclass
class Session:
    """Global options of one invocation, the lazily built client and the two consoles."""

    base_url: str
    function_key: str | None = field(default=None, repr=False)
    admin_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0
    json: bool = False
    prog: str = "blobsync"
    #: True when --base-url was on the command line (then hints repeat it; from BLOBSYNC_URL
    #: or the default they need not).
    base_url_given: bool = False
    _client: BlobSyncClient | None = field(default=None, repr=False)
    _out: Console | None = field(default=None, repr=False)
    _err: Console | None = field(default=None, repr=False)

    @property
    def client(self) -> BlobSyncClient:
        if self._client is None:
            self._client = BlobSyncClient(
                self.base_url,
                function_key=self.function_key,
                admin_key=self.admin_key,
                timeout=self.timeout,
            )
        return self._client

    @property
    def out(self) -> Console:
        if self._out is None:
            self._out = _make_console(stderr=False)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = _make_console(stderr=True)
        return self._err

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def emit_json(self, value: Any) -> None:
        click.echo(json.dumps(value, indent=2, ensure_ascii=False))

    def show(self, value: T, render: Callable[[Console, T], None]) -> bool:
        """The tail of most commands: *value* as JSON with ``--json``, else ``render(out, value)``.

        True when it was rendered for a human (so hints may follow).
        """
        if self.json:
            self.emit_json(value)
            return False
        render(self.out, value)
        return True

    def command(self, *args: str) -> str:
        """A command line the user can paste (with --base-url when it was given as an option)."""
        words = [self.prog]
        if self.base_url_given and normalise_base_url(self.base_url) != DEFAULT_BASE_URL:
            words += ["--base-url", shlex.quote(normalise_base_url(self.base_url))]
        return " ".join(words + [shlex.quote(a) for a in args])

    def hint(self, text: str, *args: str) -> None:
        """``text: <command>`` in dim style on stdout (human mode only)."""
        if not self.json:
            self.out.print(
                f"[dim]{escape(text)}:[/dim] " + escape(self.command(*args)), soft_wrap=True
            )


pass_session = click.make_pass_decorator(Session)


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_object(Session).json = True  # type: ignore[union-attr]


def json_option(fn: F) -> F:
    """``--json`` on a command (same as the global ``blobsync --json``)."""
    return click.option(
        "--json",
        is_flag=True,
        expose_value=False,
        callback=_set_json,
        help="Print the API's JSON instead of tables (for scripts).",
    )(fn)


def session_command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The last decorators of every command: ``--json``, then the :class:`Session` as first
    parameter."""
    return json_option(pass_session(fn))


def org_argument(fn: F) -> F:
    """The ``ORG`` argument (as ``org_id``)."""
    return click.argument("org_id", metavar="ORG")(fn)


def org_conn_arguments(fn: F) -> F:
    """The ``ORG CONN`` arguments (as ``org_id`` and ``connection``)."""
    return org_argument(click.argument("connection", metavar="CONN")(fn))


def _exit(code: ExitCode) -> NoReturn:
    raise click.exceptions.Exit(int(code))


class _Group(click.Group):
    """The root group: maps the client's errors to messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BlobSyncError as exc:
            session = ctx.find_object(Session)
            if session is None:  # pragma: no cover - the root callback always sets it
                raise
            _report(session, exc)
            _exit(exc.exit_code)


def _report(session: Session, exc: BlobSyncError) -> None:
    if isinstance(exc, ApiError):
        if session.json:
            session.emit_json({**exc.problem, "status": exc.status})
        else:
            render_problem(session.err, exc)
    elif isinstance(exc, ServiceUnreachable):
        if session.json:
            session.emit_json(
                {
                    "title": "Cannot reach the service",
                    "detail": exc.reason,
                    "code": "service_unreachable",
                    "baseUrl": exc.base_url,
                }
            )
        else:
            render_unreachable(session.err, exc)
    else:  # pragma: no cover - every subclass is handled above
        session.err.print(f"[bold red]Error[/bold red]: {exc}")


@click.group(
    cls=_Group,
    name="blobsync",
    epilog=EXIT_CODES,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--base-url",
    envvar="BLOBSYNC_URL",
    default=DEFAULT_BASE_URL,
    show_default=True,
    show_envvar=True,
    metavar="URL",
    help="The function app's root URL (e.g. https://<app>.azurewebsites.net).",
)
@click.option(
    "--function-key",
    envvar="BLOBSYNC_FUNCTION_KEY",
    show_envvar=True,
    metavar="KEY",
    help="Function key for the API (prefer the environment variable: options show in `ps`).",
)
@click.option(
    "--admin-key",
    envvar="BLOBSYNC_ADMIN_KEY",
    show_envvar=True,
    metavar="KEY",
    help="The app's admin (master) key, needed by `org set` in Azure.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    envvar="BLOBSYNC_TIMEOUT",
    help="Seconds to wait for each HTTP answer.",
)
@click.option("--json", "json_output", is_flag=True, help="Print the API's JSON (for scripts).")
@click.version_option(__version__, prog_name="blobsync")
@click.pass_context
def cli(
    ctx: click.Context,
    base_url: str,
    function_key: str | None,
    admin_key: str | None,
    timeout: float,
    json_output: bool,
) -> None:
    """Connect a dataset to an Azure Blob Storage container and sync it, from the terminal.

    \b
    The wizard, step by step:
      blobsync org set ORG --plan paid            (admin: plan and monthly quota)
      blobsync connect ORG --dataset D --name N --account A --container C
      blobsync setup ORG CONN                     (az commands: principal, role, CORS)
      blobsync test ORG CONN                      (the diagnostic ladder)
      blobsync preview ORG CONN                   (file count, data rows, quota)
      blobsync sync ORG CONN                      (live progress; Ctrl-C detaches)
      blobsync skipped ORG CONN [--csv]           (what was skipped, why, how to fix)
    """
    session = Session(
        base_url=base_url,
        function_key=function_key,
        admin_key=admin_key,
        timeout=timeout,
        json=json_output,
        prog=ctx.find_root().info_name or "blobsync",
        base_url_given=ctx.get_parameter_source("base_url") is ParameterSource.COMMANDLINE,
    )
    ctx.obj = session
    ctx.call_on_close(session.close)


# -- organisations -------------------------------------------------------------------------------


@cli.group()
def org() -> None:
    """Organisations: plan, quota and usage."""


@org.command("set")
@org_argument
@click.option(
    "--plan", type=click.Choice(["free", "paid"]), required=True, help="Free plans cannot sync."
)
@click.option(
    "--quota",
    type=click.IntRange(min=0),
    default=None,
    help="Monthly data-row quota (default: the service's setting for a new organisation).",
)
@session_command
def org_set(session: Session, org_id: str, plan: str, quota: int | None) -> None:
    """Create or update an organisation (admin key in Azure)."""
    result = session.client.put_org(org_id, plan=plan, monthly_quota=quota)
    session.show(result, render_org)


@org.command("usage")
@org_argument
@session_command
def org_usage(session: Session, org_id: str) -> None:
    """Data rows used this month against the quota."""
    result = session.client.get_usage(org_id)
    session.show(result, render_usage)


# -- connections (wizard step 1 and the Connection Manager) ------------------------------------


@cli.command()
@org_argument
@click.option("--dataset", required=True, help="The dataset the assets go to.")
@click.option("--name", required=True, help="A name for the connection (unique in the dataset).")
@click.option("--account", required=True, help="Storage account name (3-24 lowercase, digits).")
@click.option("--container", required=True, help="Container name.")
@click.option("--prefix", default=None, help="Only blobs under this folder prefix.")
@session_command
def connect(
    session: Session,
    org_id: str,
    dataset: str,
    name: str,
    account: str,
    container: str,
    prefix: str | None,
) -> None:
    """Wizard step 1: create a connection; prints its id and the setup instructions."""
    created = session.client.create_connection(
        org_id,
        dataset=dataset,
        name=name,
        storage_account=account,
        container=container,
        prefix=prefix,
    )
    if session.show(created, render_connection_created):
        conn = str((created.get("connection") or {}).get("id"))
        session.out.print()
        session.hint("Then test the connection", "test", org_id, conn)


@cli.command()
@org_conn_arguments
@click.option(
    "--shell",
    type=click.Choice(["bash", "powershell"]),
    default="bash",
    show_default=True,
    help="Print the commands for this shell (Cloud Shell has both).",
)
@session_command
def setup(session: Session, org_id: str, connection: str, shell: str) -> None:
    """Wizard steps 2-4 again: service principal, role assignment with its condition, CORS."""
    result = session.client.get_setup(org_id, connection)
    session.show(result, lambda out, value: render_setup(out, value, shell=shell))


@cli.command("list")
@org_argument
@click.option("--dataset", default=None, help="Only the connections of this dataset.")
@session_command
def list_connections(session: Session, org_id: str, dataset: str | None) -> None:
    """The Connection Manager: every connection of the organisation."""
    result = session.client.list_connections(org_id, dataset=dataset)
    session.show(result, render_connections)


@cli.command()
@org_conn_arguments
@session_command
def show(session: Session, org_id: str, connection: str) -> None:
    """One connection: status, asset counts, last test and last sync."""
    result = session.client.get_connection(org_id, connection)
    session.show(result, render_connection)


@cli.command()
@org_conn_arguments
@click.option("--name", default=None, help="New name.")
@click.option("--prefix", default=None, help="New folder prefix ('' for the whole container).")
@session_command
def update(
    session: Session, org_id: str, connection: str, name: str | None, prefix: str | None
) -> None:
    """Rename a connection or change its prefix (takes effect at the next sync)."""
    if name is None and prefix is None:
        raise click.UsageError("give --name and/or --prefix")
    result = session.client.update_connection(org_id, connection, name=name, prefix=prefix)
    session.show(result, render_connection)


@cli.command()
@org_conn_arguments
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@session_command
def delete(session: Session, org_id: str, connection: str, yes: bool) -> None:
    """Remove a connection with its asset and run rows (the blobs are not touched)."""
    if not yes:
        click.confirm(
            f"Delete connection {connection} and its asset rows? The blobs stay in storage.",
            abort=True,
            err=True,
        )
    session.client.delete_connection(org_id, connection)
    if session.json:
        session.emit_json({"id": connection, "deleted": True})
        return
    session.out.print(f"Connection [bold]{escape(connection)}[/bold] deleted.")


# -- wizard steps 5 and 6 ----------------------------------------------------------------------


@cli.command("test")
@org_conn_arguments
@session_command
def test_connection(session: Session, org_id: str, connection: str) -> None:
    """Wizard step 5: run the diagnostic ladder (exit 4 when a check fails)."""
    report = session.client.test_connection(org_id, connection)
    if session.show(report, render_test):
        if report.get("outcome") != "fail":
            session.hint("Next, preview what a sync would find", "preview", org_id, connection)
        elif report.get("retryable"):
            session.hint("Retry later", "test", org_id, connection)
    if report.get("outcome") == "fail":
        _exit(ExitCode.RUN_FAILED)


@cli.command()
@org_conn_arguments
@session_command
def preview(session: Session, org_id: str, connection: str) -> None:
    """Wizard step 6: file count by kind, a sample of paths, data rows against the quota."""
    report = session.client.preview(org_id, connection)
    if session.show(report, render_preview):
        session.hint("Start the sync", "sync", org_id, connection)


# -- syncs ---------------------------------------------------------------------------------------


def _watch(
    session: Session, org_id: str, connection: str, run: str, interval: float
) -> FollowResult:
    """Follow a run (bar or lines on stdout, or on stderr with --json) and print the outcome."""
    console = session.err if session.json else session.out
    result = follow_run(session.client, org_id, connection, run, console=console, interval=interval)
    if result.interrupted:
        err = session.err
        err.print()
        err.print(
            f"[yellow]Stopped following.[/yellow] Run [bold]{escape(run)}[/bold] goes on in the "
            "background."
        )
        reattach = session.command("status", org_id, connection, run, "--follow")
        err.print("  Reattach: " + reattach, soft_wrap=True, markup=False)
        err.print(
            "  Cancel:   " + session.command("cancel", org_id, connection, run),
            soft_wrap=True,
            markup=False,
        )
        _exit(ExitCode.INTERRUPTED)
    if session.json:
        session.emit_json(result.view)
    else:
        session.out.print()
        render_run(session.out, result.view)
        skipped = int((result.view.get("counts") or {}).get("skipped") or 0)
        if skipped:
            session.hint("Skip report", "skipped", org_id, connection)
    return result


def _run_exit(status: str) -> None:
    if status in _FAILED_RUN:
        _exit(ExitCode.RUN_FAILED)


_interval_option = click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between progress polls.",
)


@cli.command()
@org_conn_arguments
@click.option("--detach", is_flag=True, help="Start the run and return at once.")
@_interval_option
@session_command
def sync(session: Session, org_id: str, connection: str, detach: bool, interval: float) -> None:
    """Start a sync and follow it with a live progress bar until it ends.

    The run happens in the service: Ctrl-C (or --detach) only stops watching it. Exit 4 when
    the run ends failed or cancelled.
    """
    try:
        started = session.client.start_sync(org_id, connection)
    except ClientError as err:
        running = err.problem.get("runId")
        if err.code == "sync_already_running" and running:
            err.hint = "Attach to it: " + session.command(
                "status", org_id, connection, str(running), "--follow"
            )
        raise
    run = str(started["runId"])
    if detach:
        if session.json:
            session.emit_json(started)
            return
        session.out.print(f"Sync run [bold]{escape(run)}[/bold] started ({started.get('status')}).")
        session.hint("Follow it", "status", org_id, connection, run, "--follow")
        return
    result = _watch(session, org_id, connection, run, interval)
    _run_exit(result.status)


_EVERY = {"h": "everyHours", "m": "everyMinutes", "s": "everySeconds"}


@cli.command()
@org_conn_arguments
@click.option("--every", default=None, help="An interval: 6h, 30m (or seconds: 90s).")
@click.option("--daily", default=None, metavar="HH:MM", help="Once a day at this time.")
@click.option("--tz", default="UTC", show_default=True, help="IANA time zone for --daily.")
@click.option("--off", is_flag=True, help="Turn the schedule off.")
@session_command
def schedule(
    session: Session,
    org_id: str,
    connection: str,
    every: str | None,
    daily: str | None,
    tz: str,
    off: bool,
) -> None:
    """Sync on a schedule: every N hours/minutes, daily at a time, or off."""
    if sum((every is not None, daily is not None, off)) != 1:
        raise click.UsageError("give exactly one of --every, --daily, --off")
    body: dict[str, Any] = {"mode": "off"}
    if every is not None:
        unit = every[-1:].lower()
        if unit not in _EVERY or not every[:-1].isdigit():
            raise click.UsageError("--every takes a number and a unit: 6h, 30m, 90s")
        body = {"mode": "interval", _EVERY[unit]: int(every[:-1])}
    elif daily is not None:
        body = {"mode": "daily", "at": daily, "timeZone": tz}
    result = session.client.put_schedule(org_id, connection, body)
    if session.json:
        session.emit_json(result)
        return
    due = (result.get("schedule") or {}).get("nextDue")
    session.out.print(f"Schedule: {escape(body['mode'])}; next run: {escape(str(due or '-'))}.")


@cli.command()
@org_conn_arguments
@click.argument("run", metavar="[RUN]", required=False)
@click.option("--follow", "-f", is_flag=True, help="Attach the live progress bar until it ends.")
@_interval_option
@session_command
def status(
    session: Session,
    org_id: str,
    connection: str,
    run: str | None,
    follow: bool,
    interval: float,
) -> None:
    """One run's progress (the latest run without RUN). Exit 4 if it failed or was cancelled."""
    if run is None:
        run = session.client.latest_run_id(org_id, connection)
        if run is None:
            raise click.ClickException(f"connection {connection} has no sync runs yet")
    if follow:
        result = _watch(session, org_id, connection, run, interval)
        _run_exit(result.status)
        return
    view = session.client.get_sync(org_id, connection, run)
    session.show(view, render_run)
    _run_exit(str(view.get("status")))


@cli.command()
@org_conn_arguments
@session_command
def runs(session: Session, org_id: str, connection: str) -> None:
    """Past runs of a connection, newest first."""
    result = session.client.list_syncs(org_id, connection)
    session.show(result, render_runs)


@cli.command()
@org_conn_arguments
@click.argument("run", metavar="[RUN]", required=False)
@session_command
def cancel(session: Session, org_id: str, connection: str, run: str | None) -> None:
    """Stop a run (the running one without RUN); what it synced stays valid."""
    if run is None:
        active = session.client.get_connection(org_id, connection).get("activeRunId")
        if not active:
            raise click.ClickException(f"connection {connection} has no run in progress")
        run = str(active)
    result = session.client.cancel_sync(org_id, connection, run)
    if session.json:
        session.emit_json(result)
        return
    session.out.print(f"Run [bold]{escape(run)}[/bold]: {escape(str(result.get('status')))}.")


# -- assets --------------------------------------------------------------------------------------


@cli.command()
@org_conn_arguments
@click.option("--reason", default=None, help="Only this reason code, e.g. exif_orientation.")
@click.option("--csv", "as_csv", is_flag=True, help="Write CSV (header + one row per file).")
@click.option(
    "--page-size",
    type=click.IntRange(1, 1000),
    default=500,
    show_default=True,
    help="Assets per API page (every page is fetched).",
)
@session_command
def skipped(
    session: Session,
    org_id: str,
    connection: str,
    reason: str | None,
    as_csv: bool,
    page_size: int,
) -> None:
    """The skip report: every skipped file with its reason, detail and fix."""
    items = session.client.iter_assets(
        org_id, connection, status="skipped", reason=reason, page_size=page_size
    )
    if as_csv:
        write_skipped_csv(sys.stdout, items)
        return
    collected = list(items)
    if session.json:
        session.emit_json({"items": collected, "count": len(collected)})
        return
    render_skipped(session.out, collected)


@cli.command()
@org_conn_arguments
@click.argument("name", metavar="BLOB_NAME")
@session_command
def url(session: Session, org_id: str, connection: str, name: str) -> None:
    """Print a short-lived read-only URL for one blob (it carries a SAS: treat it as a secret)."""
    asset = session.client.find_asset(org_id, connection, name)
    if asset is None:
        raise ApiError.from_status(
            404,
            {
                "title": "Not found",
                "status": 404,
                "detail": f"no blob named {name!r} in this connection's asset list",
                "code": "asset_not_found",
            },
            method="GET",
            path=f"/api/orgs/{org_id}/connections/{connection}/assets",
        )
    result = session.client.get_asset_url(org_id, connection, str(asset["id"]))
    if session.json:
        session.emit_json(result)
        return
    click.echo(str(result.get("url")))
    session.err.print(f"[dim]expires {result.get('expiresAt')}[/dim]")


@cli.command()
@session_command
def health(session: Session) -> None:
    """Is the service up and can it reach its metadata store?"""
    result = session.client.health()
    if session.json:
        session.emit_json(result)
        return
    session.out.print(
        f"{escape(session.client.base_url)}: [bold]{result.get('status')}[/bold] "
        f"(metadata store {result.get('metadataStore')}, task hub {result.get('taskHub')})"
    )


# -- entry points --------------------------------------------------------------------------------


def run(argv: list[str] | None = None, *, prog_name: str = "blobsync") -> int:
    """Run the CLI like the shell does and return its exit code (for the demo and tests)."""
    try:
        cli.main(args=argv, prog_name=prog_name, standalone_mode=True)
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)


def main() -> NoReturn:
    """The ``blobsync`` console script."""
    sys.exit(run(prog_name="blobsync"))
