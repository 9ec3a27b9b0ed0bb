"""Database set-up that depends on the engine: SQLite's foreign keys, surviving dropped connections.

SQLite ignores ``ON DELETE CASCADE`` / ``SET NULL`` unless every connection
turns ``foreign_keys`` on, so the listener is attached to the app's own engine
before its first connection.

PostgreSQL can drop a connection at any time (restart, failover,
``pg_terminate_backend``). Two things keep that from costing requests:

* a pooled connection whose server hung up is replaced as it leaves the
  pool, by checking whether its idle socket is readable (no round trip, unlike
  ``pool_pre_ping``, whose ping would wait for ever on a server that is
  frozen rather than gone: a plugin may bound the host engine's round trips
  during its requests, but nothing can bound a ping);
* the session is closed at the end of each request before Flask-SQLAlchemy's
  own teardown, and a rollback that fails because the connection died after
  the view answered is logged, not raised: the answer stands instead of
  becoming the WSGI server's HTML 500.

``connect_timeout`` keeps a connection attempt to an unreachable server from
waiting psycopg's default 130 seconds.
"""

from __future__ import annotations

import select
import sqlite3
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError

from .extensions import db

#: Seconds to wait for a new PostgreSQL connection.
CONNECT_TIMEOUT = 5
_FRESH = "reference_idp_fresh"


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def _mark_fresh(_dbapi_connection: Any, record: Any) -> None:
    record.info[_FRESH] = True


def _replace_if_server_hung_up(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """An idle connection with something to read has been closed (or is closing) by the server.

    Connections made for this checkout are not checked: the pool retries a replaced connection
    only twice, then fails with "This connection is closed" instead of a database error.
    """
    if record.info.pop(_FRESH, False):
        return
    try:
        fd = dbapi_connection.fileno()
    except Exception as exc:  # a closed driver connection has no socket
        raise DisconnectionError("the pooled connection is closed") from exc
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        raise DisconnectionError("the server closed this pooled connection")


def engine_options(url: str) -> dict[str, Any]:
    """Engine options for ``SQLALCHEMY_ENGINE_OPTIONS``, by database."""
    if sa.make_url(url).get_backend_name() == "postgresql":
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}}
    return {}


def _end_session(_exc: BaseException | None) -> None:
    try:
        db.session.remove()
    except SQLAlchemyError:
        current_app.logger.warning("Closing the session failed; its connection is discarded.")
        db.session.remove()  # the failed rollback invalidated the connection: nothing is left to do


def init_database(app: Flask) -> None:
    """Bind Flask-SQLAlchemy to the app and harden its connections."""
    db.init_app(app)
    # Registered after Flask-SQLAlchemy's teardown, so it runs before it.
    app.teardown_appcontext(_end_session)
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite" and not sa.event.contains(
            engine, "connect", _enable_sqlite_foreign_keys
        ):
            sa.event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        if engine.dialect.name == "postgresql" and not sa.event.contains(
            engine, "checkout", _replace_if_server_hung_up
        ):
            sa.event.listen(engine, "connect", _mark_fresh)
            sa.event.listen(engine, "checkout", _replace_if_server_hung_up)
