"""The analytics resolvers: request -> (tenant_id, tier) or None."""

from __future__ import annotations

import pytest
from flask import request
from idp_helpers import make_tenant

from reference_idp.analytics_host import resolve_api_tenant, resolve_session_tenant
from reference_idp.auth import SESSION_USER_KEY
from reference_idp.extensions import db
from reference_idp.models import TenantApiToken, User
from reference_idp.tokens import create_tenant_api_token

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _api(app, authorization: str | None):
    headers = {"Authorization": authorization} if authorization else {}
    with app.test_request_context(headers=headers):
        return resolve_api_tenant(request)


def test_tenant_api_token_resolves_to_tenant_and_tier(app):
    with app.app_context():
        tenant = make_tenant(tier="enterprise")
        token = create_tenant_api_token(tenant, "ci")
        db.session.commit()
        expected = (tenant.id, "enterprise")
    assert _api(app, f"Bearer {token}") == expected


def test_resolving_a_token_records_its_last_use(app):
    with app.app_context():
        token = create_tenant_api_token(make_tenant(), "ci")
        db.session.commit()
    _api(app, f"Bearer {token}")
    with app.app_context():
        assert db.session.scalars(db.select(TenantApiToken.last_used_at)).one() is not None


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer idp_unknown", "Bearer some-agent-access-token", "Basic aWRwXzE6eA=="],
    ids=["missing", "unknown", "not-a-tenant-token", "wrong-scheme"],
)
def test_anything_else_resolves_to_none(app, authorization):
    with app.app_context():
        make_tenant()
    assert _api(app, authorization) is None


def test_session_user_resolves_to_their_tenant(app):
    with app.app_context():
        tenant = make_tenant(tier="pro", with_user=True)
        user_id = db.session.scalars(db.select(User.id)).one()
        expected = (tenant.id, "pro")
    with app.test_request_context():
        from flask import session

        session[SESSION_USER_KEY] = str(user_id)
        assert resolve_session_tenant(request) == expected


def test_anonymous_session_resolves_to_none(app):
    with app.test_request_context():
        assert resolve_session_tenant(request) is None
