"""Client-side deadlines for database round trips: a server that never answers costs a bounded wait.

PostgreSQL's ``statement_timeout`` is enforced by the server, so a server that
does not answer at all (its processes stopped, the host frozen or cut off)
never enforces it, and libpq waits on the socket for ever; TCP keepalives and
``tcp_user_timeout`` do not help either, because the kernel keeps acknowledging
for a stopped process. The bound has to come from the client.

One watchdog thread per process keeps the deadline of every round trip in
flight on a bounded engine (each statement, commit and rollback, the pool's
reset on return). When a deadline passes it shuts the connection's socket
down: the blocked read fails at once with a disconnect error, SQLAlchemy
invalidates that connection (and the pool's older ones), and the caller sees
an ordinary ``OperationalError``, which the API answers as a 503. The
server's own timeout is set shorter, so whenever the server is alive it
cancels first and the connection survives.

Arming costs two dictionary operations per statement under an uncontended
lock; the thread sleeps while nothing is armed. Connections are also checked
for liveness when they leave the pool, without a round trip: an idle socket
that is readable means the server closed it or sent its last words (restart,
``pg_terminate_backend``), so the pool replaces it before any query runs.
``pool_pre_ping`` cannot be bounded (its ping runs before any pool event) and
is not needed with this check.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

log = logging.getLogger(__name__)

#: A bound in seconds for the current round trip, or None to leave it unbounded.
BoundFn = Callable[[], "float | None"]


class Watchdog:
    """Shuts down the socket of any armed connection whose deadline has passed."""

    def __init__(self) -> None:
        self._armed: dict[int, tuple[float, Any]] = {}
        self._cond = threading.Condition(threading.Lock())
        self._earliest = float("inf")
        self._thread: threading.Thread | None = None
        #: How many sockets were cut, for tests and logs.
        self.cuts = 0

    def arm(self, dbapi_connection: Any, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with self._cond:
            self._armed[id(dbapi_connection)] = (deadline, dbapi_connection)
            if deadline < self._earliest:
                self._earliest = deadline
                self._ensure_thread()
                self._cond.notify()

    def disarm(self, dbapi_connection: Any) -> None:
        if dbapi_connection is None:
            return
        with self._cond:
            self._armed.pop(id(dbapi_connection), None)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="analytics-db-deadlines", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for key, (deadline, conn) in list(self._armed.items()):
                    if deadline <= now:
                        del self._armed[key]
                        # Under the lock: a connection is disarmed (under the same lock)
                        # before SQLAlchemy closes it, so its descriptor is still its own.
                        self._cut(conn)
                self._earliest = min((d for d, _ in self._armed.values()), default=float("inf"))
                self._cond.wait(None if self._earliest == float("inf") else self._earliest - now)

    def _cut(self, dbapi_connection: Any) -> None:
        try:
            if getattr(dbapi_connection, "closed", False):
                return
            fd = dbapi_connection.fileno()
            # A duplicate descriptor names the same socket; shutting it down wakes
            # the thread blocked on the original and leaves closing to its owner.
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError, AttributeError, sa.exc.SQLAlchemyError):
            return  # already closed: nothing is waiting on it any more
        except Exception:  # noqa: BLE001 - a driver's own error while closed; the watchdog must live on
            return
        self.cuts += 1
        log.warning("A database round trip outlived its deadline; its connection was cut.")


_watchdog = Watchdog()


def _reset_after_fork() -> None:
    # A forked worker inherits the parent's table but not its thread.
    global _watchdog
    _watchdog = Watchdog()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def watchdog() -> Watchdog:
    return _watchdog


def socket_closed_by_server(dbapi_connection: Any) -> bool:
    """True if an idle connection's socket is readable: the server hung up or said goodbye."""
    try:
        fd = dbapi_connection.fileno()
    except Exception:  # noqa: BLE001 - a connection that cannot say its socket is not usable either
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)


def bound_engine(engine: sa.Engine, bound: BoundFn, *, check_liveness: bool = False) -> None:
    """Arm every round trip on ``engine`` with ``bound()`` seconds (None: leave it unbounded).

    ``bound`` is called per round trip, so it can depend on the request being
    served. With ``check_liveness``, connections whose server has closed them
    are replaced as they leave the pool.
    """

    def arm(dbapi_connection: Any) -> None:
        seconds = bound()
        if seconds is not None and dbapi_connection is not None:
            _watchdog.arm(dbapi_connection, seconds)

    def arm_conn(conn: sa.Connection, *_args: Any) -> None:
        arm(_dbapi_of(conn))

    def disarm_conn(conn: sa.Connection, *_args: Any) -> None:
        _watchdog.disarm(_dbapi_of(conn))

    def disarm_on_error(context: Any) -> None:
        _watchdog.disarm(_dbapi_of(context.connection))

    def arm_dbapi(dbapi_connection: Any, *_args: Any) -> None:
        arm(dbapi_connection)

    def disarm_dbapi(dbapi_connection: Any, *_args: Any) -> None:
        _watchdog.disarm(dbapi_connection)

    event.listen(engine, "before_cursor_execute", arm_conn)
    event.listen(engine, "after_cursor_execute", disarm_conn)
    event.listen(engine, "handle_error", disarm_on_error)
    event.listen(engine, "commit", arm_conn)
    event.listen(engine, "rollback", arm_conn)
    event.listen(engine, "reset", arm_dbapi)
    for name in ("checkin", "invalidate", "soft_invalidate", "close", "detach"):
        event.listen(engine, name, disarm_dbapi)
    if check_liveness:
        event.listen(engine, "connect", _mark_fresh)
        event.listen(engine, "checkout", _replace_if_closed)


def _mark_fresh(_dbapi_connection: Any, record: Any) -> None:
    record.info[_FRESH] = True


def _dbapi_of(conn: sa.Connection | None) -> Any:
    """The driver connection under ``conn``; None once it is closed or invalidated
    (the pool's ``invalidate`` and ``close`` events disarm those)."""
    if conn is None or conn.closed or conn.invalidated:
        return None
    return conn.connection.dbapi_connection


_FRESH = "agentidp_analytics_fresh"


def _replace_if_closed(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    # A connection made for this checkout is not checked: if the server drops it too (a storm
    # of terminations), its first query fails as an outage, instead of the pool giving up
    # with "This connection is closed" after its two reconnection attempts.
    if record.info.pop(_FRESH, False):
        return
    if socket_closed_by_server(dbapi_connection):
        # The pool's documented way to say "this one is dead, connect again".
        raise sa.exc.DisconnectionError("the server closed this pooled connection")
