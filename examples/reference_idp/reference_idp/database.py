"""Database set-up that depends on the engine: SQLite's foreign-key enforcement.

SQLite ignores ``ON DELETE CASCADE`` / ``SET NULL`` unless every connection
turns ``foreign_keys`` on, so the listener is attached to the app's own engine
before its first connection.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy as sa
from flask import Flask

from .extensions import db


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def init_database(app: Flask) -> None:
    """Bind Flask-SQLAlchemy to the app and harden SQLite connections."""
    db.init_app(app)
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite" and not sa.event.contains(
            engine, "connect", _enable_sqlite_foreign_keys
        ):
            sa.event.listen(engine, "connect", _enable_sqlite_foreign_keys)
