"""Orchestrators exercising each replay feature the dev host must reproduce."""

from datetime import timedelta

import azure.durable_functions as df

from dhapp import names

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context", orchestration=names.FAN_OUT)
def fan_out(context: df.DurableOrchestrationContext):
    n = int(context.get_input()["n"])
    results = yield context.task_all([context.call_activity(names.SQUARE, i) for i in range(n)])
    context.set_custom_status({"done": len(results)})
    return sum(results)


@bp.orchestration_trigger(context_name="context", orchestration=names.RETRY)
def retry_orchestrator(context: df.DurableOrchestrationContext):
    key = context.get_input()["key"]
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    recovered = yield context.call_activity_with_retry(
        names.FLAKY, options, {"key": f"{key}-a", "fail_times": 2}
    )
    plain = yield context.call_activity(names.SQUARE, 3)
    exhausted = None
    try:
        yield context.call_activity_with_retry(
            names.FLAKY,
            df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=2),
            {"key": f"{key}-b", "fail_times": 5},
        )
    except Exception as exc:  # the retries are exhausted: the orchestrator sees the last failure
        exhausted = str(exc).splitlines()[0]
    return {"recovered": recovered, "plain": plain, "exhausted": exhausted}


@bp.orchestration_trigger(context_name="context", orchestration=names.APPROVAL)
def approval(context: df.DurableOrchestrationContext):
    timeout_s = float((context.get_input() or {}).get("timeout_s", 30))
    deadline = context.current_utc_datetime + timedelta(seconds=timeout_s)
    timeout = context.create_timer(deadline)
    approved = context.wait_for_external_event(names.APPROVE_EVENT)
    winner = yield context.task_any([approved, timeout])
    if winner == approved:
        timeout.cancel()
        outcome = {"approved": approved.result}
    else:
        outcome = {"approved": None, "timed_out": True}
    yield context.create_timer(context.current_utc_datetime + timedelta(milliseconds=200))
    return outcome


@bp.orchestration_trigger(context_name="context", orchestration=names.PARENT)
def parent_orchestrator(context: df.DurableOrchestrationContext):
    explicit_id = f"{context.instance_id}-explicit"
    children = [context.call_sub_orchestrator(names.CHILD, x) for x in (2, 3, 4)]
    children.append(context.call_sub_orchestrator(names.CHILD, 0, explicit_id))
    results = yield context.task_all(children)
    return results


@bp.orchestration_trigger(context_name="context", orchestration=names.CHILD)
def child_orchestrator(context: df.DurableOrchestrationContext):
    value = context.get_input()
    squared = yield context.call_activity(names.SQUARE, value)
    echoed = yield context.call_activity(names.ASYNC_ECHO, squared + 1)
    return echoed


@bp.orchestration_trigger(context_name="context", orchestration=names.ETERNAL)
def eternal(context: df.DurableOrchestrationContext):
    state = context.get_input()
    generation, total = state["generation"], state["total"]
    total += yield context.call_activity(names.DOUBLE, generation)
    context.set_custom_status({"generation": generation})
    if generation < state["last"]:
        context.continue_as_new({**state, "generation": generation + 1, "total": total})
        return None
    return {"finished_at": generation, "total": total}


@bp.orchestration_trigger(context_name="context", orchestration=names.CRASH)
def crash(context: df.DurableOrchestrationContext):
    yield context.call_activity(names.SQUARE, 2)
    raise ValueError("orchestrator exploded")


@bp.orchestration_trigger(context_name="context", orchestration=names.NON_DETERMINISTIC)
def nondeterministic(context: df.DurableOrchestrationContext):
    # Deliberately wrong: the first run and the replay ask for different activities.
    activity = names.DOUBLE if context.is_replaying else names.SQUARE
    first = yield context.call_activity(activity, 5)
    second = yield context.call_activity(names.SQUARE, first)
    return second


@bp.orchestration_trigger(context_name="context", orchestration=names.WAIT_FOREVER)
def wait_forever(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting")
    value = yield context.wait_for_external_event("Finish")
    return value


@bp.orchestration_trigger(context_name="context", orchestration=names.RECORDED_STEPS)
def recorded_steps(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    done = []
    for step in range(spec["steps"]):
        result = yield context.call_activity(
            names.RECORD_STEP, {**spec["record"], "step": step, "sleep": spec["sleep"]}
        )
        done.append(result)
        context.set_custom_status({"completed": step + 1})
    yield context.create_timer(context.current_utc_datetime + timedelta(milliseconds=300))
    final = yield context.call_activity(
        names.RECORD_STEP, {**spec["record"], "step": 999, "sleep": 0}
    )
    return {"steps": done, "final": final}
