"""Load ``function_app.py`` and index its functions the way the Python worker does.

The dev host is strict wherever the worker or the Durable extension is strict, so an app that
loads here also loads in Azure:

* exactly one :class:`azure.functions.FunctionRegister` among the module's top-level names, and
  ``get_functions()`` called exactly once (a second call raises in the library);
* every Python parameter is bound and every binding has a parameter; ``context`` without a binding
  is the invocation :class:`azure.functions.Context` (so an orchestrator whose ``context_name``
  is not ``context`` is refused, as the worker refuses it);
* functions using ``durable_client_input`` must be ``async def`` (the SDK's middleware awaits
  them; in Azure every call of a sync one fails);
* durable names are unique and do not start with ``@``; the client's task hub is the host's;
* bindings the dev host cannot serve are refused at load instead of failing at run time.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.decorators.function_app import Function

SCRIPT_FILE_SETTING = "PYTHON_SCRIPT_FILE_NAME"
DEFAULT_SCRIPT_FILE = "function_app.py"

HTTP_TRIGGER = "httpTrigger"
HTTP_OUTPUT = "http"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"
TIMER_TRIGGER = "timerTrigger"
DURABLE_CLIENT = "durableClient"


class FunctionLoadError(Exception):
    """The app cannot be loaded; the message says what Azure would refuse and why."""


class FunctionKind(Enum):
    HTTP = "http"
    ORCHESTRATOR = "orchestrator"
    ACTIVITY = "activity"
    ENTITY = "entity"
    TIMER = "timer"


class AuthLevel(str, Enum):
    ANONYMOUS = "anonymous"
    FUNCTION = "function"
    ADMIN = "admin"


@dataclass(frozen=True)
class HttpSpec:
    route: str
    methods: frozenset[str] | None  # None = every method
    auth_level: AuthLevel


@dataclass(frozen=True)
class IndexedFunction:
    """One function of the app with what the host needs to invoke it."""

    name: str
    kind: FunctionKind
    function: Function = field(repr=False)
    trigger_name: str
    wants_context: bool
    is_async: bool
    durable_name: str | None = None
    client_binding: str | None = None  # parameter receiving the durable client binding JSON
    http: HttpSpec | None = None

    @property
    def user_function(self) -> Callable[..., Any]:
        return self.function.get_user_function()


@dataclass
class FunctionIndex:
    functions: list[IndexedFunction]
    orchestrators: dict[str, IndexedFunction]
    activities: dict[str, IndexedFunction]
    app_dir: Path

    @property
    def http_functions(self) -> list[IndexedFunction]:
        return [f for f in self.functions if f.kind is FunctionKind.HTTP]

    def get(self, name: str) -> IndexedFunction | None:
        lowered = name.lower()
        return next((f for f in self.functions if f.name.lower() == lowered), None)

    def orchestrator(self, name: str | None) -> IndexedFunction | None:
        """The orchestrator with this durable name (case-insensitive, as in Azure)."""
        return _lookup(self.orchestrators, name)

    def activity(self, name: str | None) -> IndexedFunction | None:
        """The activity with this durable name (case-insensitive, as in Azure)."""
        return _lookup(self.activities, name)


def _lookup(functions: dict[str, IndexedFunction], name: str | None) -> IndexedFunction | None:
    if name is None:
        return None
    found = functions.get(name)
    if found is not None:
        return found
    lowered = name.lower()
    return next((f for key, f in functions.items() if key.lower() == lowered), None)


# --------------------------------------------------------------------------------- loading
def import_app_module(
    app_dir: Path, script_file: str | None = None, *, isolate: bool = False
) -> Any:
    """Import the app's script with ``app_dir`` first on ``sys.path``, like the worker.

    ``isolate=True`` (in-process use) restores ``sys.path`` and the ``sys.modules`` entry of the
    script's module name afterwards, so another app's ``function_app`` is not shadowed.
    """
    app_dir = app_dir.resolve()
    script = script_file or os.environ.get(SCRIPT_FILE_SETTING) or DEFAULT_SCRIPT_FILE
    path = app_dir / script
    if not path.is_file():
        raise FunctionLoadError(f"{path} not found")
    if path.suffix != ".py":
        raise FunctionLoadError(f"{script} is not a Python file")
    module_name = path.stem
    saved_path = list(sys.path)
    previous = sys.modules.get(module_name)
    if str(app_dir) in sys.path:
        sys.path.remove(str(app_dir))
    sys.path.insert(0, str(app_dir))
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise FunctionLoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    failed = False
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        failed = True
        raise FunctionLoadError(f"importing {script} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        if isolate or failed:
            sys.path[:] = saved_path
            if previous is not None:
                sys.modules[module_name] = previous
            else:
                sys.modules.pop(module_name, None)
    return module


def find_function_register(module: Any, script: str = DEFAULT_SCRIPT_FILE) -> func.FunctionRegister:
    """The module's single top-level FunctionRegister (the worker counts top-level names)."""
    found: func.FunctionRegister | None = None
    for attr in dir(module):
        value = getattr(module, attr, None)
        if isinstance(value, func.FunctionRegister):
            if found is not None:
                raise FunctionLoadError(
                    f"More than one {type(found).__name__} or other top level function app "
                    f"instances are defined in {script} (names include {attr!r}); the Python "
                    "worker requires exactly one. Compose blueprints into a single app."
                )
            found = value
    if found is None:
        raise FunctionLoadError(f"Could not find a top level function app instance in {script}.")
    return found


