"""Route templates and HTTP-trigger invocation without a network (``devhost.testing.InProcessApp``)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator

import pytest

from devhost.routing import Router, RouteTemplate, RouteTemplateError
from devhost.testing import InProcessApp

from .conftest import APP_DIR


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("items/{id:int}", "/items/42", {"id": "42"}),
        ("items/{id:int}", "/items/4x", None),
        ("items/{id:int}", "/items/99999999999", None),  # beyond Int32
        ("items/{name:alpha}", "/items/Bob", {"name": "Bob"}),
        ("items/{name:alpha}", "/items/b0b", None),
        ("t/{k:guid}", f"/t/{uuid.UUID(int=7)}", {"k": str(uuid.UUID(int=7))}),
        ("t/{k:guid}", "/t/not-a-guid", None),
        ("c/{c:regex(^[a-z]{{2}}\\d$)}", "/c/ab1", {"c": "ab1"}),
        ("c/{c:regex(^[a-z]{{2}}\\d$)}", "/c/abc1", None),
        ("opt/{id?}", "/opt", {}),
        ("opt/{id?}", "/opt/5", {"id": "5"}),
        ("def/{page=1}", "/def", {"page": "1"}),
        ("files/{*rest}", "/files/a/b/c.txt", {"rest": "a/b/c.txt"}),
        ("files/{*rest}", "/files", {}),
        ("files/{name}.{ext}", "/files/report.pdf", {"name": "report", "ext": "pdf"}),
        ("Orgs/{org}", "/orgs/acme%20co/", {"org": "acme co"}),  # literals ignore case
        ("n/{v:range(1,5)}", "/n/6", None),
        ("n/{v:length(2,3)}", "/n/abc", {"v": "abc"}),
    ],
)
def test_route_templates(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate.parse(template).match(path) == expected


def test_unknown_constraint_is_refused_like_the_host() -> None:
    with pytest.raises(RouteTemplateError, match="could not be resolved"):
        RouteTemplate.parse("items/{id:integer}")


def test_literal_routes_win_over_parameters_and_methods_filter() -> None:
    router: Router[str] = Router("api")
    router.add("items/{name}", ["GET"], "by-name")
    router.add("items/new", ["GET"], "new")
    router.add("items/{id:int}", ["GET"], "by-id")
    router.add("items/{id:int}", ["DELETE"], "delete")
    found = router.match("GET", "/api/items/new")
    assert found is not None and found.route.target == "new"
    found = router.match("GET", "/api/items/12")
    assert found is not None and found.route.target == "by-id"
    found = router.match("DELETE", "/api/items/12")
    assert found is not None and found.route.target == "delete"
    assert router.match("PUT", "/api/items/12") is None
    assert router.match("GET", "/items/12") is None  # outside the route prefix


@pytest.fixture(scope="module")
def app() -> Iterator[InProcessApp]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEVHOST_TEST_HUB", "InProcessHub")
        before = sys.modules.get("function_app")
        loaded = InProcessApp(APP_DIR)
        assert sys.modules.get("function_app") is before, "the app's module must not leak"
        assert str(APP_DIR) not in sys.path
        yield loaded


def test_in_process_call_routes_by_constraint(app: InProcessApp) -> None:
    assert app.call("GET", "/api/items/7").json() == {"kind": "id", "id": 7}
    assert app.call("GET", "/api/items/seven").json() == {"kind": "name", "name": "seven"}
    assert app.call("GET", "/api/items/7x").status == 404
    assert app.call("POST", "/api/items/7").status == 404  # wrong method: 404, as the host


def test_in_process_optional_and_catch_all(app: InProcessApp) -> None:
    key = str(uuid.uuid4())
    assert app.call("GET", f"/api/things/{key}").json() == {"key": key, "part": None}
    assert app.call("DELETE", f"/api/things/{key}/x").json() == {"key": key, "part": "x"}
    result = app.call("GET", "/api/files/a/b/c.txt")
    assert (result.status, result.body) == (200, b"path=a/b/c.txt")
    assert result.header("content-type") == "text/plain; charset=utf-8"
    assert app.call("GET", "/api/codes/ABC-12").body == b"ABC-12"
    assert app.call("GET", "/api/codes/AB-12").status == 404


def test_in_process_request_shape_and_context(app: InProcessApp) -> None:
    result = app.call("POST", "/api/echo?x=1", json_body={"a": [1, 2]})
    assert result.status == 201
    assert result.json() == {
        "method": "POST",
        "query": {"x": "1"},
        "body": {"a": [1, 2]},
        "function": "echo",
    }


def test_in_process_unhandled_exception_is_a_bare_500(app: InProcessApp) -> None:
    result = app.call("GET", "/api/boom")
    assert (result.status, result.body) == (500, b"")


def test_in_process_durable_client_function_needs_a_binding(app: InProcessApp) -> None:
    with pytest.raises(RuntimeError, match="durable client binding"):
        app.call("GET", "/api/status/abc")
