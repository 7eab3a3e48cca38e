"""``blobsync`` as a user gets it: ``pip install`` of a clean checkout into a fresh virtual
environment outside the repository, run from another directory, against the real app under the
key-checking dev host.

The other CLI tests run the commands in this process, where the repository is importable; this
one proves the installed distribution starts and works with only its declared dependencies.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from azure.storage.blob import ContainerClient

import mediagen
from devhost.azurite import PROJECT_ROOT
from tests.cli.conftest import COLUMNS, Service

#: What a clean checkout does not have (local state, caches, build output).
NOT_IN_A_CHECKOUT = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    "__pycache__",
    "*.pyc",
    "*.egg-info",
    "build",
    "dist",
    ".devhost",
    ".azurite",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "__azurite_db_*",
    "__blobstorage__",
    "__queuestorage__",
    "results",
    "local.settings.json",
)


def run(
    args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass(frozen=True)
class Installed:
    python: Path
    blobsync: Path
    elsewhere: Path  # a directory outside the repository to run from


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A copy of the checkout, ``python -m venv`` and ``pip install <checkout>`` (no editable
    install, no ``--no-deps``: pip resolves the declared dependencies)."""
    root = tmp_path_factory.mktemp("cli-install")
    assert not root.is_relative_to(PROJECT_ROOT)
    checkout = root / "checkout"
    shutil.copytree(PROJECT_ROOT, checkout, ignore=NOT_IN_A_CHECKOUT)
    venv = root / "venv"
    made = run([sys.executable, "-m", "venv", str(venv)], cwd=root)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    pip = run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "."],
        cwd=checkout,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    shutil.rmtree(checkout)  # the installed CLI must not need the sources
    elsewhere = root / "work"
    elsewhere.mkdir()
    return Installed(python, venv / "bin" / "blobsync", elsewhere)


def clean_env(**values: str) -> dict[str, str]:
    """The user's environment: nothing pointing into the repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.pop("BLOBSYNC_URL", None)
    return {**env, "COLUMNS": COLUMNS, **values}


def test_the_installed_cli_starts_anywhere_and_ships_no_service_code(installed: Installed) -> None:
    version = run([str(installed.blobsync), "--version"], cwd=installed.elsewhere, env=clean_env())
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "blobsync, version 0.1.0"

    module = run(
        [str(installed.python), "-m", "blobsync_cli", "--help"],
        cwd=installed.elsewhere,
        env=clean_env(),
    )
    assert module.returncode == 0, module.stderr
    assert "skipped" in module.stdout and "connect" in module.stdout

    service_packages = ["shared", "api", "activities", "orchestrators", "devhost", "mediagen"]
    probe = (
        f"import importlib.util as u; print([m for m in {service_packages!r} if u.find_spec(m)])"
    )
    found = run([str(installed.python), "-c", probe], cwd=installed.elsewhere, env=clean_env())
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "[]"


def test_connect_sync_and_skip_report_with_the_installed_cli(
    installed: Installed, service: Service, container: ContainerClient, unique_name: str
) -> None:
    photo = mediagen.jpeg(64, 48, seed=11)
    other = mediagen.jpeg(64, 48, seed=12)
    for name, data in (("cam/a.jpg", photo), ("cam/b.jpg", other), ("cam/empty.jpg", b"")):
        container.upload_blob(name, data)
    env = clean_env(
        BLOBSYNC_URL=service.base_url,
        BLOBSYNC_FUNCTION_KEY=service.function_key,
        BLOBSYNC_ADMIN_KEY=service.admin_key,
    )
    org = f"org-{unique_name}"

    def blobsync(*args: str) -> str:
        done = run([str(installed.blobsync), *args], cwd=installed.elsewhere, env=env)
        assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
        for key in (service.function_key, service.admin_key):
            assert key not in done.stdout + done.stderr
        return done.stdout

    blobsync("org", "set", org, "--plan", "paid", "--quota", "1000")
    connect = ["connect", org, "--dataset", "ds1", "--name", "installed", "--json"]
    where = ["--account", service.customer.name, "--container", container.container_name]
    created = json.loads(blobsync(*connect, *where))
    conn = created["connection"]["id"]

    out = blobsync("sync", org, conn, "--interval", "0.2")
    assert "Following run" in out and "completed" in out

    rows = list(csv.DictReader(io.StringIO(blobsync("skipped", org, conn, "--csv"))))
    assert {r["name"]: r["reason"] for r in rows} == {"cam/empty.jpg": "empty"}

    # The read URL of one synced blob: the CLI finds its id in the API's asset list.
    link = blobsync("url", org, conn, "cam/a.jpg").strip()
    assert httpx.get(link).content == photo
