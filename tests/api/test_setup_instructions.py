"""Setup instructions: the exact condition, and commands that paste into bash and PowerShell.

Bash lines are checked with ``bash -n`` and then run against a stub ``az`` that records its
argv; PowerShell lines are tokenised with PowerShell's quoting rules; every ``az`` flag is
checked against azure-cli's own argument table when azure-cli is installed (``AZURE_CLI`` names
the ``az`` executable; the test is skipped otherwise, see the README)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import pytest

from shared.setup_instructions import (
    SetupInstructions,
    build_setup_instructions,
    container_condition,
    powershell_quote,
    remedy_commands,
)

APP = "0a1b2c3d-1111-4222-8333-944455556666"
ACCOUNT_ID = "/subscriptions/9f0e/resourceGroups/media-rg/providers/Microsoft.Storage/storageAccounts/contosomedia"
SP_OBJECT_ID = "5e6f7a8b-0000-4000-8000-00000000cafe"

EXPECTED_CONDITION = """(
  (
    !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'})
  )
  OR
  (
    @Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'media-2024'
  )
)"""
ONE_LINE_CONDITION = (
    "((!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'})) "
    "OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals "
    "'media-2024'))"
)


def build(app_id: str = APP, origin: str = "https://vi.datature.com") -> SetupInstructions:
    return build_setup_instructions(
        account="contosomedia",
        container="media-2024",
        app_id=app_id,
        app_name="Datature Vi",
        origin=origin,
    )


# -- running the bash lines against a stub az ------------------------------------------------

_STUB = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["AZ_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:3] == ["storage", "account", "show"]:
    print({account_id!r})
elif args[:3] == ["ad", "sp", "show"] and "id" in args:
    print({sp_id!r})
"""


def run_bash(script: str, tmp_path: Path) -> list[list[str]]:
    """``bash -n`` the lines, then run them with a stub ``az``; the argv of each az call."""
    checked = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert checked.returncode == 0, checked.stderr
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "az"
    stub.write_text(_STUB.format(python=sys.executable, account_id=ACCOUNT_ID, sp_id=SP_OBJECT_ID))
    stub.chmod(0o755)
    log = tmp_path / "az.log"
    log.write_text("")
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "AZ_LOG": str(log)}
    ran = subprocess.run(["bash", "-c", script], text=True, capture_output=True, env=env)
    assert ran.returncode == 0, ran.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


# -- PowerShell's quoting, for the subset the commands use -------------------------------------

_PS_TOKEN = re.compile(r"\s*(?:'((?:[^']|'')*)'|(\$[A-Za-z_][A-Za-z0-9_]*)|([^\s'\"`$;|&(){}@,]+))")


def powershell_argv(line: str) -> list[str]:
    """The words of one PowerShell native-command line: bare words, single-quoted strings
    (``''`` is a quote, nothing expands) and ``$variables``. Anything else (double quotes,
    backticks, sigils, grouping) is refused, so the line cannot mean something else."""
    words: list[str] = []
    position = 0
    line = line.rstrip()
    while position < len(line):
        match = _PS_TOKEN.match(line, position)
        assert match and match.end() > position, f"not plain PowerShell at: {line[position:]!r}"
        quoted, variable, bare = match.groups()
        words.append(quoted.replace("''", "'") if quoted is not None else variable or bare)
        position = match.end()
    return words


def powershell_lines(script: str) -> list[tuple[str | None, list[str]]]:
    """Each line as (variable assigned or None, argv)."""
    out: list[tuple[str | None, list[str]]] = []
    for line in script.splitlines():
        target = None
        assignment = re.match(r"^\$([A-Za-z_][A-Za-z0-9_]*) = (.*)$", line)
        if assignment:
            target, line = assignment.group(1), assignment.group(2)
        out.append((target, powershell_argv(line)))
    return out


# -- the tests ------------------------------------------------------------------------------


def test_condition_names_the_container_exactly() -> None:
    assert container_condition("media-2024") == EXPECTED_CONDITION
    with pytest.raises(ValueError, match="container"):
        container_condition("x') OR (true")


