"""Moving counted API calls into ``analytics_call_patterns``: exactly once, whoever flushes.

Counts reach the table in *batches*, each with a key that is never reused
(a Redis hash claimed by one flush, or one process's buffer). Adding a batch
is one transaction: first its key goes into ``analytics_call_pattern_batches``
(``ON CONFLICT DO NOTHING``), then, only if that row is new, every count is
added with ``INSERT ... ON CONFLICT DO UPDATE SET calls = calls + excluded.calls``.
A batch offered twice (a flusher that died after its commit but before
deleting the Redis hash, two flushers that picked up the same hash) finds its
key recorded and adds nothing; on PostgreSQL the second one waits on the
first's uncommitted key, so the two cannot both add. A transaction that fails
adds nothing and records nothing: the batch stays where it was and the next
flush retries it.

Redis layout (see :mod:`.call_counts`): each UTC day's counts live in one hash,
``{analytics-callpatterns}:live:{day}``. A flush claims it with ``RENAME`` to
``{analytics-callpatterns}:claimed:{day}:{random}`` (atomic: of two flushers,
one gets it, the other's ``RENAME`` fails), adds the claimed hash as a batch
keyed by its name, then deletes it. Any claimed hash still there (its flusher
died) is added by the next flush, idempotently.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from .schema import CALL_PATTERNS_UNIQUE, Tables

log = logging.getLogger(__name__)

#: In braces: a Redis Cluster hash tag, so every key of the counts lives in one slot (the push
#: script and RENAME touch several keys at once).
REDIS_PREFIX = "{analytics-callpatterns}"
LIVE_PREFIX = f"{REDIS_PREFIX}:live:"
CLAIMED_PREFIX = f"{REDIS_PREFIX}:claimed:"
#: Separates the dimensions inside a Redis hash field (never in a route: see capture.py).
SEP = "\x1f"
#: Ledger rows older than this are pruned; a claimed hash is retried long before.
LEDGER_KEEP_DAYS = 30
#: Rows per execution of the upsert (one round of executemany).
CHUNK = 1000

#: (tenant_id, agent_id or None, day, method, route, status class)
BucketKey = tuple[uuid.UUID, uuid.UUID | None, date, str, str, str]


@dataclass
class FlushReport:
    """What one flush did: batches added, batches found already added, calls added."""

    applied: int = 0
    duplicates: int = 0
    calls: int = 0
    rows: int = 0
    dropped_tenants: set[uuid.UUID] = field(default_factory=set)

    def __str__(self) -> str:
        return (
            f"{self.applied} batch(es) added ({self.calls} calls in {self.rows} rows), {self.duplicates} already added"
        )


def encode_field(tenant: str, agent: str, method: str, status: str, route: str) -> str:
    """One Redis hash field per bucket of a day (tenant and agent as 32 hex digits, agent '' for none)."""
    return SEP.join((tenant, agent, method, status, route))


def decode_hash(day: date, raw: dict[Any, Any]) -> dict[BucketKey, list[float]]:
    """A day's Redis hash (``c`` + field: calls, ``l`` + field: latency in microseconds) as buckets."""
    buckets: dict[BucketKey, list[float]] = {}
    for name, value in raw.items():
        name = name.decode() if isinstance(name, bytes) else name
        kind, _, rest = name.partition(SEP)
        parts = rest.split(SEP, 4)
        if kind not in ("c", "l") or len(parts) != 5:
            log.warning("Ignoring an unreadable call-pattern field %r.", name[:200])
            continue
        tenant, agent, method, status, route = parts
        try:
            key: BucketKey = (uuid.UUID(tenant), uuid.UUID(agent) if agent else None, day, method, route, status)
        except ValueError:
            log.warning("Ignoring a call-pattern field with a malformed id %r.", name[:200])
            continue
        counts = buckets.setdefault(key, [0, 0.0])
        if kind == "c":
            counts[0] += int(value)
        else:
            counts[1] += int(value) / 1000.0
    return buckets


