"""Blocking and quick functions, sync and async, HTTP and durable.

Each HTTP function answers JSON with the thread it ran on and when it started and ended
(``time.monotonic()`` of the worker), so tests can see what waited for what.
"""

import asyncio
import json
import os
import threading
import time

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint()

SLEEPY = "sleepy"
TIMED_OUT = "times_out"
QUICK = "quick_steps"
PID = "pid_of_worker"
SLOW_START = "slow_start"

#: Episodes of ``slow_start`` per instance in this worker process.
_episodes: dict[str, int] = {}
SPREAD = "spread"

#: Invocations of ``slow`` that ran to their end (the function outlives its caller's answer).
_finished: list[str] = []
_finished_lock = threading.Lock()


def _answer(started: float, **extra: object) -> func.HttpResponse:
    body = {
        "thread": threading.current_thread().name,
        "started": started,
        "ended": time.monotonic(),
        **extra,
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@bp.route(route="block", methods=["GET"])
def block(req: func.HttpRequest) -> func.HttpResponse:
    """A synchronous handler that holds its pool thread (a blocking SDK call, say)."""
    started = time.monotonic()
    time.sleep(float(req.params.get("seconds", "1")))
    return _answer(started)


@bp.route(route="ping", methods=["GET"])
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return _answer(time.monotonic())


@bp.route(route="async-block", methods=["GET"])
async def async_block(req: func.HttpRequest) -> func.HttpResponse:
    """An ``async def`` handler that blocks the event loop (``time.sleep`` instead of await)."""
    started = time.monotonic()
    time.sleep(float(req.params.get("seconds", "1")))  # noqa: ASYNC251 - the point of the test
    return _answer(started)


@bp.route(route="async-ping", methods=["GET"])
async def async_ping(req: func.HttpRequest) -> func.HttpResponse:
    started = time.monotonic()
    await asyncio.sleep(0)
    return _answer(started)


@bp.route(route="slow/{tag}", methods=["GET"])
def slow(req: func.HttpRequest) -> func.HttpResponse:
    """Runs past the front end's response limit but within functionTimeout, then records it."""
    started = time.monotonic()
    time.sleep(float(req.params.get("seconds", "3")))
    with _finished_lock:
        _finished.append(req.route_params["tag"])
    return _answer(started)


@bp.route(route="finished", methods=["GET"])
def finished(req: func.HttpRequest) -> func.HttpResponse:
    with _finished_lock:
        return func.HttpResponse(json.dumps(list(_finished)), mimetype="application/json")


@bp.activity_trigger(input_name="seconds", activity=SLEEPY)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@bp.orchestration_trigger(context_name="context", orchestration=TIMED_OUT)
def times_out(context: df.DurableOrchestrationContext):
    """Calls an activity that outlives functionTimeout; returns the failure it saw."""
    try:
        yield context.call_activity(SLEEPY, context.get_input())
    except Exception as exc:
        return {"failed": str(exc).splitlines()[0]}
    return {"failed": None}


@bp.orchestration_trigger(context_name="context", orchestration=QUICK)
def quick_steps(context: df.DurableOrchestrationContext):
    first = yield context.call_activity(SLEEPY, 0)
    return first


@bp.route(route="pid", methods=["GET"])
def pid(req: func.HttpRequest) -> func.HttpResponse:
    """Which worker process ran this invocation."""
    return func.HttpResponse(json.dumps(os.getpid()), mimetype="application/json")


@bp.activity_trigger(input_name="seconds", activity=PID)
def pid_of_worker(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@bp.orchestration_trigger(context_name="context", orchestration=SPREAD)
def spread(context: df.DurableOrchestrationContext):
    """Fans out activities that report their worker process."""
    n = int(context.get_input())
    pids = yield context.task_all([context.call_activity(PID, 0.2) for _ in range(n)])
    return pids


@bp.orchestration_trigger(context_name="context", orchestration=SLOW_START)
def slow_start(context: df.DurableOrchestrationContext):
    """Its first episode outlives functionTimeout (a blocking call in orchestrator code)."""
    with _finished_lock:
        episode = _episodes[context.instance_id] = _episodes.get(context.instance_id, 0) + 1
    if episode == 1:
        time.sleep(float(context.get_input()))
    yield context.call_activity(SLEEPY, 0)
    return {"episodes": episode}
