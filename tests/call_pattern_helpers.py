"""A host with a few API routes and a caller resolver, for the call-pattern tests.

The host's API answers under ``/api``; who called is read from two headers
(the test host's stand-in for the authentication a real host does before
its views run). The plugin counts through ``ANALYTICS_CALL_PATTERNS_RESOLVER``.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from flask import Flask, Request, abort

#: Settings that turn the hook on; the shipper thread never ticks by itself during a test.
CAPTURE_CONFIG: dict[str, Any] = {
    "ANALYTICS_CALL_PATTERNS_ENABLED": True,
    "ANALYTICS_CALL_PATTERNS_RESOLVER": "call_pattern_helpers:resolve_caller",
    "ANALYTICS_CALL_PATTERNS_PUSH_SECONDS": 3600,
    "ANALYTICS_CALL_PATTERNS_FLUSH_SECONDS": 3600,
}

CREDENTIALS_ROUTE = "/api/agents/<uuid:agent_id>/credentials"


def resolve_caller(request: Request) -> tuple[str, str | None] | None:
    tenant = request.headers.get("X-Tenant")
    if not tenant:
        return None
    return tenant, request.headers.get("X-Agent") or None


def add_api_routes(app: Flask) -> None:
    @app.route(CREDENTIALS_ROUTE, methods=["GET", "POST"])
    def credentials(agent_id: uuid.UUID) -> tuple[str, int]:
        return "ok", 200

    @app.route("/api/fail/<int:code>", methods=["GET", "BREW"])
    def fail(code: int) -> str:
        abort(code)

    @app.route("/api/crash")
    def crash() -> str:
        raise RuntimeError("a bug in the host's view")

    @app.route("/api/" + "x" * 300)
    def very_long() -> str:
        return "long"


def caller(tenant: uuid.UUID, agent: uuid.UUID | None = None) -> dict[str, str]:
    headers = {"X-Tenant": str(tenant)}
    if agent is not None:
        headers["X-Agent"] = str(agent)
    return headers


def stored(app: Flask) -> dict[tuple[Any, ...], tuple[int, float]]:
    """Every row of analytics_call_patterns as (agent, method, route, status) -> (calls, latency)."""
    with app.app_context():
        engine = app.extensions["sqlalchemy"].engine
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT agent_id, method, route, status_class, calls, latency_ms_sum FROM analytics_call_patterns")
        ).all()
    return {(None if a is None else uuid.UUID(str(a)), m, r, s): (int(c), float(lat)) for a, m, r, s, c, lat in rows}


def total_calls(app: Flask) -> int:
    return sum(calls for calls, _ in stored(app).values())
