"""The plugin's database engines: bounded reads for requests, a longer bound for the job.

Every request under the plugin's prefix must answer in bounded time, whatever
the database does: slow (the server cancels at ``statement_timeout``), locked
(``lock_timeout``), unreachable (``connect_timeout``), pool exhausted
(``pool_timeout``) or not answering at all (the client-side deadline of
:mod:`.deadlines`). On PostgreSQL the plugin therefore opens its own engines on
the host's database, each with its bounds set once per connection (no extra
round trip per request):

``reads``
    The API's and the tab's queries: ``ANALYTICS_DB_STATEMENT_TIMEOUT`` (and
    ``ANALYTICS_DB_LOCK_TIMEOUT``), and a client deadline one second longer, so
    a live server always cancels first.
``replica``
    The same, on a read replica (``ANALYTICS_READ_DATABASE_URL``, or the URL
    of the Flask-SQLAlchemy bind named by ``ANALYTICS_READ_BIND``) when one is
    configured: :mod:`.read_routing` sends the requests' reads there and falls
    back to ``reads`` on the primary.
``writes``
    The aggregation job and the CLI: ``ANALYTICS_JOB_STATEMENT_TIMEOUT`` and
    ``ANALYTICS_JOB_LOCK_TIMEOUT``, without a pool (the job runs once a night).

The host's engine is the host's; its settings are left alone. But a request
under the prefix runs the host's resolver on it before any plugin query, and
the host session it opens is closed at teardown: while such a request runs,
the plugin arms the host engine's round trips with the reads bound too, and
new connections the host engine opens for it get ``connect_timeout``. (Hosts
with ``pool_pre_ping`` keep one unbounded ping per checkout; see the README.)

SQLite has none of these failure modes (a local file) and no second engine
could share an in-memory database, so there the plugin uses the host's engine.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event
from sqlalchemy.pool import NullPool

from . import deadlines

log = logging.getLogger(__name__)

#: Seconds the client waits beyond the server's own timeout before cutting a connection.
DEADLINE_GRACE = 1.0
#: libpq drivers: they take ``options``/``connect_timeout`` and expose the socket.
BOUNDED_DRIVERS = ("psycopg", "psycopg2")
APPLICATION_NAME = "agentidp_analytics"

#: The round-trip bound of the plugin request being served in this context (None outside one).
request_bound: ContextVar[float | None] = ContextVar("agentidp_analytics_request_bound", default=None)


class PluginEngines:
    """Owns the plugin's engines for one app; built lazily, once per process."""

    def __init__(self, app: Flask, host_engine: sa.Engine) -> None:
        cfg = app.config
        self.host = host_engine
        self.statement_timeout = float(cfg["ANALYTICS_DB_STATEMENT_TIMEOUT"])
        self.lock_timeout = float(cfg["ANALYTICS_DB_LOCK_TIMEOUT"])
        self.connect_timeout = float(cfg["ANALYTICS_DB_CONNECT_TIMEOUT"])
        self.pool_timeout = float(cfg["ANALYTICS_DB_POOL_TIMEOUT"])
        self.job_statement_timeout = float(cfg["ANALYTICS_JOB_STATEMENT_TIMEOUT"])
        self.job_lock_timeout = float(cfg["ANALYTICS_JOB_LOCK_TIMEOUT"])
        self._host_options = dict(cfg.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        self.bounded = host_engine.dialect.name == "postgresql" and host_engine.dialect.driver in BOUNDED_DRIVERS
        self.replica_url = read_replica_url(cfg)
        if self.replica_url is not None and not (
            self.bounded
            and self.replica_url.get_backend_name() == "postgresql"
            and self.replica_url.get_driver_name() in BOUNDED_DRIVERS
        ):
            raise ValueError(
                "A read replica (ANALYTICS_READ_DATABASE_URL or ANALYTICS_READ_BIND) needs PostgreSQL with psycopg "
                f"or psycopg2 for the host and the replica; the host is {host_engine.url.drivername}, the replica "
                f"{self.replica_url.drivername}."
            )
        if host_engine.dialect.name != "sqlite" and not self.bounded:
            log.warning(
                "The analytics plugin bounds database waits only with psycopg or psycopg2; %s+%s queries "
                "run on the host's engine without its timeouts.",
                host_engine.dialect.name,
                host_engine.dialect.driver,
            )
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._reads: sa.Engine | None = None
        self._writes: sa.Engine | None = None
        self._replica: sa.Engine | None = None
        if self.bounded:
            self._bound_host_engine()
            # The host disposing of its engine (tests, a fork) ends the plugin's pools too.
            event.listen(host_engine, "engine_disposed", lambda _engine: self.dispose())

    @property
    def read_bound(self) -> float:
        """Seconds any one round trip of a request may wait before its connection is cut."""
        return self.statement_timeout + DEADLINE_GRACE

    @property
    def reads(self) -> sa.Engine:
        """The engine for the API's and the tab's queries."""
        if not self.bounded:
            return self.host
        if self._reads is None or self._pid != os.getpid():
            self._build()
        return self._reads  # type: ignore[return-value]

    @property
    def replica(self) -> sa.Engine | None:
        """The engine on the read replica, with the reads' bounds; None without one."""
        if self.replica_url is None:
            return None
        if self._replica is None or self._pid != os.getpid():
            self._build()
        return self._replica

    @property
    def writes(self) -> sa.Engine:
        """The engine for the aggregation job and the CLI."""
        if not self.bounded:
            return self.host
        if self._writes is None or self._pid != os.getpid():
            self._build()
        return self._writes  # type: ignore[return-value]

    def dispose(self) -> None:
        with self._lock:
            for engine in (self._reads, self._writes, self._replica):
                if engine is not None:
                    engine.dispose()
            self._reads = self._writes = self._replica = None

    # -- building -------------------------------------------------------------

    def _build(self) -> None:
        with self._lock:
            if self._pid != os.getpid():
                # Inherited from a parent process: its sockets belong to the parent.
                for engine in (self._reads, self._writes, self._replica):
                    if engine is not None:
                        engine.dispose(close=False)
                self._reads = self._writes = self._replica = None
                self._pid = os.getpid()
            if self._reads is None:
                self._reads = self._create(
                    self.statement_timeout, self.lock_timeout, pool_timeout=self.pool_timeout
                )
                deadlines.bound_engine(self._reads, lambda: self.read_bound, check_liveness=True)
            if self._replica is None and self.replica_url is not None:
                self._replica = self._create(
                    self.statement_timeout, self.lock_timeout, pool_timeout=self.pool_timeout, url=self.replica_url
                )
                deadlines.bound_engine(self._replica, lambda: self.read_bound, check_liveness=True)
            if self._writes is None:
                self._writes = self._create(self.job_statement_timeout, self.job_lock_timeout, pool_timeout=None)
                job_bound = self.job_statement_timeout + DEADLINE_GRACE
                deadlines.bound_engine(self._writes, lambda: job_bound)

    def _create(
        self, statement_timeout: float, lock_timeout: float, *, pool_timeout: float | None, url: sa.URL | None = None
    ) -> sa.Engine:
        options = {k: v for k, v in self._host_options.items() if k not in ("pool_pre_ping", "creator")}
        connect_args = dict(options.pop("connect_args", {}))
        url = url or self.host.url
        server_options = " ".join(
            filter(
                None,
                [
                    connect_args.get("options") or url.query.get("options"),
                    f"-c statement_timeout={_ms(statement_timeout)}",
                    f"-c lock_timeout={_ms(lock_timeout)}",
                ],
            )
        )
        connect_args.update(
            options=server_options,
            connect_timeout=_libpq_seconds(self.connect_timeout),
            application_name=APPLICATION_NAME,
        )
        if pool_timeout is None:
            for key in ("pool_size", "max_overflow", "pool_timeout", "pool_recycle", "pool_use_lifo"):
                options.pop(key, None)
            options["poolclass"] = NullPool
        else:
            options["pool_timeout"] = pool_timeout
        return sa.create_engine(url, connect_args=connect_args, **options)

    def _bound_host_engine(self) -> None:
        """Bound the host engine's round trips and connects while a plugin request runs."""
        deadlines.bound_engine(self.host, request_bound.get)
        connect_timeout = _libpq_seconds(self.connect_timeout)

        @event.listens_for(self.host, "do_connect")
        def _connect_timeout(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
            if request_bound.get() is not None:
                cparams.setdefault("connect_timeout", connect_timeout)


def read_replica_url(cfg: Any) -> sa.URL | None:
    """The replica's URL: ``ANALYTICS_READ_DATABASE_URL``, or the URL of the bind ``ANALYTICS_READ_BIND`` names."""
    url = cfg.get("ANALYTICS_READ_DATABASE_URL")
    bind = cfg.get("ANALYTICS_READ_BIND")
    if url is None and bind is not None:
        binds = cfg.get("SQLALCHEMY_BINDS") or {}
        if bind not in binds:
            raise ValueError(
                f"ANALYTICS_READ_BIND names the bind {bind!r}, which SQLALCHEMY_BINDS does not have "
                f"(it has {sorted(binds) or 'none'})."
            )
        url = binds[bind]["url"] if isinstance(binds[bind], dict) else binds[bind]
    if url is None:
        return None
    return url if isinstance(url, sa.URL) else sa.make_url(url)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _libpq_seconds(seconds: float) -> int:
    """libpq takes whole seconds and treats anything under 2 as 2."""
    return max(2, math.ceil(seconds))
