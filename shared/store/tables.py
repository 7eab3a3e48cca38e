"""The names of everything the service owns in the platform's metadata account, in one place."""

from __future__ import annotations

__all__ = [
    "ALL_TABLES",
    "ASSETS_TABLE",
    "CONNECTIONS_TABLE",
    "ORGANIZATIONS_TABLE",
    "RUNS_TABLE",
    "STAGING_CONTAINER",
    "USAGE_TABLE",
]

ORGANIZATIONS_TABLE = "Organizations"
USAGE_TABLE = "Usage"
CONNECTIONS_TABLE = "Connections"
ASSETS_TABLE = "Assets"
RUNS_TABLE = "SyncRuns"

#: Every table the service owns; created on first use.
ALL_TABLES = (ORGANIZATIONS_TABLE, USAGE_TABLE, CONNECTIONS_TABLE, ASSETS_TABLE, RUNS_TABLE)

#: Blob container of a run's staged pages and snapshot (removed when the run ends).
STAGING_CONTAINER = "sync-staging"
