"""Composition root: the Durable Functions app built from blueprints, nothing else."""

from __future__ import annotations

import azure.durable_functions as df

from api.health import bp as health_bp

app = df.DFApp()
app.register_functions(health_bp)
