"""The engine on the in-memory store, driving the real Durable SDK in this process.

Covers episode batching and recovery after an abrupt stop (what a restart after a crash sees):
activities completed before the stop are not run again, scheduled ones are, half-written
episodes are discarded and already-processed inbox messages are not delivered twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

from devhost.config import HostConfig
from devhost.engine import Delivery, Engine
from devhost.history import EventType, RuntimeStatus, event_type_of, new_event
from devhost.invoke import prime_serialization_notice
from devhost.loader import FunctionIndex, index_functions
from devhost.store import InstanceRecord, MemoryStore, StoredMessage

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
runs: list[int] = []


@app.orchestration_trigger(context_name="context", orchestration="steps")
def steps(context: df.DurableOrchestrationContext):
    results = []
    for step in range(context.get_input()["steps"]):
        results.append((yield context.call_activity("step", step)))
    return results


@app.orchestration_trigger(context_name="context", orchestration="fan")
def fan(context: df.DurableOrchestrationContext):
    values = yield context.task_all(
        [context.call_activity("step", i) for i in range(context.get_input())]
    )
    child = yield context.call_sub_orchestrator("steps", {"steps": 2})
    return {"sum": sum(values), "child": child}


@app.orchestration_trigger(context_name="context", orchestration="gate")
def gate(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("step", 1)
    opened = yield context.wait_for_external_event("Open")
    return [first, opened]


@app.orchestration_trigger(context_name="context", orchestration="generations")
def generations(context: df.DurableOrchestrationContext):
    state = context.get_input()
    total = state["total"] + (yield context.call_activity("step", state["gen"]))
    if state["gen"] < state["last"]:
        context.continue_as_new({"gen": state["gen"] + 1, "last": state["last"], "total": total})
        return None
    return total


@app.orchestration_trigger(context_name="context", orchestration="nap")
def nap(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + dt.timedelta(milliseconds=300))
    return "woke"


@app.activity_trigger(input_name="step", activity="step")
async def step_activity(step: int) -> int:
    runs.append(step)
    await asyncio.sleep(0.02)
    return step * 10


CONFIG = HostConfig(max_concurrent_activities=4, max_concurrent_orchestrations=2)


def sdk_input(value: object) -> str:
    """The input as ``start_new`` delivers it: the JSON text S, serialized once more."""
    return json.dumps(json.dumps(value))


_INDEX: FunctionIndex | None = None


def function_index() -> FunctionIndex:
    global _INDEX
    if _INDEX is None:  # get_functions() may be called only once per app
        prime_serialization_notice()
        _INDEX = index_functions(app.get_functions(), app_dir=Path(__file__).parent)
    return _INDEX


async def finished(store: MemoryStore, instance_id: str, seconds: float = 30) -> InstanceRecord:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        record = await store.get_instance(instance_id)
        if record is not None and record.runtime_status.is_terminal:
            return record
        await asyncio.sleep(0.01)
    raise AssertionError(f"{instance_id} did not finish")


async def until(predicate: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


def test_fan_out_and_sub_orchestration_complete_with_batched_episodes() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        engine = Engine(function_index(), store, CONFIG)
        await engine.start()
        try:
            instance_id = await engine.start_instance("fan", "fan-1", sdk_input(40))
            record = await finished(store, instance_id)
        finally:
            await engine.stop()
        assert record.runtime_status is RuntimeStatus.COMPLETED, record.output
        assert json.loads(record.output or "") == {"sum": 7800, "child": [0, 10]}
        # 4 activity slots: completions arrive in waves and each wave is one episode, so the
        # 41 completions (40 activities and the child) need far fewer than 41 replays
        assert engine.stats.episodes_by_instance["fan-1"] <= 25
        child = await store.get_instance(f"{record.execution_id}:40")
        assert child is not None and child.runtime_status is RuntimeStatus.COMPLETED

    asyncio.run(scenario())


def test_abrupt_stop_then_restart_resumes_without_rerunning_completed_steps() -> None:
    async def scenario() -> None:
        runs.clear()
        store = MemoryStore()
        first = Engine(function_index(), store, CONFIG)
        await first.start()
        instance_id = await first.start_instance("steps", "crashy", sdk_input({"steps": 8}))
        await until(lambda: len(runs) >= 3)
        await first.stop(grace_seconds=0)  # nothing gets to finish: like a kill
        record = await store.get_instance(instance_id)
        assert record is not None
        history = await store.read_history(instance_id, record.execution_id)
        done_before = {
            int(e["TaskScheduledId"])
            for e in history.events
            if event_type_of(e) is EventType.TASK_COMPLETED
        }
        assert done_before, "some steps should have been committed before the stop"

        second = Engine(function_index(), store, CONFIG)
        await second.start()
        try:
            record = await finished(store, instance_id)
        finally:
            await second.stop()
        assert record.runtime_status is RuntimeStatus.COMPLETED
        assert json.loads(record.output or "") == [s * 10 for s in range(8)]
        for step in range(8):
            expected = 1 if step in done_before else (1, 2)
            count = runs.count(step)
            assert count == expected if isinstance(expected, int) else count in expected

    asyncio.run(scenario())


def test_recovery_discards_a_half_written_episode_and_duplicate_messages() -> None:
    async def scenario() -> None:
        runs.clear()
        store = MemoryStore()
        first = Engine(function_index(), store, CONFIG)
        await first.start()
        instance_id = await first.start_instance("gate", "gate-1", None)

        async def waiting() -> bool:
            record = await store.get_instance(instance_id)
            if record is None:
                return False
            events = (await store.read_history(instance_id, record.execution_id)).events
            return any(event_type_of(e) is EventType.TASK_COMPLETED for e in events)

        deadline = time.monotonic() + 10
        while not await waiting():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        await first.stop()
        record = await store.get_instance(instance_id)
        assert record is not None
        stored = await store.read_history(instance_id, record.execution_id)
        # a crash in the middle of a commit: rows of an unfinished episode...
        torn = [
            new_event(EventType.ORCHESTRATOR_STARTED),
            new_event(EventType.TASK_SCHEDULED, event_id=7, Name="step", Input='["1"]'),
        ]
        await store.append_history(
            instance_id, record.execution_id, len(stored.events), torn, [None, None]
        )
        # ...and an inbox row whose event is already in history (deleted too late)
        consumed = next(i for i in stored.message_ids if i is not None)
        replayed = stored.events[stored.message_ids.index(consumed)]
        await store.add_messages(
            instance_id, [StoredMessage(consumed, replayed, record.execution_id)]
        )

        second = Engine(function_index(), store, CONFIG)
        await second.start()
        try:
            delivery = await second.raise_event(instance_id, "Open", json.dumps("yes"))
            assert delivery is Delivery.ACCEPTED
            record = await finished(store, instance_id)
        finally:
            await second.stop()
        assert record.runtime_status is RuntimeStatus.COMPLETED, record.output
        assert json.loads(record.output or "") == [10, "yes"]
        assert runs == [1]  # the torn TaskScheduled(7) was never dispatched
        assert await store.read_messages(instance_id) == []

    asyncio.run(scenario())


def restart_after_abrupt_stop(
    orchestrator: str,
    payload: object,
    *,
    stop_when: Callable[[MemoryStore, str], Awaitable[bool]],
    store: MemoryStore | None = None,
    revive: Callable[[], None] | None = None,
) -> InstanceRecord:
    """Start ``orchestrator``, kill the engine once ``stop_when`` holds, finish on a new engine
    (``revive`` runs in between)."""

    async def scenario() -> InstanceRecord:
        nonlocal store
        store = store or MemoryStore()
        first = Engine(function_index(), store, CONFIG)
        await first.start()
        instance_id = await first.start_instance(orchestrator, None, payload)
        deadline = time.monotonic() + 20
        while not await stop_when(store, instance_id):
            assert time.monotonic() < deadline, "the stop condition was never reached"
            await asyncio.sleep(0.002)
        await first.stop(grace_seconds=0)
        if revive is not None:
            revive()
        second = Engine(function_index(), store, CONFIG)
        await second.start()
        try:
            return await finished(store, instance_id)
        finally:
            await second.stop()

    return asyncio.run(scenario())


async def _history_has(store: MemoryStore, instance_id: str, kind: EventType) -> bool:
    record = await store.get_instance(instance_id)
    if record is None:
        return False
    events = (await store.read_history(instance_id, record.execution_id)).events
    return any(event_type_of(e) is kind for e in events)


def test_continue_as_new_survives_an_abrupt_stop() -> None:
    async def some_generations_done(store: MemoryStore, instance_id: str) -> bool:
        record = await store.get_instance(instance_id)
        return record is not None and record.generation >= 5

    record = restart_after_abrupt_stop(
        "generations",
        sdk_input({"gen": 0, "last": 20, "total": 0}),
        stop_when=some_generations_done,
    )
    assert record.runtime_status is RuntimeStatus.COMPLETED
    assert json.loads(record.output or "") == 10 * sum(range(21))
    assert record.generation == 20


def test_sub_orchestrations_survive_an_abrupt_stop() -> None:
    async def children_started(store: MemoryStore, instance_id: str) -> bool:
        return await _history_has(store, instance_id, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED)

    record = restart_after_abrupt_stop("fan", sdk_input(6), stop_when=children_started)
    assert record.runtime_status is RuntimeStatus.COMPLETED, record.output
    assert json.loads(record.output or "") == {"sum": 150, "child": [0, 10]}


def test_a_pending_timer_is_rearmed_after_an_abrupt_stop() -> None:
    async def timer_created(store: MemoryStore, instance_id: str) -> bool:
        return await _history_has(store, instance_id, EventType.TIMER_CREATED)

    record = restart_after_abrupt_stop("nap", None, stop_when=timer_created)
    assert record.runtime_status is RuntimeStatus.COMPLETED
    assert json.loads(record.output or "") == "woke"


class _DiesAfterContinueAsNewHistory(MemoryStore):
    """A store whose process dies right after it wrote the history of an episode that
    continued as new: every later write fails, as nothing more gets written after a kill."""

    dead = False
    died = False  # once

    def _check(self) -> None:
        if self.dead:
            raise ConnectionError("the host process is gone")

    async def append_history(self, instance_id, execution_id, first_index, events, message_ids):  # type: ignore[no-untyped-def]
        self._check()
        await super().append_history(instance_id, execution_id, first_index, events, message_ids)
        if not self.died and any(event_type_of(e) is EventType.CONTINUE_AS_NEW for e in events):
            self.dead = self.died = True

    async def add_messages(self, instance_id, messages):  # type: ignore[no-untyped-def]
        self._check()
        await super().add_messages(instance_id, messages)

    async def put_instance(self, record):  # type: ignore[no-untyped-def]
        self._check()
        await super().put_instance(record)

    async def delete_messages(self, instance_id, message_ids):  # type: ignore[no-untyped-def]
        self._check()
        await super().delete_messages(instance_id, message_ids)


def test_a_crash_right_after_a_continue_as_new_is_written_does_not_strand_the_instance() -> None:
    """Killed between writing an episode's ContinueAsNew and the rest of its commit, the
    restarted host still starts the next execution (it found nothing to do before)."""

    store = _DiesAfterContinueAsNewHistory()

    async def died(store: MemoryStore, instance_id: str) -> bool:
        return isinstance(store, _DiesAfterContinueAsNewHistory) and store.dead

    def revive() -> None:
        store.dead = False

    record = restart_after_abrupt_stop(
        "generations",
        sdk_input({"gen": 0, "last": 3, "total": 0}),
        stop_when=died,
        store=store,
        revive=revive,
    )
    assert record.runtime_status is RuntimeStatus.COMPLETED
    assert json.loads(record.output or "") == 10 * sum(range(4))
    assert record.generation == 3


class _FailsOnceAfterNextStart(MemoryStore):
    """A store that refuses one history write: the one right after it took an episode's
    next-execution start (a commit that fails half-way; the engine tries the episode again)."""

    failed = False
    armed = False
    starts = 0

    async def add_messages(self, instance_id, messages):  # type: ignore[no-untyped-def]
        await super().add_messages(instance_id, messages)
        self.starts += sum(event_type_of(m.event) is EventType.EXECUTION_STARTED for m in messages)
        if not self.failed and self.starts == 2:  # the first is the instance's own start
            self.armed = True

    async def append_history(self, instance_id, execution_id, first_index, events, message_ids):  # type: ignore[no-untyped-def]
        if self.armed:
            self.armed, self.failed = False, True
            raise ConnectionError("the task hub's table refused the write")
        await super().append_history(instance_id, execution_id, first_index, events, message_ids)


def test_a_continue_as_new_commit_tried_again_leaves_one_next_execution() -> None:
    """The first attempt's next-execution start is taken back: left in the inbox, a restart
    would start that execution a second time."""

    async def scenario() -> tuple[InstanceRecord, list[StoredMessage]]:
        store = _FailsOnceAfterNextStart()
        engine = Engine(function_index(), store, CONFIG)
        await engine.start()
        try:
            instance_id = await engine.start_instance(
                "generations", None, sdk_input({"gen": 0, "last": 2, "total": 0})
            )
            record = await finished(store, instance_id)
        finally:
            await engine.stop()
        assert store.failed
        return record, await store.read_messages(instance_id)

    record, inbox = asyncio.run(scenario())
    assert record.runtime_status is RuntimeStatus.COMPLETED
    assert json.loads(record.output or "") == 10 * sum(range(3))
    assert inbox == []
