"""Worker-model app for the dev host's tests: thread pool, event loop and timeouts."""

import azure.durable_functions as df
import azure.functions as func
from dhlimits import functions

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(functions.bp)
