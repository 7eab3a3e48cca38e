"""HTTP trigger route templates (the ASP.NET Core template syntax the Functions host uses).

Supported: literal segments (case-insensitive), ``{name}``, optional ``{name?}``, defaults
``{name=value}``, catch-all ``{*rest}``, complex segments such as ``{file}.{ext}``, and the inline
constraints ``int``, ``long``, ``bool``, ``alpha``, ``guid``, ``decimal``/``double``/``float``,
``datetime``, ``min(n)``, ``max(n)``, ``range(a,b)``, ``minlength(n)``, ``maxlength(n)``,
``length(n)``/``length(a,b)``, ``required`` and ``regex(expression)`` (braces escaped as ``{{ }}``).
An unknown constraint is a load error, as it is for the host.

Routes are tried in ASP.NET's inbound precedence (literal before constrained parameter before
parameter before catch-all, segment by segment). A path that matches no template for the request's
method is a 404, which is what the Functions host answers for a wrong method too.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")


class RouteTemplateError(ValueError):
    """A route template the host would refuse."""


# --------------------------------------------------------------------------------- constraints
Check = Callable[[str], bool]


def _int_in(low: int, high: int) -> Check:
    def check(value: str) -> bool:
        if not re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return False
        return low <= int(value) <= high

    return check


def _is_guid(value: str) -> bool:
    text = value.strip()
    if text.lower().startswith("urn:"):
        return False
    if (text[:1], text[-1:]) in (("{", "}"), ("(", ")")):
        text = text[1:-1]
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _ints(args: str, count: int, name: str) -> list[int]:
    try:
        values = [int(a.strip()) for a in args.split(",")]
    except ValueError:
        raise RouteTemplateError(f"constraint {name}({args}) needs integer arguments") from None
    if len(values) != count:
        raise RouteTemplateError(f"constraint {name} takes {count} argument(s)")
    return values


def make_constraint(name: str, args: str | None) -> Check:
    key = name.lower()
    int32, int64 = (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)
    simple: dict[str, Check] = {
        "int": _int_in(*int32),
        "long": _int_in(*int64),
        "bool": lambda v: v.lower() in ("true", "false"),
        "alpha": lambda v: re.fullmatch(r"[a-z]*", v, re.IGNORECASE) is not None,
        "guid": _is_guid,
        "decimal": _is_float,
        "double": _is_float,
        "float": _is_float,
        "datetime": _is_datetime,
        "required": lambda v: v != "",
    }
    if key in simple:
        if args is not None:
            raise RouteTemplateError(f"constraint {name} takes no arguments")
        return simple[key]
    if args is None:
        raise RouteTemplateError(f"The constraint reference '{name}' could not be resolved")
    long_check = simple["long"]
    if key == "min":
        (low,) = _ints(args, 1, key)
        return lambda v: long_check(v) and int(v) >= low
    if key == "max":
        (high,) = _ints(args, 1, key)
        return lambda v: long_check(v) and int(v) <= high
    if key == "range":
        low, high = _ints(args, 2, key)
        return lambda v: long_check(v) and low <= int(v) <= high
    if key == "minlength":
        (n,) = _ints(args, 1, key)
        return lambda v: len(v) >= n
    if key == "maxlength":
        (n,) = _ints(args, 1, key)
        return lambda v: len(v) <= n
    if key == "length":
        bounds = _ints(args, args.count(",") + 1, key)
        if len(bounds) == 1:
            return lambda v: len(v) == bounds[0]
        if len(bounds) == 2:
            return lambda v: bounds[0] <= len(v) <= bounds[1]
        raise RouteTemplateError("constraint length takes one or two arguments")
    if key == "regex":
        try:
            pattern = re.compile(args, re.IGNORECASE)
        except re.error as exc:
            raise RouteTemplateError(f"invalid regex constraint {args!r}: {exc}") from exc
        return lambda v: pattern.search(v) is not None
    raise RouteTemplateError(f"The constraint reference '{name}' could not be resolved")


# --------------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class _Param:
    name: str
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    constraints: tuple[Check, ...] = ()


_Part = str | _Param


def _parse_param(content: str, template: str) -> _Param:
    text = content.strip()
    catch_all = text.startswith("*")
    text = text.lstrip("*")
    match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text)
    if not match:
        raise RouteTemplateError(f"invalid parameter {{{content}}} in route {template!r}")
    name, rest = match.group(0), text[match.end() :]
    constraints: list[Check] = []
    while rest.startswith(":"):
        cm = re.match(r":([A-Za-z]+)", rest)
        if not cm:
            raise RouteTemplateError(f"invalid constraint in {{{content}}} of route {template!r}")
        rest = rest[cm.end() :]
        args: str | None = None
        if rest.startswith("("):
            depth, end = 0, -1
            for index, ch in enumerate(rest):
                depth += ch == "("
                depth -= ch == ")"
                if depth == 0:
                    end = index
                    break
            if end < 0:
                raise RouteTemplateError(f"unbalanced parentheses in route {template!r}")
            args, rest = rest[1:end], rest[end + 1 :]
        constraints.append(make_constraint(cm.group(1), args))
    optional, default = False, None
    if rest == "?":
        optional = True
    elif rest.startswith("="):
        default = rest[1:]
    elif rest:
        raise RouteTemplateError(f"invalid parameter {{{content}}} in route {template!r}")
    return _Param(name, optional or catch_all, catch_all, default, tuple(constraints))


def _parse_segment(segment: str, template: str) -> list[_Part]:
    parts: list[_Part] = []
    literal = ""
    i = 0
    while i < len(segment):
        ch = segment[i]
        if segment.startswith("{{", i) or segment.startswith("}}", i):
            literal += ch
            i += 2
            continue
        if ch == "}":
            raise RouteTemplateError(f"unmatched '}}' in route {template!r}")
        if ch != "{":
            literal += ch
            i += 1
            continue
        j, depth, content = i + 1, 0, ""
        while j < len(segment):
            c = segment[j]
            if depth > 0 and (segment.startswith("{{", j) or segment.startswith("}}", j)):
                content += c
                j += 2
                continue
            if c == "}" and depth == 0:
                break
            depth += c == "("
            depth -= c == ")"
            content += c
            j += 1
        else:
            raise RouteTemplateError(f"unclosed '{{' in route {template!r}")
        if literal:
            parts.append(literal)
            literal = ""
        parts.append(_parse_param(content, template))
        i = j + 1
    if literal:
        parts.append(literal)
    return parts


@dataclass(frozen=True)
class RouteTemplate:
    """A compiled template; :meth:`match` returns route values or ``None``."""

    text: str
    regex: re.Pattern[str] = field(repr=False)
    params: tuple[tuple[str, _Param], ...] = field(repr=False)  # (group name, param)
    precedence: tuple[int, ...] = field(repr=False)

    @classmethod
    def parse(cls, template: str) -> RouteTemplate:
        text = template.strip().strip("/")
        segments = [s for s in text.split("/")] if text else []
        pattern = ""
        params: list[tuple[str, _Param]] = []
        ranks: list[int] = []
        seen: set[str] = set()
        for index, segment in enumerate(segments):
            if segment == "":
                raise RouteTemplateError(f"empty segment in route {template!r}")
            parts = _parse_segment(segment, template)
            for part in parts:
                if isinstance(part, _Param):
                    if part.name.lower() in seen:
                        raise RouteTemplateError(
                            f"parameter {part.name!r} repeated in {template!r}"
                        )
                    seen.add(part.name.lower())
                    if part.catch_all and index != len(segments) - 1:
                        raise RouteTemplateError(
                            f"a catch-all parameter must be the last segment of {template!r}"
                        )
            if len(parts) == 1 and isinstance(parts[0], _Param):
                param = parts[0]
                group = f"p{len(params)}"
                params.append((group, param))
                body = f"(?P<{group}>.*)" if param.catch_all else f"(?P<{group}>[^/]+)"
                if param.optional or param.default is not None:
                    pattern += f"(?:/{body})?"
                else:
                    pattern += f"/{body}"
                if param.catch_all:
                    ranks.append(5)
                else:
                    ranks.append(3 if param.constraints else 4)
                continue
            if len(parts) == 1:
                pattern += "/" + re.escape(str(parts[0]))
                ranks.append(1)
                continue
            body = ""
            for part in parts:
                if isinstance(part, _Param):
                    group = f"p{len(params)}"
                    params.append((group, part))
                    quant = "*?" if part.optional else "+?"
                    body += f"(?P<{group}>[^/]{quant})"
                else:
                    body += re.escape(part)
            pattern += f"/{body}"
            ranks.append(2)
        regex = re.compile(pattern + "/?", re.IGNORECASE)
        return cls(text, regex, tuple(params), tuple(ranks))

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for ``path`` ("/a/b", already without the route prefix) or ``None``."""
        candidate = "/" + path.strip("/") if path.strip("/") else ""
        found = self.regex.fullmatch(candidate)
        if found is None:
            return None
        values: dict[str, str] = {}
        for group, param in self.params:
            raw = found.group(group)
            if raw is None or raw == "":
                if param.default is not None:
                    values[param.name] = param.default
                elif not param.optional:
                    return None
                continue
            value = unquote(raw)
            if not all(check(value) for check in param.constraints):
                return None
            values[param.name] = value
        return values