def load_app(
    app_dir: Path,
    *,
    hub_name: str | None = None,
    script_file: str | None = None,
    isolate: bool = False,
) -> FunctionIndex:
    """Import the app, call ``get_functions()`` once and index the result strictly."""
    script = script_file or os.environ.get(SCRIPT_FILE_SETTING) or DEFAULT_SCRIPT_FILE
    module = import_app_module(app_dir, script, isolate=isolate)
    app = find_function_register(module, script)
    try:
        functions = app.get_functions()
    except Exception as exc:
        raise FunctionLoadError(f"indexing failed: {type(exc).__name__}: {exc}") from exc
    return index_functions(functions, app_dir=app_dir.resolve(), hub_name=hub_name)


def index_functions(
    functions: list[Function], *, app_dir: Path, hub_name: str | None = None
) -> FunctionIndex:
    indexed: list[IndexedFunction] = []
    orchestrators: dict[str, IndexedFunction] = {}
    activities: dict[str, IndexedFunction] = {}
    durable_names: dict[str, str] = {}
    for function in functions:
        entry = _index_one(function, hub_name)
        indexed.append(entry)
        if entry.durable_name is None:
            continue
        key = entry.durable_name.lower()
        if key in durable_names:
            raise FunctionLoadError(
                f"durable function name {entry.durable_name!r} is used by both "
                f"{durable_names[key]!r} and {entry.name!r}"
            )
        durable_names[key] = entry.name
        if entry.kind is FunctionKind.ORCHESTRATOR:
            orchestrators[entry.durable_name] = entry
        elif entry.kind is FunctionKind.ACTIVITY:
            activities[entry.durable_name] = entry
    return FunctionIndex(indexed, orchestrators, activities, app_dir)


def _index_one(function: Function, hub_name: str | None) -> IndexedFunction:
    name = str(function.get_function_name())
    trigger = function.get_trigger()
    if trigger is None:
        raise FunctionLoadError(f"cannot load the {name} function: it has no trigger")
    kind = _KIND_BY_TRIGGER.get(str(trigger.type))
    if kind is None:
        raise FunctionLoadError(
            f"cannot load the {name} function: trigger type {trigger.type!r} is not supported "
            "by the dev host"
        )
    user_fn = function.get_user_function()
    client_binding: str | None = None
    bound: set[str] = set()
    for binding in function.get_bindings():
        if binding is trigger:
            bound.add(binding.name)
            continue
        if binding.type == HTTP_OUTPUT and binding.name == "$return":
            continue
        if binding.type == DURABLE_CLIENT:
            client_binding = binding.name
            bound.add(binding.name)
            _check_client_hub(name, binding, hub_name)
            continue
        raise FunctionLoadError(
            f"cannot load the {name} function: binding {binding.name!r} of type "
            f"{binding.type!r} is not supported by the dev host"
        )
    hint = (
        " (an orchestrator's trigger parameter must be named 'context': "
        'use orchestration_trigger(context_name="context"))'
        if kind is FunctionKind.ORCHESTRATOR
        else ""
    )
    wants_context = _check_parameters(name, user_fn, bound, hint)
    if client_binding is not None:
        inner = getattr(user_fn, "client_function", user_fn)
        if not inspect.iscoroutinefunction(inner):
            raise FunctionLoadError(
                f"cannot load the {name} function: a function with durable_client_input must "
                "be 'async def'. The Durable SDK awaits it, so in Azure every call fails with "
                "\"TypeError: object HttpResponse can't be used in 'await' expression\"."
            )
    durable_name: str | None = None
    http: HttpSpec | None = None
    if kind is FunctionKind.ORCHESTRATOR:
        durable_name = getattr(trigger, "orchestration", None) or name
    elif kind is FunctionKind.ACTIVITY:
        durable_name = getattr(trigger, "activity", None) or name
    elif kind is FunctionKind.ENTITY:
        durable_name = getattr(trigger, "entity_name", None) or name
    elif kind is FunctionKind.HTTP:
        http = _http_spec(name, trigger)
        _check_http_return(name, user_fn)
    if durable_name is not None and durable_name.startswith("@"):
        raise FunctionLoadError(f"durable function name {durable_name!r} must not start with '@'")
    return IndexedFunction(
        name=name,
        kind=kind,
        function=function,
        trigger_name=str(trigger.name),
        wants_context=wants_context,
        is_async=inspect.iscoroutinefunction(user_fn),
        durable_name=durable_name,
        client_binding=client_binding,
        http=http,
    )


