"""Dates as integer day numbers (days since 1970-01-01), the same in PostgreSQL and SQLite.

The insights' rules compare days by subtraction (the 28 days before a day,
the days since the last activity); as integers that arithmetic is identical
in both databases, where date arithmetic is not.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

EPOCH = date(1970, 1, 1)


def day_number(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[int]:
    """Days since 1970-01-01 of a DATE expression, as an integer, in the database's own arithmetic."""
    if dialect == "sqlite":
        return sa.cast(sa.func.julianday(column) - 2440587.5, sa.Integer)
    return sa.cast(column - sa.cast(sa.literal(EPOCH.isoformat()), sa.Date), sa.Integer)


def to_date(number: int | None) -> str | None:
    """The ISO date of a day number (None stays None)."""
    return None if number is None else (EPOCH + timedelta(days=int(number))).isoformat()


def num(day: date) -> int:
    """The day number of ``day``."""
    return (day - EPOCH).days


def days_before(day: date, days: int) -> date:
    """``day - days``, or the calendar's first day when that is before it."""
    try:
        return day - timedelta(days=days)
    except OverflowError:
        return date.min
