"""The Durable Functions HTTP management API (``HttpApiHandler``) the SDK client calls.

Served twice, like the extension serves it: at ``/runtime/webhooks/durabletask/`` on the public
port (the ``statusQueryGetUri`` family of URLs; needs the ``durabletask_extension`` system key when
keys are enforced) and at the binding's ``rpcBaseUrl`` on an internal loopback listener (what
``DurableOrchestrationClient`` uses; no key, as the extension's local RPC endpoint).

Every response body is empty or JSON: the SDK parses every body with ``response.json()``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any
from urllib.parse import quote

from aiohttp import web

from devhost.engine import Delivery, Engine, EngineError
from devhost.history import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Event,
    EventType,
    RuntimeStatus,
    event_type_of,
    format_status_time,
    parse_timestamp,
)
from devhost.store import DEFAULT_PAGE_SIZE, InstanceQuery, InstanceRecord

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_PATH = "/durabletask"
CONNECTION_NAME = "Storage"
CONTINUATION_HEADER = "x-ms-continuation-token"
_NO_MORE_PAGES = base64.b64encode(b"null").decode()


class Links:
    """Builds the binding JSON and the management URLs the SDK hands to callers."""

    def __init__(self, hub: str, system_key: str | None) -> None:
        self.hub = hub
        self.system_key = system_key

    def query(self) -> str:
        text = f"taskHub={quote(self.hub)}&connection={CONNECTION_NAME}"
        return text + (f"&code={quote(self.system_key)}" if self.system_key else "")

    def management_templates(self, origin: str) -> dict[str, str]:
        base = f"{origin}{WEBHOOK_PATH}"
        inst, q = f"{base}/instances/INSTANCEID", self.query()
        return {
            "id": "INSTANCEID",
            "statusQueryGetUri": f"{inst}?{q}",
            "sendEventPostUri": f"{inst}/raiseEvent/{{eventName}}?{q}",
            "terminatePostUri": f"{inst}/terminate?reason={{text}}&{q}",
            "rewindPostUri": f"{inst}/rewind?reason={{text}}&{q}",
            "purgeHistoryDeleteUri": f"{inst}?{q}",
            "restartPostUri": f"{inst}/restart?{q}",
            "suspendPostUri": f"{inst}/suspend?reason={{text}}&{q}",
            "resumePostUri": f"{inst}/resume?reason={{text}}&{q}",
        }

    def management_urls(self, origin: str, instance_id: str) -> dict[str, str]:
        quoted = quote(instance_id, safe="")
        return {
            key: value.replace("INSTANCEID", quoted if key != "id" else instance_id)
            for key, value in self.management_templates(origin).items()
        }

    def check_status_payload(self, origin: str, instance_id: str) -> dict[str, str]:
        urls = self.management_urls(origin, instance_id)
        urls.pop("rewindPostUri")
        return urls

    def client_binding(self, origin: str, rpc_base_url: str) -> str:
        """The ``durableClient`` binding string (EXT ``DurableOrchestrationClientToString``)."""
        base = f"{origin}{WEBHOOK_PATH}"
        create = f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{self.query()}"
        return json.dumps(
            {
                "taskHubName": self.hub,
                "creationUrls": {
                    "createNewInstancePostUri": create,
                    "createAndWaitOnNewInstancePostUri": create.replace(
                        "?", "?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&", 1
                    ),
                },
                "managementUrls": self.management_templates(origin),
                "baseUrl": base,
                "requiredQueryStringParameters": self.query(),
                "rpcBaseUrl": rpc_base_url,
            }
        )


def json_response(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        text="" if body is None else json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def _bad_request(message: str) -> web.Response:
    return json_response(
        400,
        {
            "Message": "One or more of the arguments submitted is incorrect",
            "ExceptionMessage": message,
        },
    )


def _flag(query: Any, name: str, default: bool) -> bool:
    value = query.get(name)
    if value is None or value == "":
        return default
    return str(value).strip().lower() == "true"


def _json_token(text: str | None) -> Any:
    """EXT ``ParseToJToken``: JSON where it parses, else the raw string."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def status_payload(
    record: InstanceRecord,
    *,
    show_input: bool,
    history: list[Event] | None = None,
    show_history_output: bool = False,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": record.name,
        "instanceId": record.instance_id,
        "runtimeStatus": record.runtime_status.value,
        "input": _json_token(record.input) if show_input else None,
        "customStatus": _json_token(record.custom_status),
        "output": _json_token(record.output),
        "createdTime": format_status_time(record.created_time),
        "lastUpdatedTime": format_status_time(record.last_updated_time),
    }
    if history is not None:
        payload["historyEvents"] = project_history(
            history, show_input=show_input, show_output=show_history_output
        )
    return payload


