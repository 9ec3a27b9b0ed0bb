"""The roll-up's own state row: where the usage begins, and which generation the aggregates are at.

``first_event_day`` is the earliest day of the host's ``usage_events``. The
scheduled run catches up from it, and "complete through D" means every day
from it through D is in the ledger: the first day of the *ledger* proves
nothing, since a one-day ``flask analytics aggregate --date`` can put a recent
day there first. Each run probes ``MIN(date) WHERE date < first_event_day``
(an index probe when the host has an index leading with ``date``; see
:func:`missing_date_index`), so events that turn up for days before it, however
late, are found by the next run; the read path only reads the stored day.

``generation`` goes up in the transaction of every day whose aggregates or
ledger entry changed. Response cache keys include it (see :mod:`.caching`), so
an answer computed before a re-aggregation is never served after it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Inspector

from .queries.common import as_date
from .schema import Tables

ROW_ID = 1


@dataclass(frozen=True)
class JobState:
    first_event_day: date | None
    generation: int


def read(conn: Connection, tables: Tables) -> JobState:
    """The stored state; a database without the row reads as "no usage seen, generation 0"."""
    state = tables.job_state
    row = conn.execute(sa.select(state.c.first_event_day, state.c.generation).where(state.c.id == ROW_ID)).first()
    if row is None:
        return JobState(None, 0)
    return JobState(as_date(row[0]) if row[0] is not None else None, int(row[1]))


def probe_first_event_day(conn: Connection, tables: Tables, known: date | None) -> date | None:
    """The earliest day with usage events: ``known``, or an earlier day the host has events for."""
    events = tables.usage_events
    query = sa.select(sa.func.min(events.c.date))
    if known is not None:
        query = query.where(events.c.date < known)
    found = conn.execute(query).scalar()
    return as_date(found) if found is not None else known


def record(conn: Connection, tables: Tables, *, first_event_day: date | None, bump: bool) -> None:
    """Lower the stored first day to ``first_event_day`` (never raise it) and, if ``bump``, the generation.

    Inside the caller's transaction, so the state moves with the aggregates.
    """
    state = tables.job_state
    values: dict[str, sa.ColumnElement | date] = {"updated_at": sa.func.now()}
    if first_event_day is not None:
        values["first_event_day"] = sa.case(
            (sa.or_(state.c.first_event_day.is_(None), state.c.first_event_day > first_event_day), first_event_day),
            else_=state.c.first_event_day,
        )
    if bump:
        values["generation"] = state.c.generation + 1
    conn.execute(sa.update(state).where(state.c.id == ROW_ID).values(values))


def missing_date_index(inspector: Inspector, table: str) -> str | None:
    """The ``CREATE INDEX`` a host should run when no index of ``table`` leads with ``date``; else None.

    Without one, finding the first day and every day's roll-up read the whole
    table. Reflection reads ``pg_index`` on PostgreSQL and ``PRAGMA
    index_list`` on SQLite.
    """
    with warnings.catch_warnings():  # SQLite: expression indexes are skipped, with a warning; none leads with date
        warnings.simplefilter("ignore", category=sa.exc.SAWarning)
        indexes = inspector.get_indexes(table)
    leading = [index.get("column_names") or [] for index in indexes]
    leading += [constraint.get("column_names") or [] for constraint in inspector.get_unique_constraints(table)]
    leading.append(inspector.get_pk_constraint(table).get("constrained_columns") or [])
    if any(columns and columns[0] == "date" for columns in leading):
        return None
    concurrently = "CONCURRENTLY " if inspector.dialect.name == "postgresql" else ""
    return f'CREATE INDEX {concurrently}ix_{table}_date ON {table} ("date");'
