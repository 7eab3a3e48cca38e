"""Import rules: shared/ never imports the Functions runtime; the inspection package imports only
the standard library, Pillow and PyAV, except its blob adapter (the one storage-SDK module)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_SHARED = ("azure.functions", "azure.durable_functions")
INSPECTION_ALLOWED = ("PIL", "av", "shared")
ADAPTER = "blob_reader.py"


def _runtime_nodes(node: ast.AST) -> list[ast.AST]:
    """All nodes below ``node`` except ``if TYPE_CHECKING:`` bodies (never executed)."""
    found: list[ast.AST] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
            found.extend(n for branch in child.orelse for n in [branch, *_runtime_nodes(branch)])
            continue
        found.append(child)
        found.extend(_runtime_nodes(child))
    return found


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_shared_never_imports_the_functions_runtime() -> None:
    for path in (ROOT / "shared").rglob("*.py"):
        for module in imported_modules(path):
            assert not module.startswith(FORBIDDEN_IN_SHARED), f"{path}: {module}"


def test_inspection_is_pure_except_its_blob_adapter() -> None:
    package = ROOT / "shared" / "inspection"
    adapter_imports: set[str] = set()
    for path in package.glob("*.py"):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if path.name == ADAPTER:
                adapter_imports.add(module)
                continue
            pure = top in sys.stdlib_module_names or top in INSPECTION_ALLOWED
            assert pure, f"{path.name} imports {module}"
    assert "azure.storage.blob.aio" in adapter_imports


def test_reasons_module_is_pure() -> None:
    for module in imported_modules(ROOT / "shared" / "reasons.py"):
        assert module.split(".")[0] in sys.stdlib_module_names
