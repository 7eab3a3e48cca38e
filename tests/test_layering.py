"""The layering rules hold: shared/ is the domain core, adapters never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in python_files(package):
        for module in imported_modules(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(ROOT)} imports {module}")
    return bad


def test_packages_exist() -> None:
    for package in ("shared", "api", "activities", "orchestrators"):
        assert (ROOT / package / "__init__.py").exists(), package
    assert python_files("shared"), "shared/ holds the domain core"


def test_shared_never_imports_the_functions_runtime() -> None:
    assert violations("shared", ("azure.functions", "azure.durable_functions", "api")) == []


@pytest.mark.parametrize(
    ("package", "other"), [("activities", "orchestrators"), ("orchestrators", "activities")]
)
def test_activities_and_orchestrators_never_import_each_other(package: str, other: str) -> None:
    assert violations(package, (other,)) == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import azure.functions as func\nfrom azure.durable_functions import x\n")
    assert {"azure.functions", "azure.durable_functions"} <= imported_modules(sample)


#: Every top-level package of the service and of the repository's dev tooling.
SERVICE_PACKAGES = (
    "shared",
    "api",
    "activities",
    "orchestrators",
    "function_app",
    "devhost",
    "devtools",
    "mediagen",
    "bench",
    "tests",
)


def test_the_cli_imports_nothing_from_the_service() -> None:
    """``blobsync_cli`` is its own distribution: it must run where only it is installed."""
    assert python_files("blobsync_cli"), "blobsync_cli/ holds the CLI"
    assert violations("blobsync_cli", SERVICE_PACKAGES) == []


def test_the_cli_checker_sees_a_service_import(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("from shared.sync.views import asset_id\nimport devhost.testing\n")
    found = imported_modules(sample)
    assert any(m == f or m.startswith(f + ".") for m in found for f in SERVICE_PACKAGES)
