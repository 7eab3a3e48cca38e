"""Durable wire names. Renaming a Python function must never rename a durable function
mid-flight, so orchestrators and activities are registered and called by these constants."""

from __future__ import annotations

SYNC_RUN_ORCHESTRATOR = "sync_run"
LIST_PAGE_ACTIVITY = "sync_list_page"
INSPECT_BATCH_ACTIVITY = "sync_inspect_batch"
FINISH_RUN_ACTIVITY = "sync_finish_run"
SCHEDULER_ORCHESTRATOR = "autosync_scheduler"
SCHEDULE_FIRE_ACTIVITY = "autosync_schedule_fire"
RUN_ENDED_ACTIVITY = "autosync_run_ended"
WEBHOOK_ORCHESTRATOR = "autosync_webhook_delivery"
WEBHOOK_ATTEMPT_ACTIVITY = "autosync_webhook_attempt"
AFTER_RUN_ORCHESTRATOR = "autosync_after_run"
