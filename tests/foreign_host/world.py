"""The usage Orbit writes in its own tables for the tests, and the numbers it must read back.

Three weeks ago, in ISO weeks starting on Monday ``M``:

========  ==================================================================
day       acme (growth) usage in ``bot_usage``
========  ==================================================================
M         invoice-reader: 100 calls, 10 tokens, 1 failure;
          ledger-sync: 50 calls, 5 tokens; org-wide: 7 calls, 3 tokens
M + 2     invoice-reader: 150 + 50 calls (two rows), 1 rotation;
          ledger-sync: 2 failures
M + 8     ledger-sync: 300 calls, 20 tokens, 2 rotations
========  ==================================================================

``idle-bot`` never does anything; umbrella (scale) has 999 calls on M, which
acme must never see; hooli is on the free ``starter`` tier. The period read
back is ``M - 1`` (a Sunday) to ``M + 9``: 11 days.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from .orbit_idp.auth import add_member, issue_api_key
from .orbit_idp.extensions import db
from .orbit_idp.models import Bot, BotUsage, Org

PASSWORD = "correct horse battery staple"


def _monday_three_weeks_ago() -> dt.date:
    today = dt.datetime.now(dt.UTC).date()
    return today - dt.timedelta(days=today.weekday() + 21)


@dataclass(frozen=True)
class World:
    monday: dt.date
    acme: uuid.UUID
    umbrella: uuid.UUID
    hooli: uuid.UUID
    invoice_reader: uuid.UUID
    ledger_sync: uuid.UUID
    idle_bot: uuid.UUID
    umbrella_bot: uuid.UUID
    acme_key: str
    umbrella_key: str
    hooli_key: str

    def day(self, offset: int) -> str:
        return (self.monday + dt.timedelta(days=offset)).isoformat()

    @property
    def period(self) -> dict[str, str]:
        return {"from": self.day(-1), "to": self.day(9)}


def _org(slug: str, tier: str) -> Org:
    org = Org(slug=slug, tier=tier)
    db.session.add(org)
    db.session.flush()
    return org


def _bot(org: Org, name: str) -> Bot:
    bot = Bot(tenant_id=org.id, name=name)
    db.session.add(bot)
    db.session.flush()
    return bot


def build_world() -> World:
    """Write the table above through Orbit's own models (inside an app context)."""
    monday = _monday_three_weeks_ago()
    acme, umbrella, hooli = _org("acme", "growth"), _org("umbrella", "scale"), _org("hooli", "starter")
    invoice_reader, ledger_sync = _bot(acme, "invoice-reader"), _bot(acme, "ledger-sync")
    idle_bot = _bot(acme, "idle-bot")
    umbrella_bot = _bot(umbrella, "umbrella-bot")

    def usage(org: Org, bot: Bot | None, offset: int, metric: str, count: int) -> None:
        db.session.add(
            BotUsage(
                tenant_id=org.id,
                agent_id=bot.id if bot else None,
                date=monday + dt.timedelta(days=offset),
                metric_type=metric,
                count=count,
            )
        )

    usage(acme, invoice_reader, 0, "api_calls", 100)
    usage(acme, invoice_reader, 0, "token_issuances", 10)
    usage(acme, invoice_reader, 0, "token_failures", 1)
    usage(acme, ledger_sync, 0, "api_calls", 50)
    usage(acme, ledger_sync, 0, "token_issuances", 5)
    usage(acme, None, 0, "api_calls", 7)
    usage(acme, None, 0, "token_issuances", 3)
    usage(acme, invoice_reader, 2, "api_calls", 150)
    usage(acme, invoice_reader, 2, "api_calls", 50)
    usage(acme, invoice_reader, 2, "credential_rotations", 1)
    usage(acme, ledger_sync, 2, "token_failures", 2)
    usage(acme, ledger_sync, 8, "api_calls", 300)
    usage(acme, ledger_sync, 8, "token_issuances", 20)
    usage(acme, ledger_sync, 8, "credential_rotations", 2)
    usage(umbrella, umbrella_bot, 0, "api_calls", 999)
    usage(umbrella, umbrella_bot, 0, "token_issuances", 99)
    db.session.commit()

    for org in (acme, umbrella, hooli):
        add_member(org, f"owner@{org.slug}.example", PASSWORD)
    return World(
        monday=monday,
        acme=acme.id,
        umbrella=umbrella.id,
        hooli=hooli.id,
        invoice_reader=invoice_reader.id,
        ledger_sync=ledger_sync.id,
        idle_bot=idle_bot.id,
        umbrella_bot=umbrella_bot.id,
        acme_key=issue_api_key(acme),
        umbrella_key=issue_api_key(umbrella),
        hooli_key=issue_api_key(hooli),
    )
