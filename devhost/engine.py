"""The orchestration engine: scheduling, persistence order, dispatch and recovery.

What a single episode decides (pure, no I/O) lives in :mod:`devhost.episode`; this module decides
when episodes run, in which order their results are stored, and performs the effects.

Process model (protocol reference §9): everything is coordinated on one asyncio loop. An
*episode* runs one orchestrator invocation for one instance on a worker thread (never two at once
for the same instance); activities run on a pool sized from host.json (sync functions on threads,
``async def`` ones on the loop).

Durability, in the order things are written:

1. A message for an instance (start, activity result, timer, event, terminate, ...) is written to
   the instance's **inbox** before it is acknowledged. A group-commit writer batches messages that
   arrive together, so a fan-out of thousands costs a few table transactions per episode.
2. An episode takes *every* message waiting in the inbox (completions that arrived while the
   previous episode ran are replayed once, together), runs the orchestrator, and commits: the
   next execution's start message when it continued as new, then new history rows
   (``TaskScheduled`` before any activity is dispatched), then the instance row, then the
   processed inbox rows are deleted.
3. Only then are activities queued, timers armed, children started and parents notified.

After a crash, :meth:`Engine.start` reloads non-terminal instances: history is cut back to the
last complete episode, inbox messages already in history (by message id) are dropped, activities
scheduled but not completed run again (at-least-once), timers are re-armed, missing children are
created and finished children re-notify their parents.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from devhost.config import HostConfig
from devhost.episode import (
    CONTROL_EVENTS,
    EpisodeOutcome,
    apply_orchestrator_state,
    build_context,
    child_result_event,
    fail,
    instance_id_problem,
    new_message_id,
    parent_of,
    plan_episode,
)
from devhost.history import (
    SCHEDULING_EVENTS,
    TERMINAL_STATUSES,
    Event,
    EventType,
    ParentInstance,
    RuntimeStatus,
    activity_input_from_scheduled,
    completed_task_id,
    event_type_of,
    execution_started,
    format_timestamp,
    new_event,
    parse_timestamp,
    utcnow,
)
from devhost.invoke import (
    InvocationContext,
    call_function,
    close_sdk_session,
    decode_activity_input,
    describe_error,
    encode_activity_output,
    error_details,
)
from devhost.loader import FunctionIndex, IndexedFunction
from devhost.logs import log_invocation
from devhost.shim import Decision, DecisionKind
from devhost.store import InstanceQuery, InstanceRecord, StoredMessage, TaskHubStore
from devhost.worker import FunctionRunner, FunctionTimeoutError, Worker, thread_count
from devhost.worker_process import WorkerProcessExitError

logger = logging.getLogger(__name__)

#: Upper bound on messages folded into one episode (keeps context JSON bounded).
MAX_MESSAGES_PER_EPISODE = 10_000


class EngineError(Exception):
    """A client request the engine refuses; ``status`` is the HTTP status to answer."""

    status = 400


class UnknownOrchestratorError(EngineError):
    status = 400


class InvalidInstanceIdError(EngineError):
    status = 400


class InstanceExistsError(EngineError):
    status = 500


class Delivery(Enum):
    """Outcome of sending a message to an instance from outside."""

    ACCEPTED = "accepted"
    NOT_FOUND = "not_found"
    GONE = "gone"  # terminal


def validate_instance_id(instance_id: str) -> None:
    problem = instance_id_problem(instance_id)
    if problem is not None:
        raise InvalidInstanceIdError(problem)


def _short_error(exc: BaseException, limit: int = 500) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class ActivityWork:
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None


@dataclass
class EngineStats:
    episodes: int = 0
    activities: int = 0
    #: The longest history any orchestrator invocation replayed (events of one execution).
    max_history_events: int = 0
    episodes_by_instance: dict[str, int] = field(default_factory=dict)


@dataclass(eq=False)
class _Instance:
    """In-memory state of one non-terminal instance (mirrors what is persisted)."""

    record: InstanceRecord
    history: list[Event] = field(default_factory=list)
    history_message_ids: list[str | None] = field(default_factory=list)
    pending: list[StoredMessage] = field(default_factory=list)
    busy: bool = False
    timers: dict[int, asyncio.TimerHandle] = field(default_factory=dict)
    #: Task ids completed in history or by a pending message (duplicate detection).
    completed: set[int] = field(default_factory=set)
    #: Set when a commit failed half-way: rows from this index on may be stale.
    dirty_from: int | None = None
    #: The next-execution start a commit wrote before it failed: the episode is planned again
    #: (with a start of its own), so this one is taken back.
    unconfirmed_start: str | None = None

    def __post_init__(self) -> None:
        self.refresh_completed()

    @property
    def instance_id(self) -> str:
        return self.record.instance_id

    @property
    def execution_id(self) -> str:
        return self.record.execution_id

    def refresh_completed(self) -> None:
        ids = [completed_task_id(e) for e in self.history]
        ids += [
            completed_task_id(m.event)
            for m in self.pending
            if m.execution_id in (None, self.record.execution_id)
        ]
        self.completed = {i for i in ids if i is not None}

    def scheduled(self) -> dict[int, Event]:
        return {int(e["EventId"]): e for e in self.history if event_type_of(e) in SCHEDULING_EVENTS}

    @property
    def parent(self) -> ParentInstance | None:
        """The parent link, from history or (before the first episode) the pending start."""
        if self.history:
            return parent_of(self.history)
        for message in self.pending:
            if event_type_of(message.event) is EventType.EXECUTION_STARTED:
                return ParentInstance.from_event_field(message.event.get("ParentInstance"))
        return None

    def has_work(self) -> bool:
        """Pending messages an episode would process (a suspended instance holds events)."""
        if self.record.runtime_status is not RuntimeStatus.SUSPENDED:
            return bool(self.pending)
        return any(event_type_of(m.event) in CONTROL_EVENTS for m in self.pending)


class Engine:
    """Runs orchestrations of one task hub against a :class:`TaskHubStore`."""

    def __init__(
        self,
        index: FunctionIndex,
        store: TaskHubStore,
        config: HostConfig,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        worker: FunctionRunner | None = None,
    ) -> None:
        self.index = index
        self.store = store
        self.config = config
        self.stats = EngineStats()
        self._clock = clock
        self._instances: dict[str, _Instance] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._orchestrator_slots = asyncio.Semaphore(config.max_concurrent_orchestrations)
        # The extension's limits (host.json) bound what is dispatched; the worker's loop and
        # its one thread pool run it (orchestrator episodes and sync activities share the pool
        # with sync HTTP functions, as in the Python worker).
        self._owns_worker = worker is None
        self.worker: FunctionRunner = worker or Worker(thread_count(os.environ))
        self._activity_queue: asyncio.Queue[ActivityWork] = asyncio.Queue()
        self._outbox: asyncio.Queue[tuple[str, StoredMessage, asyncio.Future[bool]]] = (
            asyncio.Queue()
        )
        self._start_lock = asyncio.Lock()
        self._workers: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        #: The ``durableClient`` binding string for activities that declare a durable client
        #: (set by the host once its public origin is known).
        self.client_binding: Callable[[], str] | None = None

    # ================================================================== lifecycle
    async def start(self) -> None:
        """Recover non-terminal instances, then start the writer and the activity workers."""
        self._loop = asyncio.get_running_loop()
        if self._owns_worker:
            self.worker.start()
        records = await self.store.list_active_instances()
        for record in records:
            try:
                await self._recover(record)
            except Exception:
                logger.exception("could not recover instance %s", record.instance_id)
        self._workers.append(asyncio.create_task(self._writer_loop(), name="inbox-writer"))
        for n in range(self.config.max_concurrent_activities):
            self._workers.append(
                asyncio.create_task(self._activity_worker(), name=f"activity-worker-{n}")
            )
        for instance in list(self._instances.values()):
            self._redispatch(instance)
            self._kick(instance)
        if records:
            logger.info("Resumed %d orchestration instance(s) from the task hub", len(records))

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop dispatching, let running episodes commit, abandon in-flight activities."""
        self._stopping = True
        for instance in self._instances.values():
            for handle in instance.timers.values():
                handle.cancel()
            instance.timers.clear()
        episodes = [t for t in self._tasks if not t.done()]
        if episodes:
            await asyncio.wait(episodes, timeout=grace_seconds)
        for worker in self._workers:
            worker.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._workers, *self._tasks, return_exceptions=True)
        if self._owns_worker:
            await asyncio.to_thread(self.worker.stop, close_sdk_session())

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=task.exception())

    # ================================================================== client operations
    async def start_instance(
        self,
        name: str,
        instance_id: str | None,
        input_json: str | None,
        *,
        parent: ParentInstance | None = None,
    ) -> str:
        """Create an instance (or a new execution of a finished one) and queue its start."""
        entry = self.index.orchestrator(name)
        if entry is None:
            known = ", ".join(f"'{n}'" for n in sorted(self.index.orchestrators))
            raise UnknownOrchestratorError(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                f"function. Additional info: The following are the known orchestrator "
                f"functions: {known}."
            )
        instance_id = instance_id or uuid.uuid4().hex
        validate_instance_id(instance_id)
        async with self._start_lock:
            active = self._instances.get(instance_id)
            if active is not None:
                raise InstanceExistsError(
                    "An Orchestration instance with the status "
                    f"{active.record.runtime_status.value} already exists."
                )
            execution_id = uuid.uuid4().hex
            now = self._clock()
            started = execution_started(
                instance_id=instance_id,
                execution_id=execution_id,
                name=name,
                input_json=input_json,
                parent=parent,
                at=now,
            )
            message = StoredMessage(new_message_id(), started, execution_id)
            stale = await self.store.read_messages(instance_id)
            if stale:
                await self.store.delete_messages(instance_id, [m.message_id for m in stale])
            await self.store.add_messages(instance_id, [message])
            record = InstanceRecord(
                instance_id=instance_id,
                execution_id=execution_id,
                name=name,
                runtime_status=RuntimeStatus.PENDING,
                created_time=now,
                last_updated_time=now,
                input=input_json,
            )
            await self.store.put_instance(record)
            instance = _Instance(record=record, pending=[message])
            self._instances[instance_id] = instance
        self._kick(instance)
        return instance_id

    async def raise_event(self, instance_id: str, name: str, input_json: str | None) -> Delivery:
        event = new_event(EventType.EVENT_RAISED, at=self._clock(), Name=name, Input=input_json)
        return await self._send_control(instance_id, event)

    async def terminate(self, instance_id: str, reason: str | None) -> Delivery:
        event = new_event(EventType.EXECUTION_TERMINATED, at=self._clock(), Input=reason)
        return await self._send_control(instance_id, event)

    async def suspend(self, instance_id: str, reason: str | None) -> Delivery:
        event = new_event(EventType.EXECUTION_SUSPENDED, at=self._clock(), Reason=reason)
        return await self._send_control(instance_id, event)

    async def resume(self, instance_id: str, reason: str | None) -> Delivery:
        event = new_event(EventType.EXECUTION_RESUMED, at=self._clock(), Reason=reason)
        return await self._send_control(instance_id, event)

    async def _send_control(self, instance_id: str, event: Event) -> Delivery:
        if instance_id not in self._instances:
            record = await self.store.get_instance(instance_id)
            return Delivery.NOT_FOUND if record is None else Delivery.GONE
        await self._post(instance_id, StoredMessage(new_message_id(), event, None))
        return Delivery.ACCEPTED

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        return await self.store.get_instance(instance_id)

    async def get_history(self, record: InstanceRecord) -> list[Event]:
        return (await self.store.read_history(record.instance_id, record.execution_id)).events

    async def query(self, query: InstanceQuery) -> tuple[list[InstanceRecord], str | None]:
        return await self.store.query_instances(query)

    async def purge(self, instance_id: str) -> bool:
        """Delete a finished instance's state; running instances are not purged."""
        if instance_id in self._instances:
            return False
        return await self.store.purge(instance_id)

    async def purge_where(self, query: InstanceQuery) -> int:
        statuses = query.runtime_status or TERMINAL_STATUSES
        narrowed = InstanceQuery(
            runtime_status=frozenset(s for s in statuses if s in TERMINAL_STATUSES),
            created_from=query.created_from,
            created_to=query.created_to,
            instance_id_prefix=query.instance_id_prefix,
            top=1000,
        )
        if not narrowed.runtime_status:
            return 0
        victims: list[str] = []
        token: str | None = None
        while True:
            page, token = await self.store.query_instances(
                dataclasses.replace(narrowed, continuation_token=token)
            )
            victims.extend(r.instance_id for r in page)
            if not token:
                break
        deleted = 0
        for instance_id in victims:
            deleted += await self.purge(instance_id)
        return deleted

    # ================================================================== messages
    async def _post(self, instance_id: str, message: StoredMessage) -> bool:
        """Write a message to the instance's inbox (group commit), then hand it to the instance.

        Messages for unknown or finished instances, for another execution, or completing a task
        that is already complete are dropped (``False``).
        """
        while True:
            instance = self._instances.get(instance_id)
            if instance is None or not self._relevant(instance, message):
                return False
            future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            self._outbox.put_nowait((instance_id, message, future))
            try:
                return await future
            except Exception as exc:
                if self._stopping:
                    raise
                logger.warning("could not store a message for %s (%s); retrying", instance_id, exc)
                await asyncio.sleep(1.0)

    def _relevant(self, instance: _Instance, message: StoredMessage) -> bool:
        if message.execution_id is not None and message.execution_id != instance.execution_id:
            is_new_execution = event_type_of(message.event) is EventType.EXECUTION_STARTED
            if not is_new_execution:
                return False
        task_id = completed_task_id(message.event)
        return task_id is None or task_id not in instance.completed

    async def _writer_loop(self) -> None:
        while True:
            first = await self._outbox.get()
            batch = [first]
            while not self._outbox.empty() and len(batch) < 5000:
                batch.append(self._outbox.get_nowait())
            grouped: dict[str, list[tuple[StoredMessage, asyncio.Future[bool]]]] = {}
            for instance_id, message, future in batch:
                grouped.setdefault(instance_id, []).append((message, future))
            results = await asyncio.gather(
                *(
                    self.store.add_messages(iid, [m for m, _ in items])
                    for iid, items in grouped.items()
                ),
                return_exceptions=True,
            )
            for (instance_id, items), result in zip(grouped.items(), results, strict=True):
                for message, future in items:
                    if isinstance(result, BaseException):
                        if not future.done():
                            future.set_exception(result)
                        continue
                    accepted = self._accept(instance_id, message)
                    if not future.done():
                        future.set_result(accepted)

    def _accept(self, instance_id: str, message: StoredMessage) -> bool:
        instance = self._instances.get(instance_id)
        if instance is None:
            return False
        instance.pending.append(message)
        task_id = completed_task_id(message.event)
        if task_id is not None and message.execution_id in (None, instance.execution_id):
            instance.completed.add(task_id)
        self._kick(instance)
        return True

    # ================================================================== episodes
    def _kick(self, instance: _Instance) -> None:
        if instance.busy or self._stopping or not instance.has_work():
            return
        instance.busy = True
        self._spawn(self._run_episode(instance), f"episode-{instance.instance_id}")

    async def _run_episode(self, instance: _Instance) -> None:
        retry = False
        try:
            async with self._orchestrator_slots:
                await self._episode(instance)
        except FunctionTimeoutError as exc:
            # The extension aborts the episode on a platform error such as a timeout; the
            # messages stay queued and the episode runs again (OutOfProcMiddleware).
            logger.warning(
                "orchestrator episode of %s aborted (%s); it will run again",
                instance.instance_id,
                exc,
            )
            retry = True
        except Exception:
            logger.exception(
                "episode for instance %s failed to commit; retrying", instance.instance_id
            )
            instance.dirty_from = len(instance.history)
            retry = True
        finally:
            instance.busy = False
        if retry:
            await asyncio.sleep(1.0)
        if self._instances.get(instance.instance_id) is instance:
            self._kick(instance)

    async def _episode(self, instance: _Instance) -> None:
        batch = instance.pending[:MAX_MESSAGES_PER_EPISODE]
        if not batch:
            return
        outcome = plan_episode(
            instance.record, instance.history, instance.history_message_ids, batch, self._clock()
        )
        if outcome.invoke:
            await self._invoke_orchestrator(outcome)
        await self._commit(instance, outcome)
        self._apply(instance, outcome)

    # ------------------------------------------------------------------ orchestrator call
    async def _invoke_orchestrator(self, outcome: EpisodeOutcome) -> None:
        record = outcome.record
        entry = self.index.orchestrator(record.name)
        if entry is None:  # the function was removed while instances were running
            fail(outcome, f"The function '{record.name}' doesn't exist.", outcome.started_at)
            return
        context = build_context(outcome)
        self.stats.max_history_events = max(self.stats.max_history_events, len(outcome.history))
        invocation = InvocationContext(entry.name, str(self.index.app_dir))
        began = time.perf_counter()
        try:
            state, error = await self.worker.orchestrate(
                entry,
                context,
                invocation=invocation,
                function_timeout=self.config.function_timeout,
            )
        except FunctionTimeoutError as exc:
            log_invocation(
                entry.name,
                invocation_id=invocation.invocation_id,
                duration_s=time.perf_counter() - began,
                succeeded=False,
                instance_id=record.instance_id,
                error=str(exc),
            )
            raise
        self.stats.episodes += 1
        per_instance = self.stats.episodes_by_instance
        per_instance[record.instance_id] = per_instance.get(record.instance_id, 0) + 1
        log_invocation(
            entry.name,
            invocation_id=invocation.invocation_id,
            duration_s=time.perf_counter() - began,
            succeeded=error is None,
            instance_id=record.instance_id,
            error=error,
        )
        apply_orchestrator_state(outcome, state, error, index=self.index, config=self.config)

    # ------------------------------------------------------------------ commit and apply
    async def _commit(self, instance: _Instance, outcome: EpisodeOutcome) -> None:
        store, iid = self.store, outcome.record.instance_id
        if outcome.reset_history:
            await store.delete_history(iid)
        elif instance.dirty_from is not None:  # rows of an earlier, half-committed attempt
            await store.delete_history(iid, from_index=instance.dirty_from)
        instance.dirty_from = None
        if instance.unconfirmed_start is not None:
            await store.delete_messages(iid, [instance.unconfirmed_start])
            instance.unconfirmed_start = None
        # The next execution's start goes in first: once this episode's history is complete
        # (it ends in ContinueAsNew), a restart finds only that start to go on with. Written
        # after the history, a crash between the two left an instance with nothing to do.
        if outcome.next_execution is not None:
            instance.unconfirmed_start = outcome.next_execution.message_id
            await store.add_messages(iid, [outcome.next_execution])
        first = outcome.first_new_index
        if len(outcome.history) > first:
            await store.append_history(
                iid,
                outcome.record.execution_id,
                first,
                outcome.history[first:],
                outcome.message_ids[first:],
            )
        await store.put_instance(outcome.record)
        if outcome.processed_ids:
            await store.delete_messages(iid, outcome.processed_ids)
        instance.unconfirmed_start = None  # committed: the start is the next execution's

    def _apply(self, instance: _Instance, outcome: EpisodeOutcome) -> None:
        for event in outcome.history:
            event["IsPlayed"] = True
        processed = set(outcome.processed_ids)
        instance.record = outcome.record
        instance.history = outcome.history
        instance.history_message_ids = outcome.message_ids
        instance.pending = [m for m in instance.pending if m.message_id not in processed]
        instance.refresh_completed()
        if outcome.reset_history:
            for handle in instance.timers.values():
                handle.cancel()
            instance.timers.clear()
        for timer_id in outcome.canceled_timers:
            armed = instance.timers.pop(timer_id, None)
            if armed is not None:
                armed.cancel()
        if outcome.next_execution is not None:
            instance.pending.append(outcome.next_execution)
        if outcome.parent_message is not None:
            parent, event = outcome.parent_message
            self._spawn(
                self._post(
                    parent.instance_id,
                    StoredMessage(new_message_id(), event, parent.execution_id),
                ),
                f"notify-parent-{parent.instance_id}",
            )
        if outcome.record.runtime_status in TERMINAL_STATUSES:
            for handle in instance.timers.values():
                handle.cancel()
            if self._instances.get(instance.instance_id) is instance:
                del self._instances[instance.instance_id]
            leftovers = [m.message_id for m in instance.pending]
            if leftovers:  # nothing will ever process these
                self._spawn(
                    self.store.delete_messages(instance.instance_id, leftovers),
                    f"inbox-cleanup-{instance.instance_id}",
                )
            return
        for decision in outcome.decisions:
            self._dispatch(instance, decision)
        for decision, child_id in outcome.children:
            self._spawn(
                self._ensure_child(
                    instance, decision.event_id, child_id, decision.name, decision.input
                ),
                f"child-{child_id}",
            )

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, instance: _Instance, decision: Decision) -> None:
        if decision.kind is DecisionKind.ACTIVITY:
            assert decision.name is not None
            self._activity_queue.put_nowait(
                ActivityWork(
                    instance.instance_id,
                    instance.execution_id,
                    decision.event_id,
                    decision.name,
                    decision.input,
                )
            )
        elif decision.kind is DecisionKind.TIMER and not decision.canceled:
            assert decision.fire_at is not None
            self._arm_timer(instance, decision.event_id, decision.fire_at)

    def _arm_timer(self, instance: _Instance, timer_id: int, fire_at: dt.datetime) -> None:
        if self._loop is None or self._stopping:
            return
        delay = max(0.0, (fire_at - self._clock()).total_seconds())
        handle = self._loop.call_later(
            delay,
            self._timer_fired,
            instance.instance_id,
            instance.execution_id,
            timer_id,
            fire_at,
        )
        instance.timers[timer_id] = handle

    def _timer_fired(
        self, instance_id: str, execution_id: str, timer_id: int, fire_at: dt.datetime
    ) -> None:
        instance = self._instances.get(instance_id)
        if instance is not None:
            instance.timers.pop(timer_id, None)
        event = new_event(EventType.TIMER_FIRED, TimerId=timer_id, FireAt=format_timestamp(fire_at))
        self._spawn(
            self._post(instance_id, StoredMessage(new_message_id(), event, execution_id)),
            f"timer-{instance_id}-{timer_id}",
        )

    async def _ensure_child(
        self,
        parent: _Instance,
        task_id: int,
        child_id: str,
        name: str | None,
        input_text: str | None,
    ) -> None:
        """Start the child unless it already runs for this parent (idempotent for recovery)."""
        link = ParentInstance(parent.instance_id, parent.execution_id, parent.record.name, task_id)
        active = self._instances.get(child_id)
        if active is not None:
            if active.parent != link:
                await self._child_failed(
                    link, f"An orchestration with instance ID '{child_id}' is already running."
                )
            return
        record = await self.store.get_instance(child_id)
        if record is not None and record.runtime_status in TERMINAL_STATUSES:
            history = await self.store.read_history(child_id, record.execution_id)
            if parent_of(history.events) == link:
                event = child_result_event(link, record)
                message = StoredMessage(new_message_id(), event, link.execution_id)
                await self._post(link.instance_id, message)
                return
        input_json = None if input_text is None else json.dumps(input_text)
        try:
            await self.start_instance(str(name), child_id, input_json, parent=link)
        except EngineError as exc:
            await self._child_failed(link, str(exc))

    async def _child_failed(self, link: ParentInstance, reason: str) -> None:
        event = new_event(
            EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
            TaskScheduledId=link.task_schedule_id,
            Reason=reason,
            Details="",
        )
        message = StoredMessage(new_message_id(), event, link.execution_id)
        await self._post(link.instance_id, message)

    # ------------------------------------------------------------------ activities
    async def _activity_worker(self) -> None:
        while True:
            work = await self._activity_queue.get()
            instance = self._instances.get(work.instance_id)
            if instance is None or instance.execution_id != work.execution_id:
                continue  # the instance finished or moved on: nothing waits for this result
            try:
                event = await self._run_activity(work)
            except asyncio.CancelledError:
                raise
            except WorkerProcessExitError as exc:
                # a platform error, not the activity's: the extension aborts the work item and
                # it runs again (TaskActivityShim: FunctionsRuntimeError -> SessionAborted)
                logger.warning(
                    "activity %s of %s aborted (%s); it runs again",
                    work.name,
                    work.instance_id,
                    exc,
                )
                self._activity_queue.put_nowait(work)
                continue
            except Exception:  # _run_activity turns user errors into TaskFailed already
                logger.exception("activity %s of %s was lost", work.name, work.instance_id)
                continue
            # The worker moves on while the result is stored: until it is, the TaskScheduled
            # without a completion makes a restarted host run the activity again.
            self._spawn(
                self._post(
                    work.instance_id, StoredMessage(new_message_id(), event, work.execution_id)
                ),
                f"result-{work.instance_id}-{work.task_id}",
            )

    async def _run_activity(self, work: ActivityWork) -> Event:
        entry: IndexedFunction | None = self.index.activity(work.name)
        context = InvocationContext(entry.name if entry else work.name, str(self.index.app_dir))
        began = time.perf_counter()
        try:
            if entry is None:
                raise LookupError(
                    f"The function '{work.name}' doesn't exist, is disabled, or is not an "
                    "activity function."
                )
            argument = decode_activity_input(work.input)
            kwargs: dict[str, Any] = {entry.trigger_name: argument}
            if entry.client_binding is not None and self.client_binding is not None:
                kwargs[entry.client_binding] = self.client_binding()
            value = await call_function(
                entry,
                kwargs,
                worker=self.worker,
                context=context,
                function_timeout=self.config.function_timeout,
            )
            result = encode_activity_output(value)
        except WorkerProcessExitError:
            raise
        except Exception as exc:
            # A timeout is the host's exception (its own message); a user error arrives from
            # the worker as "<type>: <message>".
            message = describe_error(exc)
            log_invocation(
                entry.name if entry else work.name,
                invocation_id=context.invocation_id,
                duration_s=time.perf_counter() - began,
                succeeded=False,
                instance_id=work.instance_id,
                error=_short_error(exc),
            )
            return new_event(
                EventType.TASK_FAILED,
                TaskScheduledId=work.task_id,
                Reason=f"Activity function '{work.name}' failed: {message}",
                Details=error_details(exc),
            )
        self.stats.activities += 1
        log_invocation(
            entry.name,
            invocation_id=context.invocation_id,
            duration_s=time.perf_counter() - began,
            succeeded=True,
            instance_id=work.instance_id,
        )
        return new_event(EventType.TASK_COMPLETED, TaskScheduledId=work.task_id, Result=result)

    # ================================================================== recovery
    async def _recover(self, record: InstanceRecord) -> None:
        stored = await self.store.read_history(record.instance_id, record.execution_id)
        events, message_ids = stored.events, stored.message_ids
        last_complete = max(
            (
                i
                for i, e in enumerate(events)
                if event_type_of(e) is EventType.ORCHESTRATOR_COMPLETED
            ),
            default=-1,
        )
        if last_complete + 1 < len(events):  # an episode that did not finish committing
            await self.store.delete_history(record.instance_id, from_index=last_complete + 1)
            events, message_ids = events[: last_complete + 1], message_ids[: last_complete + 1]
        for event in events:
            event["IsPlayed"] = True
        in_history = {m for m in message_ids if m is not None}
        messages = await self.store.read_messages(record.instance_id)
        done = [m.message_id for m in messages if m.message_id in in_history]
        if done:
            await self.store.delete_messages(record.instance_id, done)
        instance = _Instance(
            record=record,
            history=events,
            history_message_ids=message_ids,
            pending=[m for m in messages if m.message_id not in in_history],
        )
        if not events and not any(
            event_type_of(m.event) is EventType.EXECUTION_STARTED for m in instance.pending
        ):
            logger.warning(
                "instance %s has neither history nor a start message; marking it Failed",
                record.instance_id,
            )
            record.runtime_status = RuntimeStatus.FAILED
            record.output = "The instance's start message was lost."
            await self.store.put_instance(record)
            return
        self._instances[record.instance_id] = instance

    def _redispatch(self, instance: _Instance) -> None:
        """Re-issue work scheduled by committed episodes that has no completion yet."""
        if any(
            event_type_of(m.event) is EventType.EXECUTION_STARTED
            and m.execution_id != instance.execution_id
            for m in instance.pending
        ):
            return  # a new execution is about to start; the old one's work is moot
        completed = instance.completed
        for task_id, event in sorted(instance.scheduled().items()):
            if task_id in completed:
                continue
            kind = event_type_of(event)
            if kind is EventType.TASK_SCHEDULED:
                self._activity_queue.put_nowait(
                    ActivityWork(
                        instance.instance_id,
                        instance.execution_id,
                        task_id,
                        str(event.get("Name")),
                        activity_input_from_scheduled(event),
                    )
                )
            elif kind is EventType.TIMER_CREATED:
                self._arm_timer(instance, task_id, parse_timestamp(str(event["FireAt"])))
            elif kind is EventType.SUB_ORCHESTRATION_INSTANCE_CREATED:
                self._spawn(
                    self._ensure_child(
                        instance,
                        task_id,
                        str(event.get("InstanceId")),
                        event.get("Name"),
                        event.get("Input"),
                    ),
                    f"child-{event.get('InstanceId')}",
                )


__all__ = [
    "ActivityWork",
    "Delivery",
    "Engine",
    "EngineError",
    "EngineStats",
    "InstanceExistsError",
    "InvalidInstanceIdError",
    "UnknownOrchestratorError",
    "validate_instance_id",
]