_SCHEDULING = {
    EventType.TASK_COMPLETED: EventType.TASK_SCHEDULED,
    EventType.TASK_FAILED: EventType.TASK_SCHEDULED,
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
}
_WITH_RESULT = frozenset(
    {
        EventType.TASK_COMPLETED,
        EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
        EventType.EXECUTION_COMPLETED,
    }
)


def project_history(
    events: list[Event], *, show_input: bool, show_output: bool
) -> list[dict[str, Any]]:
    """The status API's ``historyEvents``, rule for rule as the extension builds them
    (EXT ``DurableClient.GetDurableOrchestrationStatusAsync``):

    * every event: ``EventType`` by name; ``EventId`` and ``IsPlayed`` dropped; ``Input`` dropped
      unless ``showInput``; ``OrchestratorStarted`` / ``OrchestratorCompleted`` rows dropped;
    * ``ExecutionStarted``: ``Name`` becomes ``FunctionName``; ``OrchestrationInstance``,
      ``ParentInstance``, ``Version`` and ``Tags`` dropped;
    * ``TaskScheduled`` / ``SubOrchestrationInstanceCreated``: ``Version`` dropped; the row is
      merged into its completion (``FunctionName``, ``ScheduledTime``, and with ``showInput`` the
      scheduled ``Input`` text) and disappears - a task still running keeps its row;
    * completions: ``TaskScheduledId`` dropped; ``Result`` of ``TaskCompleted``,
      ``SubOrchestrationInstanceCompleted`` and ``ExecutionCompleted`` only with
      ``showHistoryOutput`` (then parsed as JSON where it parses);
    * ``ExecutionCompleted``: ``OrchestrationStatus`` by name; ``TimerFired``: ``TimerId`` dropped.
    """
    origins: dict[tuple[EventType, int], int] = {}  # (scheduling type, EventId) -> index
    for i, event in enumerate(events):
        kind = event_type_of(event)
        if kind in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED):
            origins[(kind, int(event["EventId"]))] = i
    merged: set[int] = set()
    projected: dict[int, dict[str, Any]] = {}
    for i, event in enumerate(events):
        kind = event_type_of(event)
        if kind in (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED):
            continue
        item: dict[str, Any] = {
            k: v for k, v in event.items() if k not in ("EventId", "IsPlayed", "Input")
        }
        if show_input and "Input" in event:
            item["Input"] = event["Input"]
        item["EventType"] = kind.wire_name
        if kind in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED):
            item.pop("Version", None)
        elif kind in _SCHEDULING:
            origin_at = origins.get((_SCHEDULING[kind], int(event["TaskScheduledId"])))
            if origin_at is not None:
                origin = events[origin_at]
                item["ScheduledTime"] = origin.get("Timestamp")
                item["FunctionName"] = origin.get("Name")
                if show_input:
                    item["Input"] = origin.get("Input")
                merged.add(origin_at)
            item.pop("TaskScheduledId", None)
        elif kind is EventType.EXECUTION_STARTED:
            item["FunctionName"] = item.pop("Name", None)
            for key in ("OrchestrationInstance", "ParentInstance", "Version", "Tags"):
                item.pop(key, None)
        elif kind is EventType.EXECUTION_COMPLETED:
            status = item.get("OrchestrationStatus")
            if isinstance(status, int):
                item["OrchestrationStatus"] = RuntimeStatus.from_code(status).value
        elif kind is EventType.TIMER_FIRED:
            item.pop("TimerId", None)
        if kind in _WITH_RESULT:
            if show_output:
                item["Result"] = _json_token(item.get("Result"))
            else:
                item.pop("Result", None)
        projected[i] = item
    return [item for i, item in projected.items() if i not in merged]


