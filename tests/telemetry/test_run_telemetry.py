"""One sync under the dev host with the OpenTelemetry SDK's in-memory exporters: spans for every
step under the start request's trace, run metrics matching a seeded container, and no attribute
holding a key, a token, a blob name or blob content."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.storage.blob import ContainerClient

import mediagen
from devhost.azurite import PROJECT_ROOT, Azurite, EmulatorAccount, free_port
from tests.sync.harness import Api

MARKER = b"customer-content-marker-7f3a"

# name -> bytes; the verdicts are known: 3 synced, 1 exif_orientation, 1 empty, 1 ignored.
SEED: dict[str, bytes] = {
    "cams/a.jpg": mediagen.images.jpeg(64, 48, seed=1),
    "cams/b.png": mediagen.images.png(64, 48, seed=2),
    "cams/c.jpg": mediagen.images.jpeg(80, 60, seed=3),
    "cams/rotated.jpg": mediagen.images.jpeg(64, 48, seed=4, orientation=6),
    "cams/zero.jpg": b"",
    "notes/readme.txt": b"private notes " + MARKER,
}


class TracedHost:
    """The dev host with in-memory exporters, in a subprocess of its own (global providers)."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.out = workdir / "telemetry.json"
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.telemetry.traced_host",
                str(self.out),
                str(workdir),
                str(self.port),
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=open(workdir / "host.log", "wb"),  # noqa: SIM115
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.proc.kill()
            raise RuntimeError((workdir / "host.log").read_text()[-4000:])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def finish(self) -> dict[str, Any]:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        data: dict[str, Any] = json.loads(self.out.read_text())
        return data

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def private_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """An Azurite of this module's own: the metrics must count this run only, and the session's
    task hub may hold other tests' unfinished orchestrations, which a new host resumes."""
    with Azurite(
        tmp_path_factory.mktemp("otel-azurite"),
        accounts=("otelplatform", "otelcustomer"),
        in_memory=True,
    ) as server:
        yield server


@pytest.fixture(scope="module")
def platform_account(private_azurite: Azurite) -> EmulatorAccount:
    return private_azurite.account("otelplatform")


@pytest.fixture(scope="module")
def customer_account(private_azurite: Azurite) -> EmulatorAccount:
    return private_azurite.account("otelcustomer")


@pytest.fixture(scope="module")
def telemetry(
    platform_account: EmulatorAccount,
    customer_account: EmulatorAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, str]]]:
    container = ContainerClient.from_connection_string(
        customer_account.connection_string, "telemetry-seed"
    )
    if not container.exists():
        container.create_container()
    for name, data in SEED.items():
        container.upload_blob(name, data, overwrite=True)
    env = {
        "AzureWebJobsStorage": platform_account.connection_string,
        "METADATA_STORAGE_CONNECTION": platform_account.connection_string,
        "CUSTOMER_STORAGE_MODE": "emulator",
        "EMULATOR_BLOB_ENDPOINT": customer_account.blob_endpoint.rsplit("/", 1)[0],
        "EMULATOR_ACCOUNTS": f"{customer_account.name}:{customer_account.key}",
        "SYNC_PAGE_SIZE": "4",  # two listing pages
        "SYNC_LIST_WIDTH": "1",  # one flat listing
        "SYNC_BATCH_SIZE": "2",  # several inspection batches
    }
    host = TracedHost(env, tmp_path_factory.mktemp("traced"))
    api = Api(host.base_url)
    try:
        api.put_org("otel")
        conn = api.connect("otel", account=customer_account.name, container="telemetry-seed")
        started = api.start_sync("otel", conn)
        assert started.status_code == 202, started.text
        run = started.json()["runId"]
        view = api.wait("otel", conn, run)
        # The run reads "completed" once its finish step closed it; that step (and the run-end
        # step after it) may still be returning. Stop the host only when the orchestration has.
        instance = f"{host.base_url}/runtime/webhooks/durabletask/instances/sync-{conn}-{run}"
        deadline = time.monotonic() + 60
        while httpx.get(instance).json().get("runtimeStatus") != "Completed":
            assert time.monotonic() < deadline, "the run's orchestration did not complete"
            time.sleep(0.1)
        ids = {"org": "otel", "connection": conn, "run": run}
        yield host.finish(), view, ids
    finally:
        api.close()
        host.kill()
        container.delete_container()


