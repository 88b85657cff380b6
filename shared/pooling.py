"""Pessimistic disconnect handling without a round trip on every checkout.

SQLAlchemy's `pool_pre_ping` sends a `SELECT 1` each time a connection leaves the pool: on
PostgreSQL a single poll was three round trips (the ping, the key, the submission), each a
wake-up of a database process on cores the encoders keep busy. What the ping is there to
catch, a server restarted or a backend terminated, shows without one: PostgreSQL sends the
client a FATAL error and closes the socket, so the idle connection's socket turns readable,
which a poll with no timeout sees. A connection idle long enough for something between the
two ends to have dropped it without a word (a NAT or firewall timeout, a host gone) is
pinged as before.

A connection that fails either check is replaced by a fresh one before anyone uses it, as
with the pre-ping; a failed ping also recycles the rest of the pool, as the pre-ping does.
"""

from __future__ import annotations

import select
import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError, InvalidatePoolError

#: A connection idle this long is pinged on checkout; a busy pool's connections never are.
PING_IDLE_AFTER = 10.0
_IDLE_SINCE = "cvq_idle_since"


def has_unread_input(dbapi_connection: Any) -> bool:
    """True when an idle connection's socket is readable: the server sent something nobody
    asked for (its FATAL error before closing) or closed it."""
    if getattr(dbapi_connection, "closed", False):
        return True
    poller = select.poll()
    poller.register(dbapi_connection.fileno(),
                    select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def check_on_checkout(engine: Engine, ping_idle_after: float = PING_IDLE_AFTER) -> None:
    """Check each connection `engine`'s pool hands out: its socket always, a ping when it was
    idle longer than `ping_idle_after` seconds. For servers reached over a socket."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def idle_from_now(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None:  # new since its last checkin: just connected
            return
        if has_unread_input(dbapi_connection):
            raise DisconnectionError("the server closed an idle connection")
        if time.monotonic() - idle_since > ping_idle_after:
            try:
                dialect.do_ping(dbapi_connection)
            except dialect.loaded_dbapi.Error as exc:
                raise InvalidatePoolError("an idle connection failed its ping") from exc
