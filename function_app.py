"""Composition root: the Durable Functions app built from blueprints, nothing else."""

from __future__ import annotations

import azure.durable_functions as df

from activities.autosync_run_ended import bp as run_ended_bp
from activities.autosync_schedule_fire import bp as schedule_fire_bp
from activities.autosync_webhook_attempt import bp as webhook_attempt_bp
from activities.sync_finish_run import bp as finish_run_bp
from activities.sync_inspect_batch import bp as inspect_batch_bp
from activities.sync_list_page import bp as list_page_bp
from api.assets import bp as assets_bp
from api.autosync import bp as autosync_bp
from api.connections import bp as connections_bp
from api.console import bp as console_bp
from api.diagnostics import bp as diagnostics_bp
from api.events import bp as events_bp
from api.health import bp as health_bp
from api.openapi import bp as openapi_bp
from api.orgs import bp as orgs_bp
from api.preview import bp as preview_bp
from api.syncs import bp as syncs_bp
from orchestrators.after_run import bp as after_run_bp
from orchestrators.scheduler import bp as scheduler_bp
from orchestrators.sync_run import bp as sync_run_bp
from orchestrators.webhook_delivery import bp as webhook_delivery_bp

app = df.DFApp()
app.register_functions(health_bp)
app.register_functions(openapi_bp)
app.register_functions(orgs_bp)
app.register_functions(connections_bp)
app.register_functions(diagnostics_bp)
app.register_functions(preview_bp)
app.register_functions(syncs_bp)
app.register_functions(assets_bp)
app.register_functions(sync_run_bp)
app.register_functions(list_page_bp)
app.register_functions(inspect_batch_bp)
app.register_functions(finish_run_bp)
app.register_functions(console_bp)
app.register_functions(autosync_bp)
app.register_functions(events_bp)
app.register_functions(scheduler_bp)
app.register_functions(schedule_fire_bp)
app.register_functions(run_ended_bp)
app.register_functions(webhook_delivery_bp)
app.register_functions(webhook_attempt_bp)
app.register_functions(after_run_bp)
