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


def test_shared_never_imports_the_functions_runtime_or_the_adapters() -> None:
    forbidden = ("azure.functions", "azure.durable_functions", "api", "activities", "orchestrators")
    assert violations("shared", forbidden) == []


def test_sync_steps_never_import_sync_control() -> None:
    """Activities' logic (steps, inspector) sits below the API-facing run control."""
    steps = [ROOT / "shared" / "sync" / name for name in ("steps.py", "inspector.py")]
    bad = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in steps
        for module in imported_modules(path)
        if module.startswith("shared.sync.control")
    ]
    assert bad == []


def test_the_store_imports_no_use_case() -> None:
    """shared/store holds adapters of the metadata account; use cases sit above it."""
    above = (
        "shared.wiring",
        "shared.connections",
        "shared.diagnostics",
        "shared.preview",
        "shared.sync.control",
        "shared.sync.steps",
        "shared.customer_storage",
    )
    assert violations("shared/store", above) == []


def test_only_the_adapters_use_the_wiring() -> None:
    """Use cases take their collaborators as arguments; only adapters reach for the wiring."""
    bad = [v for v in violations("shared", ("shared.wiring",)) if "shared/wiring.py" not in v]
    assert bad == []


@pytest.mark.parametrize(
    ("package", "other"), [("activities", "orchestrators"), ("orchestrators", "activities")]
)
def test_activities_and_orchestrators_never_import_each_other(package: str, other: str) -> None:
    assert violations(package, (other,)) == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import azure.functions as func\nfrom azure.durable_functions import x\n")
    assert {"azure.functions", "azure.durable_functions"} <= imported_modules(sample)


DEPLOYED = ("function_app.py", "shared", "api", "activities", "orchestrators")


def _owners() -> dict[str, str]:
    """Importable package ("azure.storage.blob", "av") → the distribution that installs it: the
    one shipping the package's ``__init__.py`` (namespaces such as ``azure``, ``azure.monitor``
    and ``opentelemetry`` are shared by many distributions and owned by none)."""
    from importlib.metadata import distributions

    owners: dict[str, str] = {}
    for dist in distributions():
        for file in dist.files or ():
            parts = file.parts
            if not parts or parts[0].endswith((".dist-info", ".data")):
                continue
            if parts[-1] == "__init__.py" and len(parts) > 1:
                owners.setdefault(".".join(parts[:-1]), dist.metadata["Name"].lower())
            elif len(parts) == 1 and parts[0].endswith(".py"):
                owners.setdefault(parts[0].removesuffix(".py"), dist.metadata["Name"].lower())
    return owners


def _owner(module: str, owners: dict[str, str]) -> str | None:
    """The distribution of ``module``'s innermost owned package; None for a bare namespace."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in owners:
            return owners[".".join(parts[:end])]
    if any(key.startswith(module + ".") for key in owners):
        return None
    return parts[0]


def _deployed_third_party_distributions() -> set[str]:
    import sys

    owners = _owners()
    local = {"shared", "api", "activities", "orchestrators", "function_app"}
    found: set[str] = set()
    paths = [ROOT / "function_app.py"] + [p for d in DEPLOYED[1:] for p in python_files(d)]
    for path in paths:
        for module in imported_modules(path):
            parts = module.split(".")
            if parts[0] in local or parts[0] in sys.stdlib_module_names:
                continue
            if parts[0] in ("__future__", "_typeshed"):
                continue
            owner = _owner(module, owners)
            if owner is not None:
                found.add(owner)
    return found


#: Deployed though not imported by name: the transport of the Azure SDK's aio clients.
RUNTIME_ONLY = {"aiohttp"}


def test_runtime_requirements_are_exactly_what_the_deployed_app_imports() -> None:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    required = {
        line.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()
        for line in lines
        if line.strip() and not line.startswith("#")
    }
    imported = _deployed_third_party_distributions()
    # azure-core comes with every Azure SDK client; it is not pinned on its own.
    assert imported - required - {"azure-core"} == set(), "imported but not deployed"
    assert required - imported - RUNTIME_ONLY == set(), "deployed but never imported"


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


#: Names the async use cases and routes give the blocking repositories.
REPOSITORIES = {"runs", "connections", "orgs", "usage", "staging", "progress", "store"}
#: Repository methods that do no I/O.
NO_IO = {"progress_board"}


def blocking_calls_in_async_functions(path: Path) -> list[str]:
    """Direct calls of a repository method (``runs.get(...)``, ``wiring().runs.get(...)``) in an
    ``async def``: each blocks the event loop on table I/O unless it goes through a thread."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            if name in REPOSITORIES and node.func.attr not in NO_IO:
                found.append(f"{path.name}:{node.lineno} {name}.{node.func.attr}()")
    return found


def test_async_routes_and_use_cases_never_block_the_event_loop_on_tables() -> None:
    paths = [*python_files("api"), ROOT / "shared" / "sync" / "control.py"]
    assert [c for p in paths for c in blocking_calls_in_async_functions(p)] == []


def test_the_blocking_call_checker_sees_one(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("async def f(runs, w):\n    runs.get('a')\n    w().runs.list('c')\n")
    assert len(blocking_calls_in_async_functions(sample)) == 2


#: Blocking clients and pipeline parts of the Blob SDK and azure-core: customer storage is
#: reached through ``azure.storage.blob.aio`` clients on an async transport only.
BLOCKING_STORAGE = (
    "azure.storage.blob.BlobServiceClient",
    "azure.storage.blob.ContainerClient",
    "azure.storage.blob.BlobClient",
    "azure.storage.blob.ExponentialRetry",
    "azure.storage.blob.LinearRetry",
    "azure.core.pipeline.Pipeline",
    "azure.core.pipeline.policies.HTTPPolicy",
    "azure.core.pipeline.transport.HttpTransport",
    "azure.core.pipeline.transport.RequestsTransport",
)


def test_customer_storage_has_no_blocking_client() -> None:
    """Only the metadata store (``shared/store``) may still build a blocking blob client."""
    bad = [
        v
        for package in ("shared", "api", "activities", "orchestrators")
        for v in violations(package, BLOCKING_STORAGE)
        if not v.startswith("shared/store/")
    ]
    assert bad == []


#: The use cases that reach a customer's storage account (coroutines).
STORAGE_USE_CASES = {"run_connection_test", "run_checks", "preview_connection", "read_url"}


def blocking_functions_touching_storage(path: Path) -> list[str]:
    """Plain ``def`` functions that use the customer storage (``wiring().storage``) or call a
    storage use case: a route that touches storage must be ``async def``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        for node in ast.walk(fn):
            uses_storage = isinstance(node, ast.Attribute) and node.attr == "storage"
            calls_use_case = isinstance(node, ast.Call) and (
                getattr(node.func, "id", None) in STORAGE_USE_CASES
                or getattr(node.func, "attr", None) in STORAGE_USE_CASES
            )
            if uses_storage or calls_use_case:
                found.append(f"{path.name}:{node.lineno} in {fn.name}()")
                break
    return found


def test_routes_that_touch_customer_storage_are_async() -> None:
    assert [f for p in python_files("api") for f in blocking_functions_touching_storage(p)] == []


def test_the_storage_route_checker_sees_one(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text(
        "def a(req):\n    return wiring().storage\n"
        "def b(req):\n    return preview_connection('o', 'c')\n"
        "async def c(req):\n    return await read_url(storage=wiring().storage)\n"
    )
    assert [f.split(" in ")[1] for f in blocking_functions_touching_storage(sample)] == [
        "a()",
        "b()",
    ]
