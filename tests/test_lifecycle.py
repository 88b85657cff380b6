"""`cvqueue up` as an operator runs it: SIGTERM (or even SIGKILL) leaves no process behind,
the embedded Redis included; starting and stopping it again and again works; a taken port
is a one-line error."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from shared.stack import free_port

pytestmark = pytest.mark.e2e


def start_up(tmp_path: Path, artifacts: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "CVQ_ENV": "test", "CVQ_ARTIFACTS": str(artifacts),
           "CVQ_DATABASE_URL": f"sqlite:///{tmp_path / 'cvq.db'}"}
    env.pop("CVQ_BROKER_URL", None)
    return subprocess.Popen([sys.executable, "-m", "shared.cli", "up", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_running(up: subprocess.Popen[str], port: int) -> list[psutil.Process]:
    """Once the API answers and every process has started (API, sweeper, embedded Redis,
    worker and its 2 pool children): all of `up`'s descendants."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert up.poll() is None, up.stdout.read() if up.stdout else ""
        family = psutil.Process(up.pid).children(recursive=True)
        try:
            ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).ok
        except requests.RequestException:
            ready = False
        if ready and len(family) >= 6:
            return family
        time.sleep(0.3)
    raise AssertionError("cvqueue up did not come up")


def assert_all_gone(family: list[psutil.Process], port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            break
        time.sleep(0.2)
    assert not alive, [(p.pid, p.name(), p.cmdline()[-2:]) for p in alive]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_sigterm_stops_everything_again_and_again(artifacts: Path, tmp_path: Path) -> None:
    for _ in range(3):
        port = free_port()
        up = start_up(tmp_path, artifacts, port)
        family = wait_running(up, port)
        names = " ".join(" ".join(p.cmdline()) for p in family)
        assert "redis-server" in names and "worker" in names and "sweep" in names
        up.send_signal(signal.SIGTERM)
        assert up.wait(90) == 0
        assert_all_gone(family, port)


def test_sigkill_of_up_takes_its_children_along(artifacts: Path, tmp_path: Path) -> None:
    port = free_port()
    up = start_up(tmp_path, artifacts, port)
    family = wait_running(up, port)
    up.kill()
    up.wait()
    assert_all_gone(family, port)


def test_a_taken_port_is_a_one_line_error(artifacts: Path, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        up = start_up(tmp_path, artifacts, port)
        out, _ = up.communicate(timeout=60)
    assert up.returncode == 2
    assert out.strip().splitlines()[-1].startswith("error: port")
    assert "already in use" in out and "Traceback" not in out


def test_a_sigterm_whose_interrupt_is_lost_still_sets_the_stop_flag() -> None:
    """Python drops an exception raised in a `__del__`, the KeyboardInterrupt of a SIGTERM
    handled there included; `cvqueue up` waits on the flag the handler sets as well."""
    code = "\n".join([
        "import os, signal",
        "from shared.lifecycle import stop_on_sigterm, stop_requested",
        "stop_on_sigterm()",
        "class Finalised:",
        "    def __del__(self):",
        "        os.kill(os.getpid(), signal.SIGTERM)",
        "Finalised()",
        "print('still running, flag', stop_requested.wait(5))",
    ])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=Path(__file__).resolve().parents[1])
    assert "KeyboardInterrupt" in out.stderr  # reported as "Exception ignored", then lost
    assert "still running, flag True" in out.stdout
