"""Helpers shared by the tests: build tenants and agents, read usage, sign in.

A plain module (not conftest) so tests import it by name; the unusual name
keeps it apart from other suites' helpers on ``sys.path``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from reference_idp.credentials import IssuedSecret, create_agent
from reference_idp.extensions import db
from reference_idp.models import Tenant, UsageEvent, User

PASSWORD = "correct horse battery staple"

# A cheap hash: these tests check behaviour, not password strength.
FAST_HASH = "pbkdf2:sha256:1000"


def make_tenant(slug: str = "acme", tier: str = "pro", *, with_user: bool = False) -> Tenant:
    """Create and commit a tenant (and its dashboard user ``admin@<slug>.test``)."""
    tenant = Tenant(slug=slug, name=slug.title(), tier=tier)
    db.session.add(tenant)
    if with_user:
        db.session.add(
            User(
                tenant=tenant,
                email=f"admin@{slug}.test",
                password_hash=generate_password_hash(PASSWORD, method=FAST_HASH),
            )
        )
    db.session.commit()
    return tenant


def make_agent(tenant: Tenant, name: str = "worker") -> IssuedSecret:
    issued = create_agent(tenant, name)
    db.session.commit()
    return issued


def usage_counts(tenant_id: uuid.UUID) -> dict[tuple[uuid.UUID | None, dt.date, str], int]:
    """The tenant's usage_events as {(agent_id, date, metric): count}."""
    rows = db.session.execute(
        sa.select(
            UsageEvent.agent_id, UsageEvent.date, UsageEvent.metric_type, UsageEvent.count
        ).where(UsageEvent.tenant_id == tenant_id)
    ).all()
    return {(r.agent_id, r.date, r.metric_type): r.count for r in rows}


def metric_total(tenant_id: uuid.UUID, metric: str) -> int:
    return sum(c for (_, _, m), c in usage_counts(tenant_id).items() if m == metric)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})
