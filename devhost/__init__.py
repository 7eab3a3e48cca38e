"""The project's own local Azure Functions runtime for ``function_app.py`` (v2 model, Durable).

Run it with ``python -m devhost [APP_DIR] [--port 7071] [--require-keys] [--workspace DIR]``.
The same ``function_app.py`` runs unchanged under ``func start`` and in Azure; the dev host is
strict where the Python worker and the Durable extension are strict (see :mod:`devhost.loader`).

Settings: ``local.settings.json`` ``Values`` are copied into the environment unless already set
there (the environment wins, as with Core Tools). Task-hub state lives in the storage account of
``AzureWebJobsStorage`` (``UseDevelopmentStorage=true`` = Azurite on its default ports), in the
tables of the Durable Azure Storage provider, so runs survive restarts and show in Storage
Explorer.

Modules
-------
``__main__``      command line
``host``          composition and lifecycle of one running host
``config``        host.json, local.settings.json, the storage connection string
``loader``        importing the app, indexing ``get_functions()`` strictly
``invoke``        calling functions as the worker does (arguments, context, payloads)
``worker``        the worker's event loop, shared sync thread pool and ``functionTimeout``
``worker_process`` ``FUNCTIONS_WORKER_PROCESS_COUNT`` worker processes, round robin, restarts
``routing``       HTTP route templates and constraints
``keys``          function/admin/system keys for ``--require-keys``
``http_server``   the public listener (HTTP triggers, ``/admin``) and the internal RPC listener
``management``    the Durable HTTP management API (webhooks and ``rpcBaseUrl``)
``history``       Durable Task history events, runtime statuses, timestamps
``shim``          replay of the SDK's action list and event-id allocation
``episode``       what one orchestrator episode decides (pure)
``engine``        episodes, group-committed inbox, dispatch, timers, children, recovery
``store``         the persistence interface and an in-memory store
``table_store``   the Azure Tables / Blob layout of the Durable Azure Storage provider
``logs``          ``func start``-style invocation lines
``testing``       :class:`~devhost.testing.DevHostProcess` (subprocess) and
                  :class:`~devhost.testing.InProcessApp` (no network) for tests and tools
``azurite``       start Azurite on free ports (shared with the test suite)
"""