def _parse_time(text: str | None) -> Any:
    if not text:
        return None
    return parse_timestamp(text)


def _statuses(text: str | None) -> frozenset[RuntimeStatus] | None:
    if not text:
        return None
    return frozenset(RuntimeStatus.parse(part) for part in text.split(",") if part.strip())


class ManagementApi:
    """Request handling for both mounts; ``public`` decides the origin of returned URLs."""

    def __init__(self, engine: Engine, links: Links, public_origin: str) -> None:
        self.engine = engine
        self.links = links
        self.public_origin = public_origin

    def _origin(self, request: web.Request, public: bool) -> str:
        if public:
            return f"{request.scheme}://{request.host}"
        return self.public_origin

    async def handle(self, request: web.Request, subpath: str, *, public: bool) -> web.Response:
        segments = [s for s in subpath.split("/") if s]
        method = request.method.upper()
        try:
            if segments[:1] == ["orchestrators"] and method == "POST" and len(segments) in (2, 3):
                return await self._start(request, segments, public)
            if segments[:1] == ["instances"]:
                return await self._instances(request, segments, method, public)
            if segments[:1] == ["entities"]:
                return json_response(501, "Durable entities are not supported by the dev host.")
        except EngineError as exc:
            if exc.status == 400:
                return _bad_request(str(exc))
            return json_response(
                exc.status,
                {
                    "Message": "Something went wrong while processing your request",
                    "ExceptionMessage": str(exc),
                },
            )
        except ValueError as exc:
            return _bad_request(str(exc))
        return web.Response(status=404)

    # -- start ---------------------------------------------------------------------------
    async def _start(self, request: web.Request, segments: list[str], public: bool) -> web.Response:
        raw = await request.text()
        try:
            value = json.loads(raw) if raw.strip() else None
        except ValueError:
            return _bad_request("The request body is not valid JSON.")
        input_json = None if value is None else json.dumps(value)
        instance_id = await self.engine.start_instance(
            segments[1], segments[2] if len(segments) == 3 else None, input_json
        )
        origin = self._origin(request, public)
        timeout = request.query.get("timeout")
        if timeout:
            interval = float(request.query.get("pollingInterval") or 1)
            done = await self._wait(instance_id, float(timeout), interval)
            if done is not None and done.runtime_status is RuntimeStatus.COMPLETED:
                return json_response(200, _json_token(done.output))
            if done is not None:
                return json_response(200, status_payload(done, show_input=True))
        payload = self.links.check_status_payload(origin, instance_id)
        return json_response(
            202, payload, {"Location": payload["statusQueryGetUri"], "Retry-After": "10"}
        )

    async def _wait(
        self, instance_id: str, timeout_s: float, interval_s: float
    ) -> InstanceRecord | None:
        deadline = time.monotonic() + timeout_s
        while True:
            record = await self.engine.get_instance(instance_id)
            if record is not None and record.runtime_status in TERMINAL_STATUSES:
                return record
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(max(0.05, min(interval_s, deadline - time.monotonic())))

    # -- instances -----------------------------------------------------------------------
    async def _instances(
        self, request: web.Request, segments: list[str], method: str, public: bool
    ) -> web.Response:
        query = request.query
        if len(segments) == 1:
            if method == "GET":
                return await self._list(request)
            if method == "DELETE":
                return await self._purge_where(request)
            return web.Response(status=404)
        instance_id = segments[1]
        action = segments[2].lower() if len(segments) > 2 else None
        if action is None and method == "GET":
            return await self._status(request, instance_id, public)
        if action is None and method == "DELETE":
            deleted = await self.engine.purge(instance_id)
            return (
                json_response(200, {"instancesDeleted": 1}) if deleted else web.Response(status=404)
            )
        if method != "POST" or action is None:
            return web.Response(status=404)
        reason = query.get("reason")
        if action == "terminate" and len(segments) == 3:
            return _delivery(await self.engine.terminate(instance_id, reason))
        if action == "suspend" and len(segments) == 3:
            return _delivery(await self.engine.suspend(instance_id, reason))
        if action == "resume" and len(segments) == 3:
            return _delivery(await self.engine.resume(instance_id, reason))
        if action == "raiseevent" and len(segments) == 4:
            if request.content_type != "application/json":
                return json_response(
                    400, {"Message": "Only application/json request content is supported"}
                )
            raw = await request.text()
            try:
                value = json.loads(raw) if raw.strip() else None
            except ValueError:
                return _bad_request("The request body is not valid JSON.")
            data = None if value is None else json.dumps(value)
            return _delivery(await self.engine.raise_event(instance_id, segments[3], data))
        if action == "restart" and len(segments) == 3:
            return await self._restart(request, instance_id, public)
        if action == "rewind" and len(segments) == 3:
            return json_response(501, "Rewind is not supported by the dev host.")
        return web.Response(status=404)

    async def _status(self, request: web.Request, instance_id: str, public: bool) -> web.Response:
        record = await self.engine.get_instance(instance_id)
        if record is None:
            return web.Response(status=404)
        query = request.query
        show_history = _flag(query, "showHistory", False)
        history = await self.engine.get_history(record) if show_history else None
        payload = status_payload(
            record,
            show_input=_flag(query, "showInput", True),
            history=history,
            show_history_output=_flag(query, "showHistoryOutput", False),
        )
        if record.runtime_status in ACTIVE_STATUSES:
            location = (
                str(request.url)
                if public
                else self.links.management_urls(self.public_origin, instance_id)[
                    "statusQueryGetUri"
                ]
            )
            return json_response(202, payload, {"Location": location, "Retry-After": "5"})
        if record.runtime_status is RuntimeStatus.FAILED and _flag(
            query, "returnInternalServerErrorOnFailure", False
        ):
            return json_response(500, payload)
        return json_response(200, payload)

    async def _list(self, request: web.Request) -> web.Response:
        query = request.query
        top = int(query.get("top") or DEFAULT_PAGE_SIZE)
        if top < 1:
            return _bad_request("top must be positive")
        records, token = await self.engine.query(
            InstanceQuery(
                runtime_status=_statuses(query.get("runtimeStatus")),
                created_from=_parse_time(query.get("createdTimeFrom")),
                created_to=_parse_time(query.get("createdTimeTo")),
                instance_id_prefix=query.get("instanceIdPrefix") or None,
                top=top,
                continuation_token=_continuation(request),
            )
        )
        show_input = _flag(query, "showInput", False)
        return json_response(
            200,
            [status_payload(r, show_input=show_input) for r in records],
            {CONTINUATION_HEADER: token or _NO_MORE_PAGES},
        )

    async def _purge_where(self, request: web.Request) -> web.Response:
        query = request.query
        created_from = _parse_time(query.get("createdTimeFrom"))
        if created_from is None:
            return _bad_request("createdTimeFrom is required to purge instances by filter.")
        deleted = await self.engine.purge_where(
            InstanceQuery(
                runtime_status=_statuses(query.get("runtimeStatus")),
                created_from=created_from,
                created_to=_parse_time(query.get("createdTimeTo")),
            )
        )
        if deleted == 0:
            return web.Response(status=404)
        return json_response(200, {"instancesDeleted": deleted})

    async def _restart(self, request: web.Request, instance_id: str, public: bool) -> web.Response:
        record = await self.engine.get_instance(instance_id)
        if record is None:
            return web.Response(status=404)
        new_id = None if _flag(request.query, "restartWithNewInstanceId", True) else instance_id
        started = await self.engine.start_instance(record.name, new_id, record.input)
        payload = self.links.check_status_payload(self._origin(request, public), started)
        return json_response(
            202, payload, {"Location": payload["statusQueryGetUri"], "Retry-After": "10"}
        )


def _continuation(request: web.Request) -> str | None:
    token = request.headers.get(CONTINUATION_HEADER)
    if not token or token == _NO_MORE_PAGES:
        return None
    return token


def _delivery(outcome: Delivery) -> web.Response:
    if outcome is Delivery.ACCEPTED:
        return web.Response(status=202)
    if outcome is Delivery.GONE:
        return web.Response(status=410)
    return web.Response(status=404)