def test_service_principal_step(tmp_path: Path) -> None:
    sp = build()["servicePrincipal"]
    assert sp["command"] == f"az ad sp create --id {APP}"
    assert sp["commands"] == {"bash": sp["command"], "powershell": sp["command"]}
    assert run_bash(sp["commands"]["bash"], tmp_path) == [["ad", "sp", "create", "--id", APP]]
    assert sp["adminConsentUrl"] == (
        f"https://login.microsoftonline.com/organizations/adminconsent?client_id={APP}"
    )
    verify = run_bash(sp["verifyCommands"]["bash"], tmp_path)
    assert verify[0][:5] == ["ad", "sp", "show", "--id", APP]
    assert any("Enterprise applications" in step for step in sp["portalSteps"])


def test_role_assignment_runs_with_no_placeholders(tmp_path: Path) -> None:
    role = build()["roleAssignment"]
    assert role["command"] == role["commands"]["bash"]
    assert "<" not in role["command"] and ">" not in role["command"]
    calls = run_bash(role["commands"]["bash"], tmp_path)
    assert calls == [
        ["storage", "account", "show", "--name", "contosomedia", "--query", "id",
         "--output", "tsv"],
        ["ad", "sp", "show", "--id", APP, "--query", "id", "--output", "tsv"],
        ["role", "assignment", "create", "--role", "Storage Blob Data Reader",
         "--assignee-object-id", SP_OBJECT_ID, "--assignee-principal-type", "ServicePrincipal",
         "--scope", ACCOUNT_ID, "--condition", ONE_LINE_CONDITION, "--condition-version", "2.0"],
    ]  # fmt: skip
    # The one-line condition is the portal's condition without layout.
    assert "".join(ONE_LINE_CONDITION.split()) == "".join(EXPECTED_CONDITION.split())
    assert role["condition"] == EXPECTED_CONDITION
    assert (role["memberIdentifier"], role["memberDisplayName"]) == (APP, "Datature Vi")
    assert role["scopeLevel"] == "storage_account"
    verify = run_bash(role["verifyCommands"]["bash"], tmp_path)
    assert verify[-1][:7] == [
        "role", "assignment", "list", "--assignee-object-id", SP_OBJECT_ID, "--scope", ACCOUNT_ID,
    ]  # fmt: skip


def test_a_failed_lookup_stops_the_bash_lines(tmp_path: Path) -> None:
    """An account in another subscription: ``az storage account show`` fails, nothing else
    runs (no role assignment with an empty scope)."""
    script = build()["roleAssignment"]["commands"]["bash"]
    failing = script.replace("az storage account show", "false", 1)
    calls = run_bash(failing + " || true", tmp_path)
    assert calls == []


def test_powershell_lines_mean_the_same_commands() -> None:
    role = build()["roleAssignment"]
    lines = powershell_lines(role["commands"]["powershell"])
    assert lines == [
        ("scope", ["az", "storage", "account", "show", "--name", "contosomedia", "--query", "id",
                   "--output", "tsv"]),
        ("assignee", ["az", "ad", "sp", "show", "--id", APP, "--query", "id", "--output", "tsv"]),
        (None, ["az", "role", "assignment", "create", "--role", "Storage Blob Data Reader",
                "--assignee-object-id", "$assignee", "--assignee-principal-type",
                "ServicePrincipal", "--scope", "$scope", "--condition", ONE_LINE_CONDITION,
                "--condition-version", "2.0"]),
    ]  # fmt: skip
    cors = build()["cors"]
    assert powershell_lines(cors["commands"]["powershell"]) == [
        (None, shlex.split(cors["commands"]["bash"]))
    ]
    sp = build()["servicePrincipal"]
    assert powershell_lines(sp["verifyCommands"]["powershell"]) == [
        (None, shlex.split(sp["verifyCommands"]["bash"]))
    ]


def test_cors_uses_the_management_plane(tmp_path: Path) -> None:
    cors = build()["cors"]
    assert run_bash(cors["commands"]["bash"], tmp_path) == [
        ["storage", "account", "blob-service-properties", "cors-rule", "add",
         "--account-name", "contosomedia", "--origins", "https://vi.datature.com",
         "--methods", "GET", "HEAD", "--allowed-headers", "*", "--exposed-headers", "*",
         "--max-age", "3600"],
    ]  # fmt: skip
    assert run_bash(cors["verifyCommands"]["bash"], tmp_path) == [
        ["storage", "account", "blob-service-properties", "show", "--account-name",
         "contosomedia", "--query", "cors"],
    ]  # fmt: skip
    assert cors["verifyCommand"] == cors["verifyCommands"]["bash"]
    assert (cors["allowedOrigins"], cors["requiredFor"]) == (["https://vi.datature.com"], "videos")


