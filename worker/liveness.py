"""Liveness: a worker that has messages waiting but consumes none for a while exits non-zero.

A worker can stop consuming for good and still look alive to its supervisor (seen here:
prefetch slots held by batches that died with their pool child). The watchdog runs in the
worker's main process; every message received resets its clock, and when the queue holds
work while nothing was received for `liveness_seconds`, it asks Celery for the same warm
shutdown SIGTERM would, with exit code `EXIT_STALLED`, so systemd, docker or Kubernetes
restart the worker. The rows it held come back through the sweeper.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable

log = logging.getLogger("cvqueue.worker")
EXIT_STALLED = 3


class Watchdog:
    def __init__(self, stall_seconds: float, depth: Callable[[], int | None],
                 stop: Callable[[int], None], clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.stall_seconds, self.depth, self.stop, self.clock = stall_seconds, depth, stop, clock
        self.last_received = clock()
        self._halt = threading.Event()

    def received(self, **_: object) -> None:
        self.last_received = self.clock()

    def stalled(self) -> bool:
        """True, once, when work waits and nothing was received for `stall_seconds`."""
        idle = self.clock() - self.last_received
        if idle < self.stall_seconds:
            return False
        waiting = self.depth()
        if not waiting:
            self.last_received = self.clock()  # an idle queue is not a stall
            return False
        log.error("liveness: %d message(s) waiting and none received for %.0f s; exiting with "
                  "code %d so that the supervisor restarts this worker", waiting, idle,
                  EXIT_STALLED)
        self.stop(EXIT_STALLED)
        return True

    def start(self, interval: float | None = None) -> None:
        interval = interval or max(0.5, self.stall_seconds / 4)

        def loop() -> None:
            while not self._halt.wait(interval):
                if self.stalled():
                    return

        threading.Thread(target=loop, name="cvqueue-liveness", daemon=True).start()

    def halt(self) -> None:
        self._halt.set()


def shut_down(exitcode: int, grace: float = 15) -> None:
    """Celery's warm shutdown (what SIGTERM asks for); if a stuck pool child keeps it from
    finishing, a cold one; then, as a last resort, kill the children and exit."""
    from billiard.process import active_children
    from celery.worker import state

    state.should_stop = exitcode
    time.sleep(grace)
    state.should_terminate = exitcode
    time.sleep(grace)
    for child in active_children():
        with contextlib.suppress(OSError):
            os.kill(child.pid, signal.SIGKILL)
    os._exit(exitcode)
