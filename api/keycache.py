"""Key holders cached in the API process, while PostgreSQL reports every change to them.

Every request looks its key up, and on PostgreSQL that is a round trip: on cores the
encoders keep busy, a wake-up of a database process, for the same answer nearly every time.
So an API process keeps the holders of the valid keys it has seen, and a thread of its own
LISTENs on `cvq_keys`, which a trigger on `boards` NOTIFYs at the commit of any statement
that changes the table (migration 0009). Each notification empties the cache: a rotated or
revoked key stops working once the notification arrives, milliseconds after the commit,
whoever made the change (`cvqueue keys`, a migration, an operator's own SQL).

The cache answers only while the listener has confirmed in the last `CONFIRMED_WITHIN`
seconds that notifications reach it: every `CONFIRM_EVERY` seconds it notifies a channel of
its own and waits for that to come back (`Listener.probe`). A listener that lost its
connection, hangs on a dead one, or sits behind a pooler that loses notifications turns the
cache off, and keys are looked up in the database again until it has listened
anew (and emptied the cache, as notifications may have been missed meanwhile). Invalid keys
are never cached. On SQLite nothing listens and the cache never answers: its lookup runs in
process and costs no round trip.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import make_url

from shared.keys import KeyHolder

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("cvqueue.api")
CHANNEL = "cvq_keys"
APPLICATION_NAME = "cvq-key-listener"
TRIGGER = "boards_keys_changed"
#: The listener proves its connection delivers notifications this often (`Listener.probe`).
CONFIRM_EVERY = 2.0
PROBE_TIMEOUT = 5.0
#: The cache answers only this long after the listener's last proof (> the two above).
CONFIRMED_WITHIN = 10.0
MAX_HOLDERS = 10_000
RECONNECT_AFTER = (0.5, 1, 2, 5, 10, 30)


class ListenerFailed(RuntimeError):
    """The listener cannot vouch for the cache: no trigger to notify key changes, or its
    connection did not deliver its own notification back. The message says which."""


class KeyCache:
    """Holders by key digest. Thread-safe; lookups that raced a change are not stored."""

    def __init__(self) -> None:
        self._holders: dict[str, KeyHolder] = {}
        self._generation = 0
        self._confirmed_at = -math.inf
        self._lock = threading.Lock()
        self.listener: Listener | None = None
        #: Requests answered from the cache, and those that looked their key up (metrics).
        self.hits = self.misses = 0

    @property
    def serving(self) -> bool:
        return time.monotonic() - self._confirmed_at < CONFIRMED_WITHIN

    def holder(self, digest: str, lookup: Callable[[str], KeyHolder | None]
               ) -> KeyHolder | None:
        """The cached holder of `digest`, or `lookup`'s answer, cached if it is one."""
        if self.serving and (cached := self._holders.get(digest)) is not None:
            with self._lock:
                self.hits += 1
            return cached
        generation = self._generation
        found = lookup(digest)
        with self._lock:  # a change notified during the lookup: not stored
            self.misses += 1
            if (found is not None and generation == self._generation and self.serving
                    and len(self._holders) < MAX_HOLDERS):
                self._holders[digest] = found
        return found

    def invalidate(self) -> None:
        with self._lock:
            self._holders.clear()
            self._generation += 1

    def confirm(self) -> None:
        self._confirmed_at = time.monotonic()

    def stop_serving(self) -> None:
        self._confirmed_at = -math.inf
        self.invalidate()

    def close(self) -> None:
        """Stop serving and stop the listener (it ends within `CONFIRM_EVERY` seconds)."""
        if self.listener is not None:
            self.listener.stop()
        self.stop_serving()


class Listener(threading.Thread):
    """LISTENs on its own connection (not one of the pool's) and empties `cache` on each
    notification; reconnects with backoff, the cache off meanwhile."""

    def __init__(self, database_url: str, cache: KeyCache) -> None:
        super().__init__(name="cvq-key-listener", daemon=True)
        # libpq's URL: SQLAlchemy's may name a driver (`postgresql+psycopg://`).
        self.conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        self.cache = cache
        self.stopping = threading.Event()

    def run(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                self.listen()
            except Exception as exc:  # any failure only turns the cache off
                self.cache.stop_serving()
                if failures == 0:
                    log.warning("key cache off (%s): keys are looked up on every request "
                                "until its listener is back", exc if isinstance(
                                    exc, ListenerFailed) else type(exc).__name__)
                failures += 1
            else:
                failures = 0
            self.stopping.wait(RECONNECT_AFTER[min(failures, len(RECONNECT_AFTER) - 1)])

    def listen(self) -> None:
        import psycopg  # PostgreSQL only: an API on SQLite never imports it

        with psycopg.connect(self.conninfo, autocommit=True,
                             application_name=APPLICATION_NAME) as conn:
            if conn.execute("SELECT 1 FROM pg_trigger WHERE tgname = %s",
                            (TRIGGER,)).fetchone() is None:
                raise ListenerFailed(f"trigger {TRIGGER} missing: run `cvqueue db upgrade`")
            probes = f"cvq_probe_{secrets.token_hex(8)}"
            conn.execute(f"LISTEN {CHANNEL}")
            conn.execute(f"LISTEN {probes}")
            self.cache.invalidate()  # whatever changed before this LISTEN went unheard
            while not self.stopping.is_set():
                self.probe(conn, probes)
                self.cache.confirm()
                self.heed(conn.notifies(timeout=CONFIRM_EVERY))

    def probe(self, conn: psycopg.Connection[Any], probes: str) -> None:
        """Notify this connection's own channel and wait for it: the proof that notifications
        reach it (a pooler in transaction mode would lose them), and, as PostgreSQL delivers
        them in commit order, that every key change committed before is heard."""
        token = secrets.token_hex(8)
        conn.execute("SELECT pg_notify(%s, %s)", (probes, token))
        if not self.heed(conn.notifies(timeout=PROBE_TIMEOUT), token):
            raise ListenerFailed(f"a notification to itself did not come back in {PROBE_TIMEOUT} s")

    def heed(self, notes: Iterator[psycopg.Notify], token: str | None = None) -> bool:
        """Empty the cache on each key change; True once the probe `token` comes back."""
        for note in notes:
            if note.channel == CHANNEL:
                self.cache.invalidate()
            elif token is not None and note.payload == token:
                return True
        return False

    def stop(self) -> None:
        self.stopping.set()


def key_cache(database_url: str) -> KeyCache:
    """A cache for an API process: listening on PostgreSQL, never answering on SQLite."""
    cache = KeyCache()
    if database_url.startswith("postgresql"):
        cache.listener = Listener(database_url, cache)
        cache.listener.start()
    return cache