def test_hostile_values_stay_single_arguments(tmp_path: Path) -> None:
    hostile = "x; rm -rf ~ $(id) `id` 'q' \"dq\" @(1,2) {a} *"
    sp = build(app_id=hostile)["servicePrincipal"]
    assert run_bash(sp["commands"]["bash"], tmp_path) == [["ad", "sp", "create", "--id", hostile]]
    assert powershell_lines(sp["commands"]["powershell"]) == [
        (None, ["az", "ad", "sp", "create", "--id", hostile])
    ]
    assert powershell_quote("it's") == "'it''s'"
    assert powershell_quote("a,b") == "'a,b'"  # a bare comma would make an array
    assert powershell_quote("*") == "'*'"  # PowerShell 7 would expand a bare wildcard
    with pytest.raises(ValueError, match="storage account"):
        build_setup_instructions(
            account="Bad$Name", container="media", app_id=APP, app_name="x", origin="https://o"
        )


# -- azure-cli's own argument table -----------------------------------------------------------


@cache
def _az_env() -> dict[str, str]:
    """A throwaway az configuration: the check never reads or writes the user's az login."""
    config = os.environ.get("AZURE_CONFIG_DIR") or tempfile.mkdtemp(prefix="azcli-config-")
    return {**os.environ, "AZURE_CONFIG_DIR": config}


def _azure_cli() -> str | None:
    candidate = os.environ.get("AZURE_CLI") or shutil.which("az")
    if not candidate:
        return None
    try:
        version = subprocess.run(
            [candidate, "version", "--output", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=_az_env(),
        )
    except OSError:
        return None
    return candidate if '"azure-cli"' in version.stdout else None


AZ = _azure_cli()
_FLAG = re.compile(r"^\s{4}(--?[a-z0-9-]+(?: -{1,2}[a-z0-9-]+)*)", re.M)


@cache
def az_flags(command: tuple[str, ...]) -> frozenset[str]:
    """Every flag azure-cli accepts for ``az <command>``, read from its own help (the
    argument table rendered)."""
    assert AZ is not None
    env = _az_env()
    shown = subprocess.run(
        [AZ, *command, "--help"], capture_output=True, text=True, timeout=120, env=env
    )
    assert shown.returncode == 0, f"az {' '.join(command)}: {shown.stderr[-500:]}"
    flags: set[str] = set()
    for match in _FLAG.finditer(shown.stdout):
        flags.update(match.group(1).split())
    return frozenset(flags)


def test_remedies_quoted_for_both_shells(tmp_path: Path) -> None:
    remedies = remedy_commands(account="contosomedia", app_id=APP)
    assert run_bash(remedies["enableServicePrincipal"]["bash"], tmp_path) == [
        ["ad", "sp", "update", "--id", APP, "--set", "accountEnabled=true"]
    ]
    for commands in remedies.values():
        assert powershell_lines(commands["powershell"]) == [(None, shlex.split(commands["bash"]))]


def _calls(steps: SetupInstructions, tmp_path: Path) -> list[list[str]]:
    remedies = remedy_commands(account="contosomedia", app_id=APP)
    scripts = [
        *(commands["bash"] for commands in remedies.values()),
        steps["servicePrincipal"]["commands"]["bash"],
        steps["servicePrincipal"]["verifyCommands"]["bash"],
        steps["roleAssignment"]["commands"]["bash"],
        steps["roleAssignment"]["verifyCommands"]["bash"],
        steps["cors"]["commands"]["bash"],
        steps["cors"]["verifyCommands"]["bash"],
    ]
    return [call for script in scripts for call in run_bash(script, tmp_path)]


@pytest.mark.skipif(AZ is None, reason="azure-cli is not installed (set AZURE_CLI to its az)")
def test_every_flag_is_in_azure_clis_argument_table(tmp_path: Path) -> None:
    calls = _calls(build(), tmp_path)
    assert len(calls) == 12
    for call in calls:
        first_flag = next(i for i, word in enumerate(call) if word.startswith("-"))
        command = tuple(call[:first_flag])
        used = {word for word in call[first_flag:] if word.startswith("--")}
        unknown = used - az_flags(command)
        assert not unknown, f"az {' '.join(command)} has no {sorted(unknown)}"
