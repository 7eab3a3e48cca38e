"""The lean entity-group transactions (``shared.store.assets.upsert_rows``) store exactly what
the SDK's ``submit_transaction`` stores: the same properties with the same types, odd keys
included, in replace and merge mode; a transaction the service refuses raises the SDK's own
error and writes nothing."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from azure.data.tables import (
    EdmType,
    EntityProperty,
    TableClient,
    TableTransactionError,
    UpdateMode,
)
from azure.data.tables._serialize import _add_entity_properties
from azure.data.tables.aio import TableClient as AsyncTableClient

from devhost.azurite import EmulatorAccount
from shared.store._batch import edm_json
from shared.store._common import writable
from shared.store.assets import upsert_rows

WHEN = datetime(2026, 11, 29, 17, 4, 5, 678901, tzinfo=UTC)
KEYS = ["plain", "it's", "a%2Fb", "ünï 名前", "x'y''z", "sp ace+plus&amp"]


def _row(pk: str, rk: str, k: int) -> dict[str, Any]:
    return {
        "PartitionKey": pk,
        "RowKey": rk,
        "name": f"photos/{rk}.jpg",
        "status": "synced",
        "size": 1000 + k,
        "huge": 3 * 2**30 + k,  # beyond 32 bits: goes as Edm.Int64
        "width": 640,
        "durationSeconds": 1.5 + k,
        "frameRate": math.nan if k == 1 else 29.97,
        "usedFallback": k % 2 == 0,
        "updatedAt": WHEN + timedelta(seconds=k),
        "localWhen": WHEN.astimezone(timezone(timedelta(hours=5, minutes=30))),
        "detail": "orientation=6 — “quoted” \u00e9",
        "reason": None,  # left out, as the SDK leaves it out
    }


def test_properties_are_annotated_as_the_sdk_annotates_them() -> None:
    for k, key in enumerate(KEYS):
        row = writable(_row("p~0a", key, k))
        assert edm_json(row) == _add_entity_properties(row)


def _new_table(platform: EmulatorAccount, name: str) -> TableClient:
    table = TableClient.from_connection_string(platform.connection_string, name)
    table.create_table()
    return table


def _upsert_lean(
    platform: EmulatorAccount,
    table: TableClient,
    rows: list[dict[str, Any]],
    mode: UpdateMode = UpdateMode.REPLACE,
    sent: list[str] | None = None,
) -> int:
    """``upsert_rows`` through an async client of ``table``; ``sent`` collects request URLs."""

    def hook(request: Any) -> None:
        if sent is not None:
            sent.append(request.http_request.url)

    async def lean() -> int:
        async with AsyncTableClient.from_connection_string(
            platform.connection_string, table.table_name, raw_request_hook=hook
        ) as t:
            return await upsert_rows(t, rows, mode=mode)

    return asyncio.run(lean())


def _stored(table: TableClient, pk: str) -> dict[str, dict[str, Any]]:
    """Each entity of a partition with every property as (value, Python type) as the SDK reads
    it back: an Int64 comes back wrapped, so one stored as an Int32 would show."""
    out = {}
    for e in table.query_entities("PartitionKey eq @pk", parameters={"pk": pk}):
        props = {}
        for name, value in e.items():
            if isinstance(value, float) and math.isnan(value):
                value = "NaN"
            props[name] = (getattr(value, "value", value), type(value).__name__)
        out[e["RowKey"]] = props
    return out


@pytest.mark.parametrize("mode", [UpdateMode.REPLACE, UpdateMode.MERGE])
def test_lean_transactions_store_what_the_sdk_stores(
    platform_account: EmulatorAccount, unique_name: str, mode: UpdateMode
) -> None:
    table = _new_table(platform_account, f"Lean{unique_name}")
    rows = {pk: [_row(pk, key, k) for k, key in enumerate(KEYS)] for pk in ("sdk", "lean")}
    # Rows already there: a replace drops what the new row lacks, a merge keeps it.
    for pk in rows:
        for key in KEYS:
            table.upsert_entity({"PartitionKey": pk, "RowKey": key, "old": "kept or not"})
    table.submit_transaction([("upsert", writable(r), {"mode": mode}) for r in rows["sdk"]])

    sent: list[str] = []

    assert _upsert_lean(platform_account, table, rows["lean"], mode, sent) == len(KEYS)
    assert len(sent) == 1 and sent[0].endswith("/$batch")  # one request: not the SDK's again

    sdk, ours = _stored(table, "sdk"), _stored(table, "lean")
    assert set(ours) == set(KEYS)
    for key in KEYS:
        expected = {n: v for n, v in sdk[key].items() if n != "PartitionKey"}
        assert {n: v for n, v in ours[key].items() if n != "PartitionKey"} == expected
    assert ours["it's"]["huge"] == (3 * 2**30 + 1, "EntityProperty")
    assert ("old" in ours["plain"]) is (mode is UpdateMode.MERGE)


def test_a_refused_transaction_raises_the_sdk_error_and_writes_nothing(
    platform_account: EmulatorAccount, unique_name: str
) -> None:
    table = _new_table(platform_account, f"Refused{unique_name}")
    rows = [
        {"PartitionKey": "p", "RowKey": "fine", "name": "a"},
        {"PartitionKey": "p", "RowKey": "bad", "name": "x" * (70 * 1024)},  # over 64 KiB
    ]

    with pytest.raises(TableTransactionError) as raised:
        _upsert_lean(platform_account, table, rows)
    # The same error the SDK raises for the same transaction.
    with pytest.raises(TableTransactionError) as direct:
        table.submit_transaction([("upsert", r) for r in rows])
    assert raised.value.error_code == direct.value.error_code
    assert list(table.list_entities()) == []


def test_an_unknown_property_type_goes_the_sdks_way(
    platform_account: EmulatorAccount, unique_name: str
) -> None:
    table = _new_table(platform_account, f"Other{unique_name}")
    row = {
        "PartitionKey": "p",
        "RowKey": "r",
        "blob": b"\x00\x01",
        "n": EntityProperty(7, EdmType.INT32),
    }

    _upsert_lean(platform_account, table, [row])
    stored = table.get_entity("p", "r")
    assert stored["blob"] == b"\x00\x01"
    assert stored["n"] == 7
