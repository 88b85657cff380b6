"""CPU priority on a machine the API and the workers share: the workers below, the API above.

The workers' nice orders them against other ordinary processes, but it does not stop an
encoder holding a core when an API thread wakes: the woken thread can wait for the
encoder's time slice to end, a few milliseconds, at each of a request's waits (the
database, Redis). A thread at a real-time priority takes the core as it wakes. Measured on
the embedded configuration (docs/performance.md, "What each change bought"): submit p50
8.1 -> 5.4 ms with the workers busy, its p99 lower in two runs of three; nothing on
PostgreSQL, whose server processes the API waits for keep the ordinary priority.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger("cvqueue.priority")
#: The lowest real-time priority: above every ordinary process, below the kernel's own.
REALTIME_PRIORITY = 1


def lower_priority(nice: int) -> None:
    """`nice` for this process and its pool children (inherited). Under Linux's autogroup
    scheduling a process's nice only orders it against the processes of its own session, and
    `cvqueue up`, systemd and most supervisors start the worker in a session of its own: what
    weighs it against the API is the session's nice, in /proc/self/autogroup. Set only by a
    session leader, so a worker started from a terminal leaves that terminal's shell alone."""
    os.nice(nice)
    if os.getsid(0) == os.getpid():
        with contextlib.suppress(OSError):  # not Linux, or no autogroup scheduling
            Path("/proc/self/autogroup").write_text(f"{nice}\n")


def realtime_priority() -> bool:
    """Every thread this process has at SCHED_RR, priority 1: call it once the server's
    threads are started, as a thread or process started later gets the ordinary policy
    (SCHED_RESET_ON_FORK, so that no child inherits a real-time priority). Round-robin, so
    one long request cannot keep the other API threads off a core; the kernel keeps 5% of
    each core for ordinary processes whatever real-time threads do. Needs root,
    CAP_SYS_NICE or an RLIMIT_RTPRIO of 1 or more (`ulimits: rtprio: 1` in
    docker-compose.yml, `LimitRTPRIO=1` under systemd); without them the process keeps its
    priority, says so, and goes on: returns whether it took."""
    policy = os.SCHED_RR | os.SCHED_RESET_ON_FORK
    try:
        for thread in os.listdir("/proc/self/task"):
            os.sched_setscheduler(int(thread), policy, os.sched_param(REALTIME_PRIORITY))
    except (OSError, AttributeError) as exc:  # refused, or not Linux
        log.warning("CVQ_API_REALTIME: the API keeps the ordinary CPU priority (%s); it "
                    "needs root, CAP_SYS_NICE or an RLIMIT_RTPRIO of at least %d",
                    exc.strerror if isinstance(exc, OSError) else "not Linux",
                    REALTIME_PRIORITY)
        return False
    log.info("API threads at real-time priority (SCHED_RR %d)", REALTIME_PRIORITY)
    return True
