"""The API's real-time priority: taken by every thread it has, not passed on to what it
starts, and refused in one warning without stopping the process."""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys

import pytest

from shared import priority

# Run in a child, so that the test process keeps its own priority.
PROBE = """
import json, os, threading
from shared.priority import realtime_priority

def policy():
    return os.sched_getscheduler(threading.get_native_id())

waiting, release, seen = threading.Event(), threading.Event(), {}
def before():
    waiting.set(); release.wait(); seen["before"] = policy()
thread = threading.Thread(target=before); thread.start(); waiting.wait()
seen["took"] = realtime_priority()
seen["main"] = policy()
release.set(); thread.join()
later = threading.Thread(target=lambda: seen.update(after=policy())); later.start(); later.join()
child = os.fork()
if child == 0:
    os._exit(os.sched_getscheduler(0))
seen["child"] = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
print(json.dumps(seen))
"""


def realtime_allowed() -> bool:
    """Root, or a real-time priority limit (CAP_SYS_NICE alone is not looked for)."""
    return os.geteuid() == 0 or resource.getrlimit(resource.RLIMIT_RTPRIO)[0] >= 1


@pytest.mark.skipif(not realtime_allowed(), reason="needs root or an RLIMIT_RTPRIO >= 1")
def test_every_thread_it_has_goes_realtime_and_nothing_it_starts() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    seen = json.loads(out)
    realtime = os.SCHED_RR | os.SCHED_RESET_ON_FORK
    assert seen == {"took": True, "main": realtime, "before": realtime,
                    "after": os.SCHED_OTHER, "child": os.SCHED_OTHER}


def test_a_refusal_is_one_warning_and_the_process_goes_on(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def refuse(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    with caplog.at_level(logging.WARNING, "cvqueue.priority"):
        assert priority.realtime_priority() is False
    assert [r.getMessage() for r in caplog.records] == [
        "CVQ_API_REALTIME: the API keeps the ordinary CPU priority (Operation not permitted); "
        "it needs root, CAP_SYS_NICE or an RLIMIT_RTPRIO of at least 1"]
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
