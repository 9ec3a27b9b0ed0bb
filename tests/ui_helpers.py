"""Shared set-up of the tab tests (no tests here): an own PostgreSQL database, log-in, roll-up."""

from __future__ import annotations

import uuid
from datetime import date

from flask import Flask
from flask.testing import FlaskClient

from agentidp_analytics_plugin.call_flush import BucketKey, apply_batch
from agentidp_analytics_plugin.state import get_state
from testenv import PG_DATABASE, fresh_database

#: The tab tests' own database, so they never race other suites on the shared one.
UI_PG_DATABASE = f"{PG_DATABASE}_ui"


def create_ui_pg_database() -> str:
    return fresh_database(UI_PG_DATABASE)


def log_in(client: FlaskClient, tenant_id: uuid.UUID) -> FlaskClient:
    with client.session_transaction() as session:
        session["tenant_id"] = str(tenant_id)
    return client


def roll_up(app: Flask, days: list[date], today: date) -> None:
    with app.app_context():
        report = get_state(app).aggregate(days=sorted(set(days)), today=today)
        assert not getattr(report, "failed", None), report


def count_calls(app: Flask, buckets: dict[BucketKey, list[float]]) -> None:
    """Add per-endpoint call counts the way the request hook's flush does."""
    state = get_state(app)
    assert apply_batch(state.engine, state.tables, f"test:{uuid.uuid4().hex}", buckets).applied == 1