# --------------------------------------------------------------------------------- routing
@dataclass(frozen=True)
class Route(Generic[T]):
    template: RouteTemplate
    methods: frozenset[str] | None
    target: T


@dataclass(frozen=True)
class RouteMatch(Generic[T]):
    route: Route[T]
    values: dict[str, str]


class Router(Generic[T]):
    """Routes under a prefix (``api`` by default), tried in precedence order."""

    def __init__(self, prefix: str = "api") -> None:
        self.prefix = prefix.strip("/")
        self._routes: list[Route[T]] = []

    def add(self, template: str, methods: Iterable[str] | None, target: T) -> Route[T]:
        route = Route(
            RouteTemplate.parse(template),
            None if methods is None else frozenset(m.upper() for m in methods),
            target,
        )
        self._routes.append(route)
        self._routes.sort(key=lambda r: (r.template.precedence, r.template.text.lower()))
        return route

    @property
    def routes(self) -> list[Route[T]]:
        return list(self._routes)

    def strip_prefix(self, path: str) -> str | None:
        """The path below the prefix, or ``None`` when the path is outside it."""
        if not self.prefix:
            return path
        lowered = path.lower()
        head = "/" + self.prefix.lower()
        if lowered == head or lowered == head + "/":
            return ""
        if lowered.startswith(head + "/"):
            return path[len(head) :]
        return None

    def match(self, method: str, path: str) -> RouteMatch[T] | None:
        """The first route whose template and method match ``path`` (full request path)."""
        below = self.strip_prefix(path)
        if below is None:
            return None
        method = method.upper()
        for route in self._routes:
            if route.methods is not None and method not in route.methods:
                continue
            values = route.template.match(below)
            if values is not None:
                return RouteMatch(route, values)
        return None
