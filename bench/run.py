"""Run the benchmark: the service through the dev host against baselines, in one run."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psutil
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient
from azure.storage.blob.aio import BlobServiceClient as AsyncBlobServiceClient

import mediagen
from bench import baselines
from bench.corpus import blob_plan, build_pool
from bench.faults import FaultPlan, FaultProxy
from blobsync_cli.client import TERMINAL_STATUSES, BlobSyncClient
from devhost.azurite import (
    DEV_ACCOUNT,
    EMULATOR_NODE_OPTIONS,
    PROJECT_ROOT,
    Azurite,
    emulator_app_settings,
)
from devhost.testing import DevHostProcess
from shared.store._common import as_int
from shared.store.assets import connection_filter
from shared.store.tables import ASSETS_TABLE

T = TypeVar("T")

CUSTOMER = "benchcustomer"
CONTAINER = "dataset"


@dataclass
class RssSampler:
    pid: int
    interval: float = 0.1
    peak: int = 0
    peak_at: float = 0.0  # time.time() of the peak
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        proc = psutil.Process(self.pid)
        while not self._stop.is_set():
            try:
                rss = proc.memory_info().rss + sum(
                    c.memory_info().rss for c in proc.children(recursive=True)
                )
            except psutil.Error:
                return
            if rss > self.peak:
                self.peak, self.peak_at = rss, time.time()
            time.sleep(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.peak


async def _upload(connection_string: str, files: list[tuple[str, bytes]]) -> None:
    async with AsyncBlobServiceClient.from_connection_string(connection_string) as service:
        container = service.get_container_client(CONTAINER)
        if not await container.exists():
            await container.create_container()
        gate = asyncio.Semaphore(32)

        async def put(name: str, data: bytes) -> None:
            async with gate:
                await container.upload_blob(name, data, overwrite=True, max_concurrency=1)

        await asyncio.gather(*(put(n, d) for n, d in files))


async def _delete(connection_string: str, names: list[str]) -> None:
    async with AsyncBlobServiceClient.from_connection_string(connection_string) as service:
        container = service.get_container_client(CONTAINER)
        gate = asyncio.Semaphore(32)

        async def delete(name: str) -> None:
            # A delete retried after a timeout may find its blob already gone.
            async with gate:
                with contextlib.suppress(ResourceNotFoundError):
                    await container.delete_blob(name)

        await asyncio.gather(*(delete(n) for n in names))


def setup_connection(client: BlobSyncClient, org: str) -> str:
    client.put_org(org, plan="paid", monthly_quota=10**9)
    created = client.create_connection(
        org, dataset="bench", name="bench", storage_account=CUSTOMER, container=CONTAINER
    )
    return str(created["connection"]["id"])


def timed_sync(
    client: BlobSyncClient,
    org: str,
    conn: str,
    samples: list[tuple[float, int]] | None = None,
    *,
    host: DevHostProcess | None = None,
) -> tuple[float, dict[str, Any]]:
    """Seconds from sending the start request to the run's recorded finish. Polling is slow
    (0.5 s) so it neither loads the host nor rounds the figure; the finish time is the server's
    own timestamp (same machine, same clock). ``samples`` collects (seconds, blobs handled).
    With ``host``, it then waits (untimed) until the run's orchestration has completed: the
    finish step and the run-end step may still be returning, and the next measurement must
    not share the machine with them."""
    start = time.time()
    run = client.start_sync(org, conn)["runId"]
    while True:
        view = client.get_sync(org, conn, run)
        if samples is not None:
            samples.append((time.time() - start, int(view.get("processed") or 0)))
        if view["status"] in TERMINAL_STATUSES:
            if view["status"] != "completed":
                raise RuntimeError(f"sync ended {view['status']}: {view['error']}")
            finished = datetime.fromisoformat(view["finishedAt"]).timestamp()
            if host is not None:
                _settle(host, f"sync-{conn}-{run}")
            return finished - start, view
        time.sleep(0.5)


def _settle(host: DevHostProcess, instance: str, timeout: float = 120.0) -> None:
    url = host.url(f"/runtime/webhooks/durabletask/instances/{instance}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(url, timeout=10) as r:
            if json.loads(r.read()).get("runtimeStatus") == "Completed":
                return
        time.sleep(0.2)


def window_times(samples: list[tuple[float, int]], total: int) -> dict[str, Any] | None:
    """Seconds the run took for its first and its last ``window`` blobs (10,000, or a tenth of
    smaller runs), read from the progress samples: equal when the cost per blob stays flat."""
    window = min(10_000, total // 10)
    if window <= 0 or not samples:
        return None
    points = [(0.0, 0), *samples]

    def when(handled: int) -> float | None:
        # Interpolated between the two polls around it: a poll every 0.5 s can see a whole
        # small window at once (and the window would read as 0 s).
        for (t0, n0), (t1, n1) in itertools.pairwise(points):
            if n1 >= handled:
                return t1 if n1 == n0 else t0 + (t1 - t0) * max(0, handled - n0) / (n1 - n0)
        return None

    first_end, last_start, last_end = when(window), when(total - window), when(total)
    if first_end is None or last_start is None or last_end is None:
        return None
    start_s, end_s = first_end, last_end - last_start
    return {
        "window": window,
        "startSeconds": round(start_s, 1),
        "endSeconds": round(end_s, 1),
        "endVsStart": round(end_s / start_s, 2) if start_s > 0 else None,
    }


def projection(assets: int, report: dict[str, Any], target: int = 1_000_000) -> dict[str, Any]:
    """Linear projection of the run times to ``target`` blobs (the cost per blob is flat: see
    ``perWindow``), and what grows with the container and what does not."""
    scale = target / assets
    return {
        "blobs": target,
        "firstSyncHours": round(report["runs"]["firstSync"]["seconds"] * scale / 3600, 2),
        "noChangeResyncMinutes": round(report["runs"]["noChangeResync"]["seconds"] * scale / 60, 1),
        "grows": "Assets rows and manifest chunks (one per 5,000 blobs), listing pages, "
        "orchestration executions (one per SYNC_PAGES_PER_EXECUTION pages), run time",
        "flat": "worker memory (a listing step holds 5,000 blobs per folder listed at once; "
        "the manifest is read by name range; the finish holds one manifest chunk and the "
        "batches spanning its position), history per execution, reads per image, bytes read "
        "per image",
    }


def bytes_by_kind(platform_connection_string: str, connection_id: str) -> dict[str, Any]:
    """Per kind of asset (image, video, other): how many rows, and the bytes the run read and
    stored per blob, from the connection's ``Assets`` rows (each records its ``bytesRead``)."""
    query, params = connection_filter(connection_id)
    table = TableClient.from_connection_string(platform_connection_string, ASSETS_TABLE)
    sums: dict[str, list[int]] = {}
    with table:
        for row in table.query_entities(
            query, parameters=params, select=["kind", "bytesRead", "size"], results_per_page=1000
        ):
            total = sums.setdefault(str(row.get("kind") or "other"), [0, 0, 0, 0])
            read = as_int(row.get("bytesRead"))
            total[0] += 1
            total[1] += read
            total[2] += as_int(row.get("size"))
            total[3] = max(total[3], read)
    return {
        kind: {
            "assets": n,
            "bytesReadPerAsset": round(read / n),
            "maxBytesRead": most,
            "bytesStoredPerAsset": round(size / n),
        }
        for kind, (n, read, size, most) in sorted(sums.items())
    }


