"""A model runtime that fails on purpose, for the fault tests (`CVQ_RUNTIME_FACTORY`).

A CV containing `KILL` kills its worker process (as a segfault or the OOM killer would);
one containing `RAISE` makes the model step raise; one containing `SLOW` holds its batch in
the model step for a few seconds. Everything else goes to the real model.
"""

from __future__ import annotations

import os
import signal
import time

from models.runtime import ModelRuntime, Prediction
from shared.config import Settings
from worker.context import default_runtime

KILL = "POISON-KILL-7f3a"
RAISE = "POISON-RAISE-91c2"
#: A batch holding this CV takes SLOW_SECONDS longer: time for a test to act mid-batch.
SLOW = "POISON-SLOW-44d0"
SLOW_SECONDS = 6.0
FACTORY = "tests.poison:poisoned_runtime"


class PoisonedModel(RuntimeError):
    pass


class PoisonedRuntime:
    def __init__(self, runtime: ModelRuntime) -> None:
        self.runtime = runtime

    def predict_batch(self, texts: list[str], k: int = 5,
                      positions: list[str | None] | None = None) -> list[Prediction]:
        if any(KILL in t for t in texts):
            os.kill(os.getpid(), signal.SIGKILL)
        if any(RAISE in t for t in texts):
            raise PoisonedModel("poisoned CV")
        if any(SLOW in t for t in texts):
            time.sleep(SLOW_SECONDS)
        return self.runtime.predict_batch(texts, k, positions)

    def __getattr__(self, name: str) -> object:
        return getattr(self.runtime, name)


def poisoned_runtime(settings: Settings) -> ModelRuntime:
    return PoisonedRuntime(default_runtime(settings))  # type: ignore[return-value]