def _by_name(spans: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [s for s in spans if s["name"] == name]


def test_one_run_is_one_trace_from_the_start_request(
    telemetry: tuple[dict[str, Any], dict[str, Any], dict[str, str]],
) -> None:
    data, view, ids = telemetry
    assert view["status"] == "completed"
    spans = data["spans"]
    (start,) = _by_name(spans, "sync.start")
    assert start["kind"] == "SERVER" and start["parentId"] is None
    assert start["attributes"]["blobsync.run_id"] == ids["run"]
    steps = [
        s for s in spans if s["name"] in ("sync.list_page", "sync.inspect_batch", "sync.finish_run")
    ]
    assert len(_by_name(spans, "sync.list_page")) == 2  # 6 blobs, pages of 4
    assert len(_by_name(spans, "sync.inspect_batch")) >= 3  # 5 blobs to inspect, batches of 2
    assert len(_by_name(spans, "sync.finish_run")) == 1
    for span in steps:
        assert span["traceId"] == start["traceId"], span["name"]
        assert span["parentId"] == start["spanId"]
        assert span["attributes"]["blobsync.org_id"] == ids["org"]
        assert span["attributes"]["blobsync.connection_id"] == ids["connection"]
        assert span["attributes"]["blobsync.run_id"] == ids["run"]
        assert span["status"] != "ERROR"
    (finish,) = _by_name(spans, "sync.finish_run")
    assert finish["attributes"]["blobsync.outcome"] == "completed"
    assert finish["attributes"]["blobsync.run_duration_s"] > 0


def test_each_step_leaves_a_structured_log_record_in_the_run_trace(
    telemetry: tuple[dict[str, Any], dict[str, Any], dict[str, str]],
) -> None:
    data, _, ids = telemetry
    (start,) = _by_name(data["spans"], "sync.start")
    records = data["logs"]
    steps = [r["attributes"]["blobsync.step"] for r in records]
    assert steps.count("sync.list_page") == 2 and steps.count("sync.finish_run") == 1
    assert steps.count("sync.inspect_batch") == len(_by_name(data["spans"], "sync.inspect_batch"))
    for record in records:
        assert record["traceId"] == start["traceId"]
        assert record["attributes"]["blobsync.run_id"] == ids["run"]
        assert record["attributes"]["blobsync.org_id"] == ids["org"]
        assert record["attributes"]["blobsync.connection_id"] == ids["connection"]
        assert record["body"] == f"{record['attributes']['blobsync.step']} finished"
    (finish,) = [r for r in records if r["attributes"]["blobsync.step"] == "sync.finish_run"]
    assert finish["attributes"]["blobsync.outcome"] == "completed"
    assert finish["attributes"]["blobsync.total_synced"] == 3


def _metric(data: dict[str, Any], name: str, **attributes: str) -> Any:
    points = [
        p
        for p in data["metrics"]
        if p["name"] == name and all(p["attributes"].get(k) == v for k, v in attributes.items())
    ]
    assert len(points) == 1, (name, attributes, points)
    return points[0]["value"]


def test_run_metrics_match_the_seeded_container(
    telemetry: tuple[dict[str, Any], dict[str, Any], dict[str, str]],
) -> None:
    data, view, _ = telemetry
    assert _metric(data, "blobsync.blobs.listed") == 6
    assert _metric(data, "blobsync.blobs.inspected") == 6  # a first sync inspects every blob
    assert _metric(data, "blobsync.blobs.synced") == 3
    skip = "blobsync.skip_reason"
    assert _metric(data, "blobsync.blobs.skipped", **{skip: "exif_orientation"}) == 1
    assert _metric(data, "blobsync.blobs.skipped", **{skip: "empty"}) == 1
    assert {
        p["attributes"][skip] for p in data["metrics"] if p["name"] == "blobsync.blobs.skipped"
    } == {
        "exif_orientation",
        "empty",
    }
    assert _metric(data, "blobsync.bytes.read") == view["bytesRead"] > 0
    assert _metric(data, "blobsync.runs", **{"blobsync.outcome": "completed"}) == 1
    duration = _metric(data, "blobsync.run.duration", **{"blobsync.outcome": "completed"})
    assert duration["count"] == 1 and duration["sum"] > 0
    # The API's own counters agree with the metrics.
    assert view["counts"]["synced"] == 3 and view["counts"]["ignored"] == 1


def test_no_attribute_holds_a_key_token_blob_name_or_content(
    telemetry: tuple[dict[str, Any], dict[str, Any], dict[str, str]],
    platform_account: EmulatorAccount,
    customer_account: EmulatorAccount,
) -> None:
    data, _, _ = telemetry
    values = [str(v) for s in data["spans"] for v in s["attributes"].values()]
    values += [str(v) for p in data["metrics"] for v in p["attributes"].values()]
    values += [str(k) for s in data["spans"] for k in s["attributes"]]
    values += [r["body"] for r in data["logs"]]
    values += [str(v) for r in data["logs"] for v in r["attributes"].values()]
    text = "\n".join(values)
    forbidden = [
        platform_account.key,
        customer_account.key,
        customer_account.name,
        "telemetry-seed",
        MARKER.decode(),
        "AccountKey",
        "sig=",
        "Bearer",
        "code=",
        *SEED,
        *(name.rsplit("/", 1)[-1] for name in SEED),
    ]
    for item in forbidden:
        assert item not in text, item