def apply_batch(engine: Engine, tables: Tables, batch_key: str, buckets: dict[BucketKey, list[float]]) -> FlushReport:
    """Add one batch of counts to the table, once; a report of what happened (see the module doc)."""
    report = FlushReport()
    cp, batches = tables.call_patterns, tables.call_pattern_batches
    with engine.begin() as conn:
        insert = _insert(conn)
        recorded = conn.execute(
            insert(batches)
            .values(
                batch_key=batch_key,
                applied_at=datetime.now(UTC),
                rows=len(buckets),
                calls=int(sum(c[0] for c in buckets.values())),
            )
            .on_conflict_do_nothing(index_elements=[batches.c.batch_key])
            .execution_options(preserve_rowcount=True)
        ).rowcount
        if not recorded:
            report.duplicates = 1
            return report
        known = _known_tenants(conn, tables, {key[0] for key in buckets})
        report.dropped_tenants = {key[0] for key in buckets} - known
        # One order for every flusher, so concurrent upserts lock rows in the same order.
        rows = [
            {
                "tenant_id": tenant,
                "agent_id": agent,
                "date": day,
                "method": method,
                "route": route,
                "status_class": status,
                "calls": int(counts[0]),
                "latency_ms_sum": float(counts[1]),
            }
            for (tenant, agent, day, method, route, status), counts in sorted(buckets.items(), key=_order)
            if tenant in known and counts[0]
        ]
        # One statement, executed for many rows: compiled once and cached (a multi-row VALUES
        # statement is compiled afresh for every chunk, which cost more than the upsert).
        stmt = insert(cp)
        upsert = stmt.on_conflict_do_update(
            **_conflict_target(conn, cp),
            set_={
                "calls": cp.c.calls + stmt.excluded.calls,
                "latency_ms_sum": cp.c.latency_ms_sum + stmt.excluded.latency_ms_sum,
                "updated_at": sa.func.now(),
            },
        )
        for chunk in _chunks(rows, CHUNK):
            conn.execute(upsert, chunk)
        report.applied = 1
        report.rows = len(rows)
        report.calls = sum(r["calls"] for r in rows)
    if report.dropped_tenants:
        log.warning(
            "Dropped call counts of %d tenant(s) that no longer exist: %s.",
            len(report.dropped_tenants),
            ", ".join(sorted(map(str, report.dropped_tenants)))[:500],
        )
    return report


def flush_redis(client: Any, engine: Engine, tables: Tables) -> FlushReport:
    """Claim every live day hash, add every claimed hash (also ones a dead flusher left), delete them."""
    for live in list(client.scan_iter(match=f"{LIVE_PREFIX}*", count=500)):
        live = live.decode() if isinstance(live, bytes) else live
        day = live[len(LIVE_PREFIX) :]
        try:
            client.rename(live, f"{CLAIMED_PREFIX}{day}:{uuid.uuid4().hex}")
        except Exception as exc:
            if "no such key" not in str(exc).lower():
                raise
    total = FlushReport()
    for claimed in list(client.scan_iter(match=f"{CLAIMED_PREFIX}*", count=500)):
        claimed = claimed.decode() if isinstance(claimed, bytes) else claimed
        day_text = claimed[len(CLAIMED_PREFIX) :].split(":", 1)[0]
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            log.warning("Ignoring a call-pattern hash with an unreadable day: %r.", claimed[:200])
            continue
        report = apply_batch(engine, tables, claimed, decode_hash(day, client.hgetall(claimed)))
        client.delete(claimed)
        _add(total, report)
    prune_ledger(engine, tables)
    return total


def prune_ledger(engine: Engine, tables: Tables, keep_days: int = LEDGER_KEEP_DAYS) -> int:
    """Forget batch keys older than ``keep_days``: nothing that old is ever offered again."""
    batches = tables.call_pattern_batches
    with engine.begin() as conn:
        cutoff = datetime.now(UTC) - timedelta(days=keep_days)
        return conn.execute(sa.delete(batches).where(batches.c.applied_at < cutoff)).rowcount


def _add(total: FlushReport, report: FlushReport) -> None:
    total.applied += report.applied
    total.duplicates += report.duplicates
    total.calls += report.calls
    total.rows += report.rows
    total.dropped_tenants |= report.dropped_tenants


def _order(item: tuple[BucketKey, list[float]]) -> tuple[str, ...]:
    tenant, agent, day, method, route, status = item[0]
    return (tenant.hex, agent.hex if agent else "", day.isoformat(), method, route, status)


def _known_tenants(conn: Connection, tables: Tables, tenant_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    if not tenant_ids:
        return set()
    tenants = tables.tenants
    found = conn.execute(sa.select(tenants.c.id).where(tenants.c.id.in_(list(tenant_ids)))).scalars()
    return {t if isinstance(t, uuid.UUID) else uuid.UUID(str(t)) for t in found}


def _insert(conn: Connection):
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _conflict_target(conn: Connection, table: sa.Table) -> dict[str, Any]:
    if conn.dialect.name == "postgresql":
        return {"constraint": CALL_PATTERNS_UNIQUE}
    # Must match the unique expression index the migration creates on SQLite.
    return {
        "index_elements": [
            table.c.tenant_id,
            sa.text("coalesce(agent_id, '')"),
            table.c.date,
            table.c.method,
            table.c.route,
            table.c.status_class,
        ]
    }


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def buckets_of(items: Iterable[tuple[BucketKey, tuple[int, float]]]) -> dict[BucketKey, list[float]]:
    """Buckets from (key, (calls, latency_ms)) pairs, summed per key (for tests and the in-process buffer)."""
    out: dict[BucketKey, list[float]] = {}
    for key, (calls, latency) in items:
        counts = out.setdefault(key, [0, 0.0])
        counts[0] += calls
        counts[1] += latency
    return out