_KIND_BY_TRIGGER = {
    HTTP_TRIGGER: FunctionKind.HTTP,
    ORCHESTRATION_TRIGGER: FunctionKind.ORCHESTRATOR,
    ACTIVITY_TRIGGER: FunctionKind.ACTIVITY,
    ENTITY_TRIGGER: FunctionKind.ENTITY,
    TIMER_TRIGGER: FunctionKind.TIMER,
}


def _check_client_hub(name: str, binding: Any, hub_name: str | None) -> None:
    wanted = getattr(binding, "task_hub", None)
    if wanted and hub_name and str(wanted).lower() != hub_name.lower():
        raise FunctionLoadError(
            f"cannot load the {name} function: its durable client targets task hub {wanted!r} "
            f"but the dev host serves only {hub_name!r} (host.json durableTask.hubName)"
        )


def _type_hints(name: str, fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception as exc:  # the worker calls get_type_hints too and fails the same way
        raise FunctionLoadError(
            f"cannot load the {name} function: its annotations cannot be resolved: {exc}"
        ) from exc


def _check_parameters(name: str, fn: Callable[..., Any], bound: set[str], hint: str) -> bool:
    """The worker's parameter/binding matching; returns whether ``context`` is injected."""
    params = dict(inspect.signature(fn).parameters)
    hints = _type_hints(name, fn)
    wants_context = False
    if "context" in params and "context" not in bound:
        wants_context = True
        params.pop("context")
        annotation = hints.get("context")
        if annotation is not None and not (
            isinstance(annotation, type) and annotation.__name__ == "Context"
        ):
            raise FunctionLoadError(
                f'cannot load the {name} function: the "context" parameter is expected to be '
                f"of type azure.functions.Context, got {annotation!r}{hint}"
            )
    unbound = set(params) - bound
    if unbound:
        raise FunctionLoadError(
            f"cannot load the {name} function: the following parameters are declared in Python "
            f"but not in the function's bindings: {sorted(unbound)!r}"
        )
    missing = bound - set(params)
    if missing:
        raise FunctionLoadError(
            f"cannot load the {name} function: the following parameters are declared in the "
            f"function's bindings but not in Python: {sorted(missing)!r}{hint}"
        )
    return wants_context


def _http_spec(name: str, trigger: Any) -> HttpSpec:
    methods_raw = getattr(trigger, "methods", None)
    methods: frozenset[str] | None = None
    if methods_raw:
        methods = frozenset(str(getattr(m, "value", m)).split(".")[-1].upper() for m in methods_raw)
    level_raw = getattr(trigger, "auth_level", None)
    level_text = str(getattr(level_raw, "value", level_raw) or "function").lower()
    try:
        level = AuthLevel(level_text)
    except ValueError:
        raise FunctionLoadError(
            f"cannot load the {name} function: unknown auth level {level_text!r}"
        ) from None
    route = getattr(trigger, "route", None) or name
    return HttpSpec(route=str(route).strip("/"), methods=methods, auth_level=level)


def _check_http_return(name: str, fn: Callable[..., Any]) -> None:
    annotation = _type_hints(name, fn).get("return")
    if annotation is None:
        return
    if not isinstance(annotation, type):
        raise FunctionLoadError(
            f"cannot load the {name} function: it has an invalid non-type return "
            f"annotation {annotation!r}"
        )
    if not issubclass(annotation, (func.HttpResponse, str)):
        raise FunctionLoadError(
            f"cannot load the {name} function: Python return annotation "
            f'"{annotation.__name__}" does not match binding type "http"'
        )
