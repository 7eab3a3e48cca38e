"""Scenario app for the dev host's tests: composition root only."""

import azure.durable_functions as df
import azure.functions as func
from dhapp import activities, http_api, orchestrations

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(http_api.bp)
app.register_functions(orchestrations.bp)
app.register_functions(activities.bp)