def _host_stats(host: DevHostProcess) -> dict[str, Any]:
    return host.status()


def run(
    assets: int,
    *,
    light: bool,
    naive_sample: int,
    seed: int,
    keep: bool = False,
    change_percent: float = 5.0,
    settings: dict[str, str] | None = None,
    repeat: int = 3,
) -> dict[str, Any]:
    """``repeat``: how many times the no-change re-sync and the three listing baselines are
    measured; the median counts (a run of a second on a shared machine is one sample)."""
    workspace = Path(tempfile.mkdtemp(prefix="blobsync-bench-"))
    report: dict[str, Any] = {"assets": assets, "profile": "light" if light else "realistic"}
    if settings:
        report["settings"] = dict(settings)
    # Two emulators, as in production two storage services: the platform's account (task hub,
    # metadata tables, staging) and the customer's (the dataset). The emulator saves a changed
    # database whole, every five seconds, blocking while it does: shared with the customer's
    # container, each of the app's writes would cost a rewrite of its blob database, and on
    # disk the platform's table database (a row per asset) takes a CPU-second and more to save
    # at 100,000 assets, every five seconds of a run, on a machine of two cores. So the
    # platform's emulator keeps its data in memory (no saves at all); the customer's, which
    # runs only read, serves its blobs from disk. Azure has no such cost, and the baselines
    # (which write nothing, or write once) never pay it.
    platform_azurite = Azurite(
        workspace / "azurite-platform", accounts=(DEV_ACCOUNT,), in_memory=True
    )
    customer_azurite = Azurite(workspace / "azurite-customer", accounts=(CUSTOMER,))
    platform_azurite.start()
    try:
        customer_azurite.start()
    except BaseException:
        platform_azurite.stop()
        raise
    try:
        platform = platform_azurite.account(DEV_ACCOUNT)
        customer = customer_azurite.account(CUSTOMER)
        report["emulators"] = "separate (platform in memory, customer on disk)"
        report["emulatorNodeOptions"] = EMULATOR_NODE_OPTIONS
        t = time.perf_counter()
        pool = build_pool(seed, light=light)
        files = list(blob_plan(pool, assets, seed))
        asyncio.run(_upload(customer.connection_string, files))
        stored = sum(len(d) for _, d in files)
        report["bytesStored"] = stored
        report["setupSeconds"] = round(time.perf_counter() - t, 1)
        print(
            f"container ready: {assets} blobs, {stored / 1e6:.0f} MB ({report['setupSeconds']}s)",
            flush=True,
        )

        env = emulator_app_settings(
            platform,
            [customer],
            blob_endpoint=f"http://127.0.0.1:{customer_azurite.blob_port}",
            # As the app setting recommends for Azure (README): fewer glibc arenas keep a
            # multi-threaded worker's memory from fragmenting as runs get longer.
            **{"MALLOC_ARENA_MAX": "2", **(settings or {})},
        )
        host = DevHostProcess(PROJECT_ROOT, env=env, workspace=workspace / "devhost")
        host.start()
        sampler = RssSampler(host.pid)
        sampler.start()
        client = BlobSyncClient(host.base_url, timeout=120)
        try:
            conn = setup_connection(client, "bench-org")
            samples: list[tuple[float, int]] = []
            marks = [("first sync", time.time())]
            first_s, first = timed_sync(client, "bench-org", conn, samples, host=host)
            print(f"first sync: {first_s:.1f}s", flush=True)
            report["firstSyncBytesByKind"] = bytes_by_kind(platform.connection_string, conn)
            # The customer's emulator reloads the container from disk before anything is listed
            # again. Having served the first sync's reads, it serves listings about 30 % slower
            # for as long as it runs (the pages of 100,000 blobs: 10.1 s loaded, 13.2 s after a
            # ranged read of each blob, 12.9 s ten seconds later); Azure does not slow down
            # with reads. The re-syncs and the three listings are all measured after it.
            # An untimed re-sync then warms the reloaded emulator up (its first listings after
            # a start run slower: at 5,000 blobs the first re-sync took 0.92 s, the third 0.64 s)
            # and the dev host's connections to it.
            customer_azurite.stop()
            customer_azurite.start(timeout=600)
            timed_sync(client, "bench-org", conn, host=host)
            report["customerEmulator"] = (
                "reloaded from disk after the first sync, then warmed up by an untimed re-sync"
            )
            marks.append(("no-change re-sync", time.time()))
            # Rounds of the no-change re-sync and the three listings of the same container, one
            # after the other: on a shared machine whose speed drifts over minutes, each round
            # measures them all at about the same speed (at 100,000 blobs, one listing took
            # 13.6 s in one run and 19.5 s in another, against the same re-sync).
            agains: list[tuple[float, dict[str, Any]]] = []
            listed: dict[str, list[baselines.BaselineResult]] = {}
            measures = [
                baselines.raw_listing,
                baselines.rclone_listing,
                baselines.served_listing,
            ]
            rounds: list[dict[str, float]] = []
            for _ in range(repeat):
                agains.append(timed_sync(client, "bench-org", conn, host=host))
                rounds.append({"noChangeResync": round(agains[-1][0], 2)})
                for measure in list(measures):
                    result = measure(customer.connection_string, CONTAINER)
                    if result is None:  # rclone unavailable: said once, not measured again
                        measures.remove(measure)
                        continue
                    listed.setdefault(result.name, []).append(result)
                    rounds[-1][result.name] = round(result.seconds, 3)
            report["rounds"] = rounds
            again_s, again = _median(agains, key=lambda r: r[0])
            print(
                f"no-change re-sync: {again_s:.1f}s (median of "
                f"{', '.join(f'{t:.2f}' for t, _ in agains)})",
                flush=True,
            )
            # A share of the container changes: a third replaced, a third added, a third deleted.
            rng = random.Random(seed + 1)
            share = max(3, round(assets * change_percent / 100))
            names = [n for n, _ in files]
            touched = rng.sample(names, 2 * (share // 3))
            changed, deleted = touched[: share // 3], touched[share // 3 :]
            fresh = [
                (f"new/img_{i:06d}.jpg", mediagen.jpeg(640, 480, seed=9000 + i))
                for i in range(share // 3)
            ]
            replacement = [(n, mediagen.jpeg(800, 600, seed=i)) for i, n in enumerate(changed)]
            asyncio.run(_upload(customer.connection_string, replacement + fresh))
            asyncio.run(_delete(customer.connection_string, deleted))
            marks.append(("re-sync with changes", time.time()))
            delta_s, delta = timed_sync(client, "bench-org", conn, host=host)
            print(f"re-sync after {change_percent:g}% changes: {delta_s:.1f}s", flush=True)
            stats = _host_stats(host)
        finally:
            report["peakRssBytes"] = sampler.stop()
            during = [name for name, at in marks if at <= sampler.peak_at]
            report["peakRssDuring"] = during[-1] if during else "start"
            client.close()
            host.stop()

        samples_of = {name: [round(r.seconds, 3) for r in rs] for name, rs in listed.items()}
        medians = {name: _median(rs, key=lambda r: r.seconds) for name, rs in listed.items()}
        listing = medians.get(baselines.RAW_LISTING)
        rclone = medians.get(baselines.RCLONE_LISTING)
        served = medians.get(baselines.SERVED_LISTING)
        assert listing is not None and served is not None  # only rclone can be unavailable
        floor = baselines.raw_floor(
            customer.connection_string, platform.connection_string, CONTAINER, "BenchFloor"
        )
        naive = baselines.naive(
            customer.connection_string,
            platform.connection_string,
            CONTAINER,
            "BenchNaive",
            limit=naive_sample,
        )
        current = assets - len(deleted) + len(fresh)
        report["runs"] = {
            "firstSync": _run_json(first_s, assets, first),
            "noChangeResync": {
                **_run_json(again_s, assets, again),
                "samples": [round(t, 2) for t, _ in agains],
            },
            "deltaResync": _run_json(delta_s, current, delta),
        }
        report["delta"] = {"changed": len(changed), "added": len(fresh), "deleted": len(deleted)}
        measured = [b for b in (listing, rclone, served, floor, naive) if b is not None]
        report["baselines"] = {
            b.name: {
                **b.to_json(),
                **({"samples": samples_of[b.name]} if b.name in samples_of else {}),
            }
            for b in measured
        }
        report["repeat"] = repeat
        first_rate = assets / first_s
        again_rate = assets / again_s
        report["ratios"] = {
            "firstSyncVsRawFloor": round(first_rate / floor.rate, 2),
            "firstSyncVsNaive": round(first_rate / naive.rate, 2),
            "noChangeResyncVsRawListing": round(again_rate / listing.rate, 2),
            "noChangeResyncVsRclone": round(again_rate / rclone.rate, 2) if rclone else None,
            "noChangeResyncVsServedListing": round(again_rate / served.rate, 2),
            # The most any re-sync could reach against the SDK's listing: it must at least
            # wait for every page to be served.
            "servedListingVsRawListing": round(served.rate / listing.rate, 2),
            "bytesReadVsStored": round(first["bytesRead"] / stored, 4),
        }
        report["largestHistoryPerExecution"] = stats.get("maxHistoryEvents")
        report["episodes"] = stats.get("episodes")
        report["delta"]["percent"] = change_percent
        report["firstSyncPerWindow"] = window_times(samples, assets)
        report["projection"] = projection(assets, report)
        return report
    finally:
        customer_azurite.stop()
        platform_azurite.stop()
        if keep:
            print(f"workspace kept: {workspace}", flush=True)
        else:
            shutil.rmtree(workspace, ignore_errors=True)


def _rows(client: BlobSyncClient, org: str, conn: str) -> dict[str, dict[str, Any]]:
    """Each asset's verdict by blob name, without what differs by run (ids, times)."""
    volatile = ("id", "runId", "connectionId", "syncedAt", "updatedAt", "createdAt", "checkedAt")
    return {
        str(a["name"]): {k: v for k, v in a.items() if k not in volatile and not k.endswith("At")}
        for a in client.iter_assets(org, conn)
    }


def run_faults(assets: int, *, light: bool, seed: int, keep: bool = False) -> dict[str, Any]:
    """The first sync of one container through the fault proxy, faults off then on (one host)."""
    workspace = Path(tempfile.mkdtemp(prefix="blobsync-bench-faults-"))
    plan = FaultPlan()
    report: dict[str, Any] = {
        "assets": assets,
        "profile": "light" if light else "realistic",
        "faults": plan.describe(),
    }
    azurite = Azurite(workspace / "azurite", accounts=(DEV_ACCOUNT, CUSTOMER))
    azurite.start()
    proxy = FaultProxy(f"http://127.0.0.1:{azurite.blob_port}", plan, seed=seed)
    proxy.start()
    try:
        platform, customer = azurite.account(DEV_ACCOUNT), azurite.account(CUSTOMER)
        files = list(blob_plan(build_pool(seed, light=light), assets, seed))
        asyncio.run(_upload(customer.connection_string, files))
        print(f"container ready: {assets} blobs; customer storage via {proxy.url}", flush=True)
        env = emulator_app_settings(
            platform, [customer], blob_endpoint=proxy.url, MALLOC_ARENA_MAX="2"
        )
        host = DevHostProcess(PROJECT_ROOT, env=env, workspace=workspace / "devhost")
        host.start()
        client = BlobSyncClient(host.base_url, timeout=120)
        try:
            clean_conn = setup_connection(client, "bench-clean")
            faulty_conn = setup_connection(client, "bench-faulty")
            proxy.set_faults(False)
            # An untimed sync first, so neither timed run pays for the host's cold start.
            warm_s, _ = timed_sync(client, "bench-warm", setup_connection(client, "bench-warm"))
            print(f"warm-up sync (untimed in the ratio): {warm_s:.1f}s", flush=True)
            proxy.set_faults(False)
            clean_s, clean = timed_sync(client, "bench-clean", clean_conn)
            report["cleanRequests"] = proxy.counts["requests"]
            print(f"first sync through the proxy, no faults: {clean_s:.1f}s", flush=True)
            proxy.set_faults(True, seed=seed)
            faulty_s, faulty = timed_sync(client, "bench-faulty", faulty_conn)
            injected = dict(proxy.counts)
            proxy.set_faults(False)
            print(f"first sync through the proxy, {plan.describe()}: {faulty_s:.1f}s", flush=True)
            clean_rows = _rows(client, "bench-clean", clean_conn)
            faulty_rows = _rows(client, "bench-faulty", faulty_conn)
        finally:
            client.close()
            host.stop()
        differing = sorted(
            n
            for n in clean_rows.keys() | faulty_rows.keys()
            if clean_rows.get(n) != faulty_rows.get(n)
        )
        report["runs"] = {
            "firstSyncNoFaults": _run_json(clean_s, assets, clean),
            "firstSyncWithFaults": _run_json(faulty_s, assets, faulty),
        }
        report["injected"] = injected
        report["rows"] = {
            "noFaults": len(clean_rows),
            "withFaults": len(faulty_rows),
            "differing": len(differing),
            "firstDiffering": differing[:10],
        }
        report["ratio"] = round(faulty_s / clean_s, 2)
        return report
    finally:
        proxy.stop()
        azurite.stop()
        if keep:
            print(f"workspace kept: {workspace}", flush=True)
        else:
            shutil.rmtree(workspace, ignore_errors=True)


def faults_table(report: dict[str, Any]) -> str:
    runs, rows, injected = report["runs"], report["rows"], report["injected"]
    clean, faulty = runs["firstSyncNoFaults"], runs["firstSyncWithFaults"]
    return "\n".join(
        [
            f"Fault benchmark: {report['assets']} assets ({report['profile']}), first sync "
            "through a loopback proxy in front of the customer's blob endpoint",
            f"faults: {report['faults']}",
            f"first sync, no faults             {clean['seconds']:>8.2f} s",
            f"first sync, with faults           {faulty['seconds']:>8.2f} s",
            f"with / without faults             {report['ratio']:>8.2f}x   (target <= 1.5)",
            f"requests with faults: {injected.get('requests', 0)}, 503: {injected.get('busy', 0)}, "
            f"resets: {injected.get('reset', 0)}, stalls: {injected.get('stall', 0)}",
            "by request: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(injected.items()) if "(" in k),
            f"rows: {rows['noFaults']} vs {rows['withFaults']}, differing: {rows['differing']}",
        ]
    )


def _median(items: list[T], *, key: Callable[[T], float]) -> T:
    """The middle item by ``key`` (the upper one of an even count)."""
    return sorted(items, key=key)[len(items) // 2]


def _run_json(seconds: float, assets: int, view: dict[str, Any]) -> dict[str, Any]:
    counts = view["counts"]
    return {
        "seconds": round(seconds, 2),
        "assetsPerSecond": round(assets / seconds, 1),
        "bytesRead": view["bytesRead"],
        "readRequestsPerAsset": round(view.get("readRequests", 0) / max(1, assets), 3),
        "counts": counts,
    }


def table(report: dict[str, Any]) -> str:
    lines = [
        f"Benchmark: {report['assets']} assets ({report['profile']}), {report['bytesStored'] / 1e6:.0f} MB stored",
        *(f"app setting {k}={v}" for k, v in report.get("settings", {}).items()),
        "",
        f"{'measurement':<52} {'seconds':>8} {'assets/s':>9}",
    ]
    if report.get("repeat", 1) > 1:
        lines.insert(
            -1, f"(no-change re-sync and listings: median of {report['repeat']} runs each)"
        )
    for name, r in report["runs"].items():
        lines.append(f"{name:<52} {r['seconds']:>8.2f} {r['assetsPerSecond']:>9.1f}")
    for name, b in report["baselines"].items():
        lines.append(f"{'baseline: ' + name:<52} {b['seconds']:>8.2f} {b['assetsPerSecond']:>9.1f}")
    ratios = report["ratios"]
    lines += [
        "",
        f"first sync / raw floor        {ratios['firstSyncVsRawFloor']:>6.2f}x   (target >= 1.5)",
        f"first sync / naive            {ratios['firstSyncVsNaive']:>6.2f}x   (target >= 5)",
        f"no-change re-sync / listing   {ratios['noChangeResyncVsRawListing']:>6.2f}x   (target >= 3; "
        f"pages served alone: {ratios['servedListingVsRawListing']:.2f}x)",
        f"no-change re-sync / rclone    {_ratio(ratios.get('noChangeResyncVsRclone'))}   (target >= 1.0)",
        f"no-change re-sync / served    {ratios['noChangeResyncVsServedListing']:>6.2f}x   (the pages alone, "
        "fetched in turn)",
        f"bytes read / bytes stored     {ratios['bytesReadVsStored'] * 100:>6.2f}%   (target <= 2%)",
        f"dev host peak RSS             {report['peakRssBytes'] / 2**20:>6.0f} MB  (target <= 400 MB; "
        f"during the {report.get('peakRssDuring', '?')})",
        f"largest history / execution   {report['largestHistoryPerExecution']!s:>6} events",
    ]
    for kind, k in report.get("firstSyncBytesByKind", {}).items():
        lines.append(
            f"bytes read per {kind:<6} {k['bytesReadPerAsset'] / 1024:>9.1f} KiB (largest "
            f"{k['maxBytesRead'] / 1024:.1f} KiB) of {k['bytesStoredPerAsset'] / 1024:.0f} KiB "
            f"stored, {k['assets']} assets"
        )
    windows = report.get("firstSyncPerWindow")
    if windows:
        lines.append(
            f"first sync, first / last {windows['window']} blobs   {windows['startSeconds']} s / "
            f"{windows['endSeconds']} s ({windows['endVsStart']}x)"
        )
    p = report["projection"]
    lines.append(
        f"projected to {p['blobs']:,} blobs: first sync {p['firstSyncHours']} h, no-change "
        f"re-sync {p['noChangeResyncMinutes']} min (linear; grows: {p['grows']}; flat: {p['flat']})"
    )
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return f"{value:>6.2f}x" if value is not None else "   n/a (rclone unavailable)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--assets", type=int, default=5000)
    parser.add_argument("--light", action="store_true", help="small files (scale and memory runs)")
    parser.add_argument(
        "--naive-sample", type=int, default=500, help="blobs the naive baseline handles"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of the no-change re-sync and of each listing baseline (median counts)",
    )
    parser.add_argument(
        "--change-percent",
        type=float,
        default=5.0,
        help="share of the container changed before the last re-sync (default 5)",
    )
    parser.add_argument("--json", type=Path, help="write the report here as JSON")
    parser.add_argument(
        "--keep", action="store_true", help="keep the workspace (logs) and say where"
    )
    parser.add_argument(
        "--faults",
        action="store_true",
        help="only the first sync through a fault-injecting proxy, faults off then on",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an app setting for the dev host (repeatable), e.g. FUNCTIONS_WORKER_PROCESS_COUNT=2",
    )
    args = parser.parse_args(argv)
    settings: dict[str, str] = {}
    for item in args.setting:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            parser.error(f"--setting wants NAME=VALUE, got {item!r}")
        settings[name] = value
    if args.faults:
        report = run_faults(args.assets, light=args.light, seed=args.seed, keep=args.keep)
        print(faults_table(report))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2))
        return 0 if report["rows"]["differing"] == 0 else 1
    report = run(
        args.assets,
        light=args.light,
        naive_sample=args.naive_sample,
        seed=args.seed,
        keep=args.keep,
        change_percent=args.change_percent,
        repeat=args.repeat,
        settings=settings,
    )
    print(table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
