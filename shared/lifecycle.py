"""How every long-running command starts and stops: SIGTERM means what Ctrl-C means, a
child never outlives the command that started it, and a taken port is a one-line error."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType

from shared.errors import CvqError

_PR_SET_PDEATHSIG = 1
#: Set on SIGTERM, so a supervising loop that waits on it stops even when the
#: KeyboardInterrupt is lost: raised while a `__del__` or finaliser runs, it is reported as
#: "Exception ignored" and dropped. Once in CI a SIGTERM to `cvqueue up` went unanswered
#: and its children kept running.
stop_requested = threading.Event()


def stop_on_sigterm() -> None:
    """SIGTERM (systemd, docker, Kubernetes, supervisord) raises KeyboardInterrupt, as
    Ctrl-C does, so `finally` blocks and context managers stop what was started."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        stop_requested.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def die_with_parent() -> None:
    """For `preexec_fn`: the kernel sends SIGTERM to this child when its parent dies, even
    by SIGKILL (Linux; elsewhere a no-op). The parent is the thread that started the child,
    so start children from the main thread."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def require_free_port(host: str, port: int) -> None:
    with socket.socket() as probe:
        # As servers do: a port left in TIME_WAIT by the last run is free, a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise CvqError(f"port {port} on {host} is already in use (is another cvqueue "
                           "running?); stop it or pass --port") from None


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM while stopping, so a second Ctrl-C cannot cut the cleanup
    short and leave children behind (only the main thread can change handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
