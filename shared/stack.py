"""Run the whole system locally: Redis (embedded if none is configured), API and workers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO

from shared.broker import redis_for
from shared.client import Client
from shared.config import Settings
from shared.db import make_engine, make_sessions
from shared.embedded import EmbeddedRedis
from shared.errors import CvqError
from shared.keys import create_key
from shared.lifecycle import die_with_parent, require_free_port, shielded
from shared.schema import upgrade
from shared.status import workers_alive

#: The `cvqueue` subcommands the stack runs: the same ones docker-compose.yml runs.
API_COMMAND = ("api",)
WORKER_COMMAND = ("worker",)
SWEEPER_COMMAND = ("sweep",)
#: Seconds a stack's start waits for a worker's model before it starts the sweepers anyway.
WORKER_LOAD_WAIT = 20.0


def wait_until(done: Callable[[], bool], timeout: float,
               watched: list[subprocess.Popen[bytes]], interval: float) -> bool:
    """Polls `done` every `interval` seconds: False once `timeout` passes or a watched
    process exits first."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline or any(p.poll() is not None for p in watched):
            return False
        time.sleep(interval)
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalStack:
    """`with LocalStack(settings) as stack:` starts everything; leaving stops everything."""

    def __init__(self, settings: Settings, workers: int = 1, sweepers: int = 1, port: int = 0,
                 log_dir: Path = Path("var/log")) -> None:
        self.settings = settings
        self.workers, self.sweepers = workers, sweepers
        self.port = port or free_port()
        self.log_dir = log_dir
        self.url = f"http://127.0.0.1:{self.port}"
        self.redis: EmbeddedRedis | None = None
        self.api_key = ""
        self.procs: list[subprocess.Popen[bytes]] = []
        self.worker_procs: list[subprocess.Popen[bytes]] = []
        self.sweeper_procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        self._logs.append(log)
        env = {**os.environ, **self.settings.as_env(), "PYTHONUNBUFFERED": "1"}
        # Its own process group (stopped as one, pool children included), and SIGTERM from
        # the kernel should this process die without stopping it.
        proc = subprocess.Popen([sys.executable, *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=die_with_parent)
        self.procs.append(proc)
        return proc

    def start_worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        proc = self._spawn(name, ["-m", "shared.cli", *WORKER_COMMAND])
        self.worker_procs.append(proc)
        return proc

    def start(self, ready_timeout: float = 60) -> LocalStack:
        """Start everything; whatever fails or interrupts the start stops what was started."""
        require_free_port("127.0.0.1", self.port)
        try:
            self._start(ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, ready_timeout: float) -> None:
        if not self.settings.broker_url:
            self.redis = EmbeddedRedis()
            self.settings = replace(self.settings, broker_url=self.redis.url)
        # Migrations run before any child starts (children refuse an old schema in
        # production); then a board key for this stack's clients.
        upgrade(make_engine(self.settings.database_url))
        self.api_key = create_key(make_sessions(self.settings.database_url),
                                  f"local-{uuid.uuid4().hex[:8]}")
        self._spawn("api", ["-m", "shared.cli", *API_COMMAND, "--host", "127.0.0.1",
                            "--port", str(self.port)])
        for n in range(self.workers):
            self.start_worker(f"worker-{n + 1}")
        if not wait_until(self.client().ready, ready_timeout, self.procs, interval=0.2):
            raise CvqError(f"the API did not become ready; see {self.log_dir}/api.log")
        # Sweepers last: nothing they do is due in a stack's first seconds, and their start
        # (a CPU-second of imports) took cores from the workers' model load.
        self._await_a_loaded_worker(WORKER_LOAD_WAIT)
        self.sweeper_procs = [self._spawn(f"sweeper-{n + 1}", ["-m", "shared.cli",
                                                            *SWEEPER_COMMAND])
                              for n in range(self.sweepers)]

    def _await_a_loaded_worker(self, timeout: float) -> None:
        """Until a worker process has its model loaded (its first heartbeat), a worker
        exits, or `timeout` passes: a worker that cannot load delays nothing for long."""
        if not (self.worker_procs and self.sweepers):
            return
        broker = redis_for(self.settings.broker_url)
        if broker is None:
            return
        with broker:
            wait_until(lambda: bool(workers_alive(broker, self.settings.queue)), timeout,
                       self.worker_procs, interval=0.05)

    def client(self) -> Client:
        return Client(self.url, self.api_key)

    @property
    def api_pid(self) -> int:
        """The API's process: the first a stack starts."""
        return self.procs[0].pid

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to every process group (workers finish or hand back their batch), SIGKILL
        to what is left after `timeout`, then the embedded Redis."""
        with shielded():
            self._stop(timeout)

    def _stop(self, timeout: float) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # a pool child that outlived its parent
        self.procs.clear()
        self.worker_procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
